//! The 2010 MOPS round of Samhällskontraktet, the reference case: a call
//! opened on 19 February 2010, 26 ideas, 10 selected for a seminar series,
//! the pitch panel in June, 9 project plans by 31 August (one idea lapsed at
//! the deadline), and 4 grants summing to 1 300 000 kr.
//!
//! The annual report gives the counts, the dates and the titles of the four
//! funded projects. It does not name the other 22 ideas, the people, or how
//! the 1.3 MSEK was split: those are made up here, plausibly, and the people
//! have addresses under the reserved `.example` domain so no mail can reach
//! anyone real.
//!
//! [`round_2010`] returns the whole round as data: organisations, people,
//! roles, the call definition, and the steps in order. The core's scenario
//! test replays it in memory; the service's demo replays it through storage.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use crate::call::{CallCommand, CallDefinition, Criterion, Seminar, SeminarId, TemplateSection, Timeline};
use crate::domain::{
    CallId, CriterionKey, Email, FreeText, IdeaId, Language, LocalizedText, MeetingId, Motivation, OrganisationId,
    PersonId, PersonName, RegistryNumber, Score, ScoreScale, SectionKey, SectorGroupId, Sek, Theme, Title,
};
use crate::idea::{Applicant, IdeaCommand, IdeaDetails, NewIdea, Recommendation};
use crate::people::{Actor, Organisation, Person, Role, SectorGroup};
use crate::stage::CallPhase;
use crate::time::from_stockholm;

/// A board meeting at which decisions are taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardMeeting {
    pub id: MeetingId,
    pub title: Title,
    pub at: DateTime<Utc>,
}

/// One step of the round, in time order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Call {
        at: DateTime<Utc>,
        actor: PersonId,
        command: CallCommand,
    },
    Idea {
        at: DateTime<Utc>,
        actor: PersonId,
        idea: IdeaId,
        command: IdeaCommand,
    },
    /// Run whatever timers are due at this instant, as the system.
    Timers {
        at: DateTime<Utc>,
    },
}

impl Step {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Step::Call { at, .. } | Step::Idea { at, .. } | Step::Timers { at } => *at,
        }
    }
}

/// How an idea of the round ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    NotSelected,
    Lapses,
    Declined,
    Granted(i64),
}

#[derive(Debug, Clone)]
pub struct ReferenceIdea {
    pub id: IdeaId,
    pub title: &'static str,
    pub fate: Fate,
}

/// The whole 2010 round as data.
#[derive(Debug, Clone)]
pub struct Round2010 {
    pub organisations: Vec<Organisation>,
    pub sector_group: SectorGroup,
    pub people: Vec<Person>,
    pub roles: BTreeMap<PersonId, Vec<Role>>,
    pub call_id: CallId,
    pub definition: CallDefinition,
    pub meeting: BoardMeeting,
    pub ideas: Vec<ReferenceIdea>,
    pub steps: Vec<Step>,
    pub process_leader: PersonId,
}

impl Round2010 {
    /// The actor for a person, with the roles they hold in the round.
    pub fn actor(&self, person: PersonId) -> Actor {
        Actor::person(person, self.roles.get(&person).cloned().unwrap_or_default())
    }

    pub fn person(&self, id: PersonId) -> Option<&Person> {
        self.people.iter().find(|p| p.id == id)
    }

    /// The four granted projects and their amounts, as the demo reports them.
    pub fn grants(&self) -> Vec<(&'static str, Sek)> {
        self.ideas
            .iter()
            .filter_map(|i| match i.fate {
                Fate::Granted(kr) => Some((i.title, kronor(kr))),
                _ => None,
            })
            .collect()
    }
}

/// The four projects the annual report names as funded; the split of the
/// 1.3 MSEK is ours.
pub const FUNDED: [(&str, i64); 4] = [
    ("Hundar som främjar aktivitet och integritet i demensvården", 350_000),
    ("Grön omsorg", 300_000),
    ("Att Leva och Arbeta med IKT", 350_000),
    ("Mötesplatser för lärande och utveckling", 300_000),
];

const DECLINED: [&str; 5] = [
    "Trygg hemgång efter sjukhusvistelse",
    "Digitala mötesplatser för anhörigvårdare",
    "Brukarinflytande i LSS-boenden",
    "Kulturell mångfald i äldreomsorgen",
    "Tidiga insatser för barn i familjer med missbruk",
];

const LAPSED: &str = "Rehabilitering i hemmet med stöd av video";

const NOT_SELECTED: [(&str, &str); 16] = [
    (
        "Matglädje på äldreboendet",
        "Idén är angelägen men ligger nära ett pågående projekt i Västerås stad; vi rekommenderar samverkan med det.",
    ),
    (
        "Fallprevention genom balansträning",
        "Idén bygger på en redan utvärderad metod och behöver inte utvecklas i MOPS; den passar bättre som verksamhetsutveckling.",
    ),
    (
        "Ensamhet bland äldre på landsbygden",
        "Idén behöver en tydligare koppling till högskolans forskning för att passa utlysningen.",
    ),
    (
        "Språkstöd för personal med annat modersmål",
        "Idén har hög relevans men saknar i dag en part från högskolan; vi uppmuntrar en ny ansökan i nästa utlysning.",
    ),
    (
        "Sömn och välbefinnande i demensvården",
        "Idén är intressant men frågeställningen behöver avgränsas innan den kan utvecklas till ett projekt.",
    ),
    (
        "Samordnad individuell plan i praktiken",
        "Frågan hanteras redan i ett regionalt utvecklingsarbete som kommunerna deltar i.",
    ),
    (
        "Ungdomar som mentorer för äldre",
        "Idén ligger utanför utlysningens fokus på samverkan mellan högskola och kommun.",
    ),
    (
        "Musik som bemötande",
        "Idén är välbeskriven men har lägre prioritet än de utvalda idéerna i förhållande till utlysningens teman.",
    ),
    (
        "Hjälpmedel i vardagen – en kartläggning",
        "En kartläggning av detta slag görs bäst inom ordinarie verksamhet och behöver inte projektmedel.",
    ),
    (
        "Kvalitetsregister som arbetsredskap",
        "Idén är angelägen men förutsätter tillgång till registerdata som inte kan säkras under 2010.",
    ),
    ("Socialt arbete i skolan", "Idén passar bättre i sektorsgruppen Utbildning, dit vi har förmedlat den."),
    (
        "Ledarskap i hemtjänsten",
        "Idén har hög relevans men liknar en idé som valts ut; vi föreslår att idégivarna samarbetar.",
    ),
    ("Friskvård för personal i omsorgen", "Idén rör personalfrågor som ligger utanför utlysningens teman."),
    (
        "Boendestöd för unga vuxna med neuropsykiatriska funktionsnedsättningar",
        "Idén behöver förankras i båda kommunerna innan den kan utvecklas vidare.",
    ),
    ("Etiska samtal i vardagen", "Idén är värdefull men har lägre prioritet än de utvalda idéerna i årets urval."),
    (
        "Anhörigas delaktighet vid flytt till särskilt boende",
        "Idén behöver en tydligare plan för hur resultaten ska komma verksamheterna till del.",
    ),
];

const THEMES: [&str; 3] = ["äldreomsorg", "socialt arbete", "funktionshinder"];

/// A deterministic id: the round's namespace, the kind of thing, its number.
fn make_id(namespace: u32, kind: u32, n: u32) -> Uuid {
    Uuid::from_u128((0x2010_u128 << 112) | (u128::from(namespace) << 64) | (u128::from(kind) << 32) | u128::from(n))
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    let local = NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(h, min, 0)).expect("a valid date");
    from_stockholm(local).expect("a Stockholm time")
}

fn kronor(kr: i64) -> Sek {
    Sek::from_kronor(kr).expect("a positive amount")
}

fn title(s: &str) -> Title {
    Title::parse(s).expect("a valid title")
}

fn text(s: &str) -> FreeText {
    FreeText::parse(s).expect("a valid text")
}

fn motivation(s: &str) -> Motivation {
    Motivation::parse(s).expect("a valid motivation")
}

fn sv(s: &str) -> LocalizedText {
    LocalizedText::sv(s).expect("a valid text")
}

fn sv_en(s: &str, e: &str) -> LocalizedText {
    LocalizedText::sv_en(s, e).expect("a valid text")
}

fn section(key: &str) -> SectionKey {
    SectionKey::parse(key).expect("a valid key")
}

fn criterion(key: &str) -> CriterionKey {
    CriterionKey::parse(key).expect("a valid key")
}

const SECTIONS: [(&str, &str, &str, bool); 6] = [
    ("bakgrund", "Bakgrund", "Background", true),
    ("syfte", "Syfte och mål", "Aim and objectives", true),
    ("genomforande", "Genomförande och tidplan", "Method and timetable", true),
    ("samverkan", "Samverkan mellan parterna", "Collaboration between the parties", true),
    ("budget", "Budget", "Budget", true),
    ("spridning", "Förväntade resultat och spridning", "Expected results and dissemination", false),
];

const CRITERIA: [(&str, &str, &str); 3] = [
    ("relevans", "Relevans för verksamheterna", "Relevance to practice"),
    ("genomforbarhet", "Genomförbarhet", "Feasibility"),
    ("samverkan", "Samverkan mellan parterna", "Collaboration between the parties"),
];

/// The 2010 round, deterministic: the same ids, people and steps every time.
pub fn round_2010() -> Round2010 {
    round_2010_in(0)
}

/// The 2010 round with every id in `namespace`, so several copies can live
/// in one database (tests, benchmarks). `round_2010_in(0)` is `round_2010()`.
pub fn round_2010_in(namespace: u32) -> Round2010 {
    let id = |kind: u32, n: u32| make_id(namespace, kind, n);
    let orgs = [
        ("Mälardalens högskola", "mdh.example"),
        ("Eskilstuna kommun", "eskilstuna.example"),
        ("Västerås stad", "vasteras.example"),
    ];
    let organisations: Vec<Organisation> = orgs
        .iter()
        .enumerate()
        .map(|(i, (name, _))| Organisation { id: OrganisationId::from_uuid(id(1, i as u32)), name: title(name) })
        .collect();
    let org = |i: usize| organisations[i % 3].id;
    let sector_group =
        SectorGroup { id: SectorGroupId::from_uuid(id(2, 0)), name: title("Äldreomsorg och socialt arbete") };
    let call_id = CallId::from_uuid(id(3, 0));

    let mut people = Vec::new();
    let mut roles: BTreeMap<PersonId, Vec<Role>> = BTreeMap::new();
    let mut person = |n: u32, first: &str, last: &str, o: usize, language: Language, rs: Vec<Role>| {
        let pid = PersonId::from_uuid(id(4, n));
        let domain = orgs[o % 3].1;
        let local: String = format!("{first}.{last}")
            .to_lowercase()
            .chars()
            .map(|c| match c {
                'å' | 'ä' => 'a',
                'ö' => 'o',
                'é' => 'e',
                c => c,
            })
            .collect();
        people.push(Person {
            id: pid,
            name: PersonName::parse(&format!("{first} {last}")).expect("a name"),
            email: Email::parse(&format!("{local}@{domain}")).expect("an address"),
            organisation: org(o),
            language,
        });
        roles.insert(pid, rs);
        pid
    };
    let sg = Role::SectorGroupMember { group: sector_group.id };
    let panel = Role::PanelMember { call: call_id };
    let process_leader = person(1, "Karin", "Lindqvist", 0, Language::Sv, vec![Role::ProcessLeader]);
    let sector: Vec<PersonId> = [
        ("Anders", "Berg", 0),
        ("Maria", "Holm", 0),
        ("Eva", "Sjöberg", 1),
        ("Lars", "Nyström", 1),
        ("Helena", "Ek", 2),
        ("Johan", "Sandberg", 2),
    ]
    .iter()
    .enumerate()
    .map(|(i, (f, l, o))| person(10 + i as u32, f, l, *o, Language::Sv, vec![sg]))
    .collect();
    let board: Vec<PersonId> = [
        ("Gunilla", "Åberg", 0),
        ("Per", "Wallin", 0),
        ("Birgitta", "Strand", 1),
        ("Mats", "Lund", 1),
        ("Ingrid", "Falk", 2),
        ("Stefan", "Dahl", 2),
    ]
    .iter()
    .enumerate()
    .map(|(i, (f, l, o))| person(20 + i as u32, f, l, *o, Language::Sv, vec![Role::BoardMember]))
    .collect();
    let panelists: Vec<PersonId> = [("Ulla", "Hedlund", 0), ("Bengt", "Forsberg", 1), ("Sara", "Lindgren", 2)]
        .iter()
        .enumerate()
        .map(|(i, (f, l, o))| person(30 + i as u32, f, l, *o, Language::Sv, vec![panel]))
        .collect();

    const FIRST: [&str; 13] = [
        "Anna", "Erik", "Kerstin", "Olof", "Lena", "Nils", "Åsa", "Fredrik", "Monica", "Tomas", "Camilla", "Jonas",
        "Marie",
    ];
    const LAST: [&str; 13] = [
        "Andersson",
        "Johansson",
        "Karlsson",
        "Nilsson",
        "Eriksson",
        "Larsson",
        "Olsson",
        "Persson",
        "Svensson",
        "Gustafsson",
        "Pettersson",
        "Jonsson",
        "Jansson",
    ];
    let mut leads = Vec::new();
    for i in 0..26u32 {
        let (f, l) = (FIRST[i as usize % 13], LAST[(i as usize * 5 + 3) % 13]);
        // One applicant, a visiting researcher, reads English.
        let language = if i == 2 { Language::En } else { Language::Sv };
        leads.push(person(100 + i, f, l, i as usize, language, vec![]));
    }
    // The sector group's chair also sits on the panel.
    roles.get_mut(&sector[0]).expect("a sector member").push(panel);
    let applicant = |p: PersonId| {
        let person = people.iter().find(|x| x.id == p).expect("a person");
        Applicant {
            person: p,
            name: person.name.clone(),
            email: person.email.clone(),
            organisation: person.organisation,
            language: person.language,
        }
    };

    // Ideas in the order they arrive: the four funded, the five declined,
    // the lapsed one, then the sixteen not selected.
    let mut ideas = Vec::new();
    for (t, kr) in FUNDED {
        ideas.push((t, Fate::Granted(kr), None));
    }
    for t in DECLINED {
        ideas.push((t, Fate::Declined, None));
    }
    ideas.push((LAPSED, Fate::Lapses, None));
    for (t, why) in NOT_SELECTED {
        ideas.push((t, Fate::NotSelected, Some(why)));
    }
    let ideas: Vec<(ReferenceIdea, Option<&str>)> = ideas
        .into_iter()
        .enumerate()
        .map(|(i, (t, fate, why))| (ReferenceIdea { id: IdeaId::from_uuid(id(5, i as u32)), title: t, fate }, why))
        .collect();

    let seminars = vec![
        Seminar {
            id: SeminarId(1),
            title: sv_en("Från idé till projekt", "From idea to project"),
            starts_at: at(2010, 4, 27, 13, 0),
            ends_at: at(2010, 4, 27, 16, 0),
            location: "Mälardalens högskola, Västerås".into(),
        },
        Seminar {
            id: SeminarId(2),
            title: sv_en("Syfte, mål och metod", "Aim, objectives and method"),
            starts_at: at(2010, 5, 11, 13, 0),
            ends_at: at(2010, 5, 11, 16, 0),
            location: "Mälardalens högskola, Eskilstuna".into(),
        },
        Seminar {
            id: SeminarId(3),
            title: sv_en("Samverkan, budget och spridning", "Collaboration, budget and dissemination"),
            starts_at: at(2010, 5, 25, 13, 0),
            ends_at: at(2010, 5, 25, 16, 0),
            location: "Mälardalens högskola, Västerås".into(),
        },
    ];
    let panel_at = at(2010, 6, 10, 13, 0);
    let definition = CallDefinition {
        title: title("Framtidens vård, omsorg och socialt arbete"),
        title_en: Some(title("The future of care and social work")),
        description: sv_en(
            "Samhällskontraktet söker idéer till gemensamma forsknings- och utvecklingsprojekt inom äldreomsorg, \
             socialt arbete och funktionshinder, där Mälardalens högskola och kommunerna arbetar tillsammans. \
             Utvalda idéer utvecklas till projektplaner i en seminarieserie och presenteras för en panel enligt \
             förebild från Draknästet.",
            "Samhällskontraktet invites ideas for joint research and development projects in elderly care, social \
             work and disability, where Mälardalen University and the municipalities work together. Selected ideas \
             are developed into project plans in a seminar series and pitched to a panel modelled on Dragons' Den.",
        ),
        sector_group: sector_group.id,
        themes: THEMES.iter().map(|t| Theme::parse(t).expect("a theme")).collect(),
        timeline: Timeline {
            opens_at: at(2010, 2, 19, 9, 0),
            closes_at: at(2010, 4, 9, 16, 0),
            seminars,
            panel_at,
            plan_deadline: at(2010, 8, 31, 23, 59),
            decision_meeting_at: at(2010, 10, 5, 13, 0),
        },
        capacity: 10,
        budget: kronor(1_300_000),
        ceiling: Some(kronor(400_000)),
        criteria: CRITERIA.iter().map(|(k, s, e)| Criterion { key: criterion(k), name: sv_en(s, e) }).collect(),
        scale: ScoreScale::default(),
        template: SECTIONS
            .iter()
            .map(|(k, s, e, mandatory)| TemplateSection {
                key: section(k),
                title: sv_en(s, e),
                guidance: Some(sv(&format!("Beskriv {} kortfattat och konkret.", s.to_lowercase()))),
                mandatory: *mandatory,
            })
            .collect(),
    };
    let meeting = BoardMeeting {
        id: MeetingId::from_uuid(id(6, 0)),
        title: title("Styrelsemöte 5 oktober 2010"),
        at: definition.timeline.decision_meeting_at,
    };

    let mut steps = Vec::new();
    let call_step = |at, actor, command| Step::Call { at, actor, command };
    steps.push(call_step(
        at(2010, 2, 1, 10, 0),
        process_leader,
        CallCommand::Create { id: call_id, definition: Box::new(definition.clone()) },
    ));
    steps.push(call_step(at(2010, 2, 19, 9, 0), process_leader, CallCommand::Advance { to: CallPhase::Open }));

    // Submissions, spread from the workshop to the deadline. Every third idea
    // has a co-applicant from another party.
    for (i, (idea, _)) in ideas.iter().enumerate() {
        let lead = leads[i];
        let co_applicants = if i % 3 == 0 { vec![applicant(leads[(i + 1) % 26])] } else { vec![] };
        let day = Duration::hours(44 * i as i64);
        steps.push(Step::Idea {
            at: at(2010, 2, 22, 10, 0) + day,
            actor: lead,
            idea: idea.id,
            command: IdeaCommand::SubmitNew(Box::new(NewIdea {
                id: idea.id,
                call: call_id,
                lead: applicant(lead),
                details: IdeaDetails {
                    title: title(idea.title),
                    summary: text(&format!(
                        "{}: en idé om att utveckla arbetssätt tillsammans med högskolan. Idén beskrivs närmare \
                         i seminarieserien.",
                        idea.title
                    )),
                    theme: Theme::parse(THEMES[i % 3]).expect("a theme"),
                    organisation: org(i),
                    co_applicants,
                },
            })),
        });
    }
    steps.push(call_step(at(2010, 4, 12, 9, 0), sector[0], CallCommand::Advance { to: CallPhase::Selection }));

    let idea_step = |at, actor, idea: &ReferenceIdea, command| Step::Idea { at, actor, idea: idea.id, command };
    // The sector group's selection meeting.
    for (i, (idea, why)) in ideas.iter().enumerate() {
        let when = at(2010, 4, 20, 10, 0) + Duration::minutes(5 * i as i64);
        let command = match why {
            Some(why) => IdeaCommand::NotSelect { motivation: motivation(why) },
            None => IdeaCommand::Select {
                motivation: Some(motivation(
                    "Idén svarar väl mot utlysningens teman och har god potential för samverkan.",
                )),
            },
        };
        steps.push(idea_step(when, sector[i % 6], idea, command));
    }
    steps.push(call_step(at(2010, 4, 20, 15, 0), process_leader, CallCommand::Advance { to: CallPhase::Development }));

    let selected: Vec<(usize, &ReferenceIdea)> =
        ideas.iter().enumerate().filter(|(_, (i, _))| i.fate != Fate::NotSelected).map(|(n, (i, _))| (n, i)).collect();

    // The seminar series: attendance after each seminar, drafts in between.
    let definition_seminars = definition.timeline.seminars.clone();
    for (s, seminar) in definition_seminars.iter().enumerate() {
        for (n, idea) in &selected {
            // The lapsing idea's lead misses the last two seminars.
            let attended = !(idea.fate == Fate::Lapses && s > 0) && (n + s) % 7 != 3;
            steps.push(idea_step(
                seminar.ends_at + Duration::minutes(*n as i64),
                process_leader,
                idea,
                IdeaCommand::RecordAttendance { seminar: seminar.id, attended },
            ));
        }
        // After each seminar the applicants draft two sections of the plan.
        for (n, idea) in &selected {
            if idea.fate == Fate::Lapses && s > 0 {
                continue;
            }
            for (k, name, _, _) in SECTIONS.iter().skip(2 * s).take(2) {
                steps.push(idea_step(
                    seminar.ends_at + Duration::days(3) + Duration::minutes(*n as i64),
                    leads[*n],
                    idea,
                    IdeaCommand::SavePlanSection {
                        section: section(k),
                        text: Some(text(&format!("{name} för projektet {}.", idea.title))),
                    },
                ));
            }
        }
    }

    // The running order for the panel: twenty minutes each.
    for (slot, (_, idea)) in selected.iter().enumerate() {
        steps.push(idea_step(
            at(2010, 6, 1, 9, 0) + Duration::minutes(slot as i64),
            process_leader,
            idea,
            IdeaCommand::SchedulePitch { at: panel_at + Duration::minutes(20 * slot as i64) },
        ));
    }
    steps.push(call_step(at(2010, 6, 9, 9, 0), process_leader, CallCommand::Advance { to: CallPhase::Panel }));
    // A panel member works where one of the ideas comes from and says so.
    let conflicted = selected[5].1;
    steps.push(idea_step(
        at(2010, 6, 9, 10, 0),
        panelists[1],
        conflicted,
        IdeaCommand::DeclareConflict {
            panel_member: panelists[1],
            reason: motivation("Jag är chef för den enhet där idén ska genomföras."),
        },
    ));
    let mut panel_members = panelists.clone();
    panel_members.push(sector[0]);
    for (slot, (_, idea)) in selected.iter().enumerate() {
        let pitched = panel_at + Duration::minutes(20 * slot as i64 + 15);
        steps.push(idea_step(pitched, process_leader, idea, IdeaCommand::RecordPitch));
        for (m, member) in panel_members.iter().enumerate() {
            if idea.id == conflicted.id && *member == panelists[1] {
                continue;
            }
            let score = |c: usize| Score::new(1 + ((slot + m + c) % 5) as u8);
            let scores = CRITERIA.iter().enumerate().map(|(c, (k, _, _))| (criterion(k), score(c))).collect();
            steps.push(idea_step(
                pitched + Duration::minutes(2 + m as i64),
                *member,
                idea,
                IdeaCommand::GiveFeedback {
                    text: text("Tydlig presentation. Förtydliga hur resultaten ska spridas till verksamheterna."),
                    scores,
                },
            ));
        }
    }
    steps.push(call_step(at(2010, 6, 11, 9, 0), process_leader, CallCommand::Advance { to: CallPhase::PlansDue }));

    // Plans: four come in before the first reminder, five after it; the
    // lapsing idea never sends one. Timers run at 14 and 3 days before.
    let requested = |fate: Fate| match fate {
        Fate::Granted(kr) => kronor(kr.max(350_000) + 25_000),
        _ => kronor(380_000),
    };
    let planners: Vec<&(usize, &ReferenceIdea)> = selected.iter().filter(|(_, i)| i.fate != Fate::Lapses).collect();
    for (p, (n, idea)) in planners.iter().enumerate() {
        let when = if p < 4 { at(2010, 8, 10, 14, 0) } else { at(2010, 8, 25, 14, 0) } + Duration::minutes(p as i64);
        steps.push(idea_step(when, leads[*n], idea, IdeaCommand::SubmitPlan { requested: requested(idea.fate) }));
    }
    steps.push(Step::Timers { at: at(2010, 8, 17, 23, 59) + Duration::minutes(1) });
    steps.push(Step::Timers { at: at(2010, 8, 28, 23, 59) + Duration::minutes(1) });
    steps.push(Step::Timers { at: at(2010, 9, 1, 0, 5) });
    steps.sort_by_key(Step::at);

    steps.push(call_step(at(2010, 9, 1, 9, 0), process_leader, CallCommand::Advance { to: CallPhase::Preparation }));
    for (p, (_, idea)) in planners.iter().enumerate() {
        let recommendation = match idea.fate {
            Fate::Granted(kr) => Recommendation::Fund {
                amount: kronor(kr),
                motivation: Some(motivation("Planen är genomförbar och stärker samverkan mellan parterna.")),
            },
            _ => Recommendation::NoFunding {
                motivation: motivation(
                    "Planen håller god kvalitet, men budgeten räcker inte och andra planer bedöms ge större nytta för verksamheterna.",
                ),
            },
        };
        steps.push(idea_step(
            at(2010, 9, 20, 10, 0) + Duration::minutes(10 * p as i64),
            sector[p % 6],
            idea,
            IdeaCommand::Prepare { recommendation },
        ));
    }
    steps.push(call_step(at(2010, 9, 28, 9, 0), process_leader, CallCommand::Advance { to: CallPhase::Decision }));
    for (p, (_, idea)) in planners.iter().enumerate() {
        // Each copy of the round (namespace) has its own registry numbers.
        let number = 31 + p + 100 * namespace as usize;
        let registry = RegistryNumber::parse(&format!("SK 2010/{number}")).expect("a registry number");
        let command = match idea.fate {
            Fate::Granted(kr) => IdeaCommand::Grant {
                amount: kronor(kr),
                conditions: Some(text(
                    "Projektet redovisar till styrelsen halvårsvis och sprider sina resultat vid en gemensam konferens.",
                )),
                motivation: Some(motivation("Styrelsen beslutar i enlighet med sektorsgruppens förslag.")),
                registry,
                meeting: meeting.id,
            },
            _ => IdeaCommand::Decline {
                motivation: motivation(
                    "Styrelsen har prioriterat fyra projekt inom ramen för budgeten på 1 300 000 kr. Planen har inte prioriterats i den konkurrensen.",
                ),
                registry,
                meeting: meeting.id,
            },
        };
        steps.push(idea_step(meeting.at + Duration::minutes(5 * p as i64), board[p % 6], idea, command));
    }
    steps.push(call_step(at(2010, 10, 6, 9, 0), process_leader, CallCommand::Advance { to: CallPhase::Finished }));

    Round2010 {
        organisations,
        sector_group,
        people,
        roles,
        call_id,
        definition,
        meeting,
        ideas: ideas.into_iter().map(|(i, _)| i).collect(),
        steps,
        process_leader,
    }
}

/// Replays the round on an in-memory [`crate::memory::Round`], as the demo
/// does on storage.
pub fn replay_in_memory(
    round: &Round2010,
    timers: &crate::timers::TimerConfig,
) -> Result<crate::memory::Round, (usize, crate::TransitionError)> {
    let mut memory = crate::memory::Round::new();
    for (n, step) in round.steps.iter().enumerate() {
        let result = match step {
            Step::Call { at, actor, command } => memory.call_command(command, &round.actor(*actor), *at),
            Step::Idea { at, actor, idea, command } => {
                memory.idea_command(*idea, command, &round.actor(*actor), *at).map(|_| ())
            }
            Step::Timers { at } => memory.run_timers(*at, timers).map(|_| ()),
        };
        result.map_err(|e| (n, e))?;
    }
    Ok(memory)
}
