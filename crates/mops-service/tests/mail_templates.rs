//! The status mails as the applicants of the 2010 round would have read
//! them: every notice in Swedish and English as a snapshot, then the facts
//! each mail must state, the language it must keep to, escaping, and the
//! calendar invitations.
//!
//! The intents come from replaying the reference round in memory: for each
//! notice, the first intent in the outbox with that key, rendered against the
//! idea's state at the end of the round. The round never withdraws an idea,
//! so for `withdrawn` one idea is withdrawn by its lead in July 2010.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use mops_core::call::Call;
use mops_core::domain::{FreeText, Language, Motivation};
use mops_core::memory::Round;
use mops_core::reference::{Round2010, Step, replay_in_memory, round_2010};
use mops_core::timers::TimerConfig;
use mops_core::{IdeaCommand, IdeaState, Notice, NotificationIntent};
use mops_service::mail::{CallText, Envelope, Rendered, render_mail, render_with};

/// A fixed message id, so the calendar UIDs and the snapshots are stable.
const UID: &str = "00000000-0000-0000-0000-000000000001";

/// The contact every mail names (`MOPS_MAIL_REPLY_TO`).
const CONTACT: &str = "karin.lindqvist@samhallskontraktet.se";

/// When every mail here was queued, fixed so the invitations' `DTSTAMP`
/// and the snapshots are stable: 21 April 2010, 08.30 in Stockholm.
fn queued_at() -> DateTime<Utc> {
    utc(2010, 4, 21, 6, 30)
}

/// The idea withdrawn for the `withdrawn` notice (declined in the real round).
const WITHDRAWN_TITLE: &str = "Kulturell mångfald i äldreomsorgen";

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("a valid instant")
}

fn reference() -> &'static Round2010 {
    static ROUND: OnceLock<Round2010> = OnceLock::new();
    ROUND.get_or_init(round_2010)
}

/// The whole 2010 round, replayed once for all tests.
fn full_round() -> &'static Round {
    static MEMORY: OnceLock<Round> = OnceLock::new();
    MEMORY.get_or_init(|| {
        replay_in_memory(reference(), &TimerConfig::default())
            .unwrap_or_else(|(n, e)| panic!("step {n} of the 2010 round fails: {e}"))
    })
}

/// The round replayed up to (not including) `before`, as it stood then.
fn round_until(before: DateTime<Utc>) -> Round {
    let round = reference();
    let mut memory = Round::new();
    for (n, step) in round.steps.iter().enumerate().take_while(|(_, s)| s.at() < before) {
        let result = match step {
            Step::Call { at, actor, command } => memory.call_command(command, &round.actor(*actor), *at),
            Step::Idea { at, actor, idea, command } => {
                memory.idea_command(*idea, command, &round.actor(*actor), *at).map(|_| ())
            }
            Step::Timers { at } => memory.run_timers(*at, &TimerConfig::default()).map(|_| ()),
        };
        result.unwrap_or_else(|e| panic!("step {n} of the 2010 round fails: {e}"));
    }
    memory
}

/// The round until 1 July 2010, when one idea's lead withdraws it.
fn withdrawn_round() -> &'static Round {
    static MEMORY: OnceLock<Round> = OnceLock::new();
    MEMORY.get_or_init(|| {
        let at = utc(2010, 7, 1, 8, 0);
        let mut memory = round_until(at);
        let idea = reference().ideas.iter().find(|i| i.title == WITHDRAWN_TITLE).expect("the idea is in the round");
        let lead = memory.idea(idea.id).and_then(IdeaState::idea).expect("the idea was submitted").lead.person;
        let reason = FreeText::parse("Projektledaren har fått nya arbetsuppgifter och kan inte leda projektet.")
            .expect("a valid reason");
        memory
            .idea_command(idea.id, &IdeaCommand::Withdraw { reason: Some(reason) }, &reference().actor(lead), at)
            .expect("the lead may withdraw the idea");
        memory
    })
}

/// One notice to render: the intent, the idea's state and the call.
#[derive(Clone)]
struct Case {
    intent: NotificationIntent,
    state: IdeaState,
    call: Call,
}

impl Case {
    /// The first intent with `key` in `memory`'s outbox and the idea as it stands there.
    fn first_in(memory: &Round, key: &str) -> Case {
        let intent = memory
            .outbox
            .iter()
            .find(|i| i.notice.key() == key)
            .unwrap_or_else(|| panic!("the round sends no {key} mail"))
            .clone();
        let state = memory.idea(intent.idea).expect("the idea of the intent").clone();
        let call = memory.call().expect("the round's call").clone();
        Case { intent, state, call }
    }

    /// The reference case for a notice, from the end of the round.
    fn of(key: &str) -> Case {
        let memory = if key == "withdrawn" { withdrawn_round() } else { full_round() };
        Case::first_in(memory, key)
    }

    fn render(&self, lang: Language) -> Rendered {
        let mut intent = self.intent.clone();
        intent.to.language = lang;
        let envelope = Envelope { uid: UID, queued_at: queued_at(), contact: Some(CONTACT) };
        render_mail(&intent, &self.state, &self.call, &envelope)
            .unwrap_or_else(|e| panic!("{} does not render: {e}", self.intent.notice.key()))
    }

    fn title(&self) -> String {
        self.state.idea().expect("a submitted idea").details.title.to_string()
    }
}

/// Every part of a rendered mail, as one reviewable document.
fn document(r: &Rendered) -> String {
    let mut doc = format!("Subject: {}\n\n----- text -----\n{}\n----- html -----\n{}\n", r.subject, r.text, r.html);
    if let Some(ics) = &r.ics {
        doc.push_str("----- ics -----\n");
        doc.push_str(&ics.replace("\r\n", "\n"));
    }
    doc
}

/// What minijinja's HTML auto-escaping makes of `s`.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The lower-cased words of `s`, letters and digits only.
fn words(s: &str) -> BTreeSet<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

const LANGUAGES: [Language; 2] = [Language::Sv, Language::En];

macro_rules! snapshots {
    ($($key:ident),+ $(,)?) => {
        /// The notices with a snapshot test below.
        const SNAPSHOTTED: &[&str] = &[$(stringify!($key)),+];

        mod snapshot {
            use super::*;
            $(
                #[test]
                fn $key() {
                    let case = Case::of(stringify!($key));
                    insta::assert_snapshot!(concat!(stringify!($key), "_sv"), document(&case.render(Language::Sv)));
                    insta::assert_snapshot!(concat!(stringify!($key), "_en"), document(&case.render(Language::En)));
                }
            )+
        }
    };
}

snapshots!(
    idea_received,
    selected,
    not_selected,
    seminar_invitation,
    panel_invitation,
    plan_received,
    plan_deadline_reminder,
    lapsed,
    prepared_for_decision,
    granted,
    declined,
    withdrawn,
);

#[test]
fn every_notice_has_a_template_and_a_snapshot() {
    let core: BTreeSet<&str> = Notice::KEYS.iter().copied().collect();
    let templates: BTreeSet<&str> = mops_service::mail::render::notices().collect();
    let snapshotted: BTreeSet<&str> = SNAPSHOTTED.iter().copied().collect();
    assert_eq!(templates, core, "template folders and the core's notices differ");
    assert_eq!(snapshotted, core, "snapshot tests and the core's notices differ");
}

/// Checks that the tags of `html` nest properly (void elements aside) and
/// that no template syntax or script slipped through.
fn assert_well_formed(html: &str, context: &str) {
    const VOID: [&str; 4] = ["br", "hr", "meta", "!doctype"];
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').unwrap_or_else(|| panic!("{context}: an unclosed tag")) + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(t) => (true, t),
            None => (false, tag),
        };
        let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or_default().to_lowercase();
        assert!(!name.is_empty(), "{context}: an empty tag");
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if closing {
            let top = open.pop().unwrap_or_else(|| panic!("{context}: </{name}> closes nothing"));
            assert_eq!(top, name, "{context}: </{name}> closes <{top}>");
        } else {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "{context}: unclosed {open:?}");
}

#[test]
fn every_mail_is_complete_and_well_formed_in_both_languages() {
    for key in Notice::KEYS {
        let case = Case::of(key);
        for lang in LANGUAGES {
            let context = format!("{key} ({})", lang.tag());
            let r = case.render(lang);
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{context}: subject {:?}", r.subject);
            assert!(r.subject.contains(&case.title()), "{context}: the subject names the idea: {:?}", r.subject);
            for part in [&r.subject, &r.text, &r.html] {
                assert!(!part.contains("{{") && !part.contains("{%"), "{context}: template syntax left in\n{part}");
            }
            assert!(r.html.starts_with("<!DOCTYPE html>"), "{context}: no doctype");
            assert!(r.html.contains(&format!("<html lang=\"{}\">", lang.tag())), "{context}: wrong html lang");
            assert!(!r.html.to_lowercase().contains("<script"), "{context}: a script in the mail");
            assert!(!r.html.contains("<img") && !r.html.contains("http"), "{context}: an external resource");
            assert_well_formed(&r.html, &context);
            // Line breaks in the signature are real breaks, not escaped markup.
            assert!(r.html.contains("Samhällskontraktet<br>\n"), "{context}: the signature's lines");
            assert!(!r.html.contains("&lt;br"), "{context}: an escaped line break");
            let signature = match lang {
                Language::Sv => "Med vänliga hälsningar\nSamhällskontraktet\n",
                Language::En => "Kind regards\nSamhällskontraktet\n",
            };
            assert!(r.text.contains(signature), "{context}: the text lacks the signature");
            assert_eq!(r.text.matches(signature).count(), 1, "{context}: the signature twice");
            let greeting = match lang {
                Language::Sv => format!("Hej {}!", case.intent.to.name),
                Language::En => format!("Dear {},", case.intent.to.name),
            };
            assert!(r.text.starts_with(&greeting), "{context}: the text does not greet the recipient");
        }
    }
}

#[test]
fn swedish_mails_use_no_english_and_english_mails_no_swedish_phrases() {
    const NOT_SWEDISH: [&str; 9] =
        ["dear", "mail", "email", "deadline", "please", "regards", "meeting", "feedback", "pitch"];
    const NOT_ENGLISH: [&str; 4] = ["hej", "mejl", "hälsningar", "styrelsens"];
    for key in Notice::KEYS {
        let case = Case::of(key);
        let sv = case.render(Language::Sv);
        for part in [&sv.subject, &sv.text, &sv.html] {
            let found: Vec<&str> = NOT_SWEDISH.iter().copied().filter(|w| words(part).contains(*w)).collect();
            assert!(found.is_empty(), "{key} (sv) uses {found:?}:\n{part}");
            assert!(!part.to_lowercase().contains("e-mail"), "{key} (sv) says e-mail");
        }
        let en = case.render(Language::En);
        for part in [&en.subject, &en.text, &en.html] {
            let found: Vec<&str> = NOT_ENGLISH.iter().copied().filter(|w| words(part).contains(*w)).collect();
            assert!(found.is_empty(), "{key} (en) uses {found:?}:\n{part}");
        }
    }
}

#[test]
fn not_selected_and_declined_quote_the_motivation_verbatim() {
    for key in ["not_selected", "declined"] {
        let case = Case::of(key);
        let motivation = match &case.intent.notice {
            Notice::NotSelected { motivation } | Notice::Declined { motivation, .. } => motivation.to_string(),
            other => panic!("{key} is {other:?}"),
        };
        for lang in LANGUAGES {
            let r = case.render(lang);
            assert!(r.text.contains(&motivation), "{key} ({}) lacks the motivation:\n{}", lang.tag(), r.text);
            assert!(r.html.contains(&escaped(&motivation)), "{key} ({}) lacks the motivation:\n{}", lang.tag(), r.html);
        }
    }
}

#[test]
fn granted_states_amount_conditions_registry_and_meeting() {
    let case = Case::of("granted");
    let Notice::Granted { amount, conditions, registry, .. } = &case.intent.notice else {
        panic!("not a grant: {:?}", case.intent.notice)
    };
    assert_eq!(amount.to_string(), "350 000 kr", "the first grant of the round");
    let conditions = conditions.as_ref().expect("the round's grants carry conditions").to_string();
    for (lang, meeting) in
        [(Language::Sv, "styrelsens möte den 5 oktober 2010"), (Language::En, "board meeting on 5 October 2010")]
    {
        let r = case.render(lang);
        for fact in [amount.to_string(), conditions.clone(), registry.to_string(), meeting.to_owned()] {
            assert!(r.text.contains(&fact), "granted ({}) text lacks {fact:?}:\n{}", lang.tag(), r.text);
            assert!(r.html.contains(&escaped(&fact)), "granted ({}) html lacks {fact:?}:\n{}", lang.tag(), r.html);
        }
        assert!(r.html.contains("<dl"), "granted ({}) lists the decision's facts", lang.tag());
    }
}

#[test]
fn declined_states_registry_and_meeting() {
    let case = Case::of("declined");
    let Notice::Declined { registry, .. } = &case.intent.notice else {
        panic!("not a refusal: {:?}", case.intent.notice)
    };
    for (lang, meeting) in
        [(Language::Sv, "styrelsens möte den 5 oktober 2010"), (Language::En, "board meeting on 5 October 2010")]
    {
        let r = case.render(lang);
        for fact in [registry.to_string(), meeting.to_owned()] {
            assert!(r.text.contains(&fact), "declined ({}) text lacks {fact:?}:\n{}", lang.tag(), r.text);
            assert!(r.html.contains(&escaped(&fact)), "declined ({}) html lacks {fact:?}:\n{}", lang.tag(), r.html);
        }
    }
}

#[test]
fn selected_lists_the_seminars_the_panel_and_the_plan_deadline() {
    let case = Case::of("selected");
    let facts = [
        (
            Language::Sv,
            ["Från idé till projekt", "27 april 2010 kl. 13.00", "10 juni 2010 kl. 13.00", "31 augusti 2010 kl. 23.59"],
        ),
        (
            Language::En,
            ["From idea to project", "27 April 2010 at 13:00", "10 June 2010 at 13:00", "31 August 2010 at 23:59"],
        ),
    ];
    for (lang, facts) in facts {
        let r = case.render(lang);
        for fact in facts.iter().chain(["Mälardalens högskola, Eskilstuna"].iter()) {
            assert!(r.text.contains(fact), "selected ({}) text lacks {fact:?}:\n{}", lang.tag(), r.text);
            assert!(r.html.contains(fact), "selected ({}) html lacks {fact:?}:\n{}", lang.tag(), r.html);
        }
        assert_eq!(r.text.matches("\n- ").count(), case.call.definition.timeline.seminars.len());
        assert_eq!(r.html.matches("<li").count(), case.call.definition.timeline.seminars.len());
    }
}

#[test]
fn selected_quotes_the_sector_groups_motivation_while_the_idea_is_selected() {
    // Just after the selection meeting, before the first seminar.
    let memory = round_until(utc(2010, 4, 21, 8, 0));
    let case = Case::first_in(&memory, "selected");
    let IdeaState::Selected(selected) = &case.state else { panic!("not selected: {:?}", case.state.stage()) };
    let motivation = selected.selection.motivation.as_ref().expect("the round motivates its selections").to_string();
    for lang in LANGUAGES {
        let r = case.render(lang);
        assert!(r.text.contains(&motivation), "selected ({}) lacks the motivation:\n{}", lang.tag(), r.text);
        assert!(r.html.contains("<blockquote"), "selected ({}) quotes the motivation", lang.tag());
    }
    // The intent carries the motivation, so a mail rendered later (here at
    // the end of the round, when the idea has moved on) still quotes it.
    let mut late = Case::of("selected");
    assert!(!matches!(late.state, IdeaState::Selected(_)));
    assert!(late.render(Language::Sv).text.contains(&motivation));
    // A selection without a motivation gets no empty heading for one.
    late.intent.notice = Notice::Selected { motivation: None };
    let r = late.render(Language::Sv);
    assert!(!r.text.contains("motivering"), "{}", r.text);
}

#[test]
fn idea_received_says_when_the_idea_arrived_while_it_is_submitted() {
    let memory = round_until(utc(2010, 2, 23, 8, 0));
    let case = Case::first_in(&memory, "idea_received");
    assert!(matches!(case.state, IdeaState::Submitted(_)));
    for (lang, when) in
        [(Language::Sv, "den 22 februari 2010 kl. 10.00"), (Language::En, "on 22 February 2010 at 10:00")]
    {
        let r = case.render(lang);
        assert!(r.text.contains(when), "idea_received ({}) lacks {when:?}:\n{}", lang.tag(), r.text);
        assert!(r.html.contains(when), "idea_received ({}) lacks {when:?}:\n{}", lang.tag(), r.html);
        // The intent carries the time, so the mail says it even when sent
        // after the idea has moved on.
        let mut later = Case::of("idea_received");
        later.intent = case.intent.clone();
        assert!(later.render(lang).text.contains(when), "{}", later.render(lang).text);
    }
}

#[test]
fn the_reminder_says_how_many_days_are_left_and_until_when() {
    let case = Case::of("plan_deadline_reminder");
    assert!(matches!(case.intent.notice, Notice::PlanDeadlineReminder { days_before: 14, .. }));
    let sv = case.render(Language::Sv);
    assert!(sv.text.contains("14 dagar kvar") && sv.text.contains("31 augusti 2010 kl. 23.59"), "{}", sv.text);
    assert!(sv.subject.contains("14 dagar kvar"), "{}", sv.subject);
    let en = case.render(Language::En);
    assert!(en.text.contains("14 days left") && en.text.contains("31 August 2010 at 23:59"), "{}", en.text);

    // The last day reads as one day, not "1 dagar".
    let mut last_day = case.clone();
    let Notice::PlanDeadlineReminder { deadline, .. } = case.intent.notice else { unreachable!() };
    last_day.intent.notice = Notice::PlanDeadlineReminder { deadline, days_before: 1 };
    let sv = last_day.render(Language::Sv);
    assert!(sv.subject.contains("en dag kvar") && sv.text.contains("en dag kvar"), "{}\n{}", sv.subject, sv.text);
    let en = last_day.render(Language::En);
    assert!(en.subject.contains("one day left") && en.text.contains("one day left"), "{}\n{}", en.subject, en.text);
}

#[test]
fn lapsed_names_the_deadline_that_passed() {
    let case = Case::of("lapsed");
    assert_eq!(case.title(), "Rehabilitering i hemmet med stöd av video");
    assert!(case.render(Language::Sv).text.contains("31 augusti 2010 kl. 23.59"));
    assert!(case.render(Language::En).text.contains("31 August 2010 at 23:59"));
}

#[test]
fn invitations_say_a_calendar_invitation_is_attached() {
    for key in ["seminar_invitation", "panel_invitation"] {
        let case = Case::of(key);
        for (lang, phrase) in [(Language::Sv, "kalenderinbjudan"), (Language::En, "calendar invitation")] {
            let r = case.render(lang);
            assert!(r.text.contains(phrase), "{key} ({}):\n{}", lang.tag(), r.text);
            assert!(r.html.contains(phrase), "{key} ({}):\n{}", lang.tag(), r.html);
        }
    }
}

/// An idea state whose title is `title`: the stored state with its title replaced.
fn retitled(state: &IdeaState, title: &str) -> IdeaState {
    fn replace(value: &mut serde_json::Value, from: &str, to: &str) {
        match value {
            serde_json::Value::String(s) if s == from => *s = to.to_owned(),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| replace(v, from, to)),
            serde_json::Value::Object(fields) => fields.values_mut().for_each(|v| replace(v, from, to)),
            _ => {}
        }
    }
    let old = state.idea().expect("a submitted idea").details.title.to_string();
    let mut value = serde_json::to_value(state).expect("the state serialises");
    replace(&mut value, &old, title);
    serde_json::from_value(value).expect("the state deserialises")
}

#[test]
fn titles_are_escaped_in_html_and_verbatim_in_text() {
    let title = "Omsorg <b>& \"trygghet\" i 'vardagen'";
    for key in Notice::KEYS {
        let mut case = Case::of(key);
        case.state = retitled(&case.state, title);
        case.intent.idea_title = Some(mops_core::domain::Title::parse(title).unwrap());
        assert_eq!(case.title(), title);
        for lang in LANGUAGES {
            let r = case.render(lang);
            assert!(r.subject.contains(title), "{key}: subject {:?}", r.subject);
            assert!(r.text.contains(title), "{key}: text\n{}", r.text);
            assert!(
                r.html.contains("Omsorg &lt;b&gt;&amp; &quot;trygghet&quot; i &#x27;vardagen&#x27;"),
                "{key}: {}",
                r.html
            );
            assert!(!r.html.contains("<b>"), "{key}: the title's markup reached the html\n{}", r.html);
            assert_well_formed(&r.html, key);
        }
    }
}

#[test]
fn motivations_keep_their_line_breaks_and_are_escaped_in_html() {
    let mut case = Case::of("not_selected");
    let motivation = "Idén är angelägen <i>men</i> för bred.\nAvgränsa den & sök igen.";
    case.intent.notice = Notice::NotSelected { motivation: Motivation::parse(motivation).expect("a motivation") };
    for lang in LANGUAGES {
        let r = case.render(lang);
        assert!(r.text.contains(motivation), "{}", r.text);
        assert!(
            r.html
                .contains("Idén är angelägen &lt;i&gt;men&lt;&#x2f;i&gt; för bred.<br>\nAvgränsa den &amp; sök igen."),
            "{}",
            r.html
        );
        assert_well_formed(&r.html, "not_selected");
    }
}

/// The VEVENTs of an invitation, after checking its lines and parsing it.
fn events(ics: &str) -> Vec<(String, String, String)> {
    assert!(ics.ends_with("\r\n"), "the last line ends with CRLF");
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "a line of {} octets: {line:?}", line.len());
        assert!(!line.contains('\n') && !line.contains('\r'), "a bare line break in {line:?}");
    }
    let unfolded = icalendar::parser::unfold(ics);
    let calendar = icalendar::parser::read_calendar(&unfolded).unwrap_or_else(|e| panic!("{e}\n{ics}"));
    let prop = |c: &icalendar::parser::Component<'_>, name: &str| {
        c.find_prop(name).map(|p| p.val.as_str().to_owned()).unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(calendar.properties.iter().find(|p| p.name == "VERSION").map(|p| p.val.as_str()), Some("2.0"));
    calendar
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .map(|c| {
            let uid = prop(c, "UID");
            assert!(uid.contains(UID), "the UID {uid} carries the message id");
            assert_eq!(prop(c, "DTSTAMP"), "20100421T063000Z", "stamped when the mail was queued");
            (prop(c, "DTSTART"), prop(c, "DTEND"), prop(c, "SUMMARY"))
        })
        .collect()
}

#[test]
fn the_seminar_invitation_holds_every_seminar_in_utc() {
    let case = Case::of("seminar_invitation");
    let seminars = &case.call.definition.timeline.seminars;
    assert_eq!(seminars.len(), 3);
    for lang in LANGUAGES {
        let ics = case.render(lang).ics.expect("an invitation");
        let events = events(&ics);
        assert_eq!(events.len(), seminars.len(), "one VEVENT per seminar\n{ics}");
        assert_eq!(events[0].0, "20100427T110000Z", "13.00 in Stockholm is 11.00 UTC in summer");
        let text = case.render(lang).text;
        for ((start, end, summary), seminar) in events.iter().zip(seminars) {
            assert_eq!(*start, seminar.starts_at.format("%Y%m%dT%H%M%SZ").to_string());
            // The UTC time is the Stockholm time the mail itself states.
            let instant = chrono::NaiveDateTime::parse_from_str(start, "%Y%m%dT%H%M%SZ").unwrap().and_utc();
            let local = mops_service::mail::render::when(instant, lang);
            assert!(text.contains(&local), "{local} is in the mail:\n{text}");
            assert_eq!(*end, seminar.ends_at.format("%Y%m%dT%H%M%SZ").to_string());
            assert!(summary.contains(seminar.title.get(lang)), "{summary}");
        }
    }
}

#[test]
fn the_panel_invitation_holds_the_pitch_slot() {
    let case = Case::of("panel_invitation");
    let Notice::PanelInvitation { at } = case.intent.notice else { panic!("{:?}", case.intent.notice) };
    assert_eq!(at, utc(2010, 6, 10, 11, 0), "the first slot: 13.00 in Stockholm");
    for lang in LANGUAGES {
        let ics = case.render(lang).ics.expect("an invitation");
        let events = events(&ics);
        assert_eq!(events.len(), 1, "one VEVENT for the slot\n{ics}");
        assert_eq!(events[0].0, "20100610T110000Z");
        assert!(events[0].2.contains("Draknästet"), "{}", events[0].2);
    }

    // A later slot names both its own time and when the panel starts.
    let memory = full_round();
    let later = memory
        .outbox
        .iter()
        .find(|i| matches!(i.notice, Notice::PanelInvitation { at } if at == utc(2010, 6, 10, 12, 0)))
        .expect("the fourth slot, 14.00 in Stockholm");
    let case = Case {
        intent: later.clone(),
        state: memory.idea(later.idea).expect("the idea").clone(),
        call: memory.call().expect("the call").clone(),
    };
    let sv = case.render(Language::Sv).text;
    assert!(sv.contains("den 10 juni 2010 kl. 14.00. Draknästet börjar den 10 juni 2010 kl. 13.00"), "{sv}");
    let en = case.render(Language::En).text;
    assert!(en.contains("on 10 June 2010 at 14:00. The panel session starts on 10 June 2010 at 13:00"), "{en}");
    assert_eq!(events(&case.render(Language::Sv).ics.expect("an invitation"))[0].0, "20100610T120000Z");
}

#[test]
fn only_invitations_carry_a_calendar() {
    for key in Notice::KEYS {
        let expected = matches!(*key, "seminar_invitation" | "panel_invitation");
        for lang in LANGUAGES {
            assert_eq!(Case::of(key).render(lang).ics.is_some(), expected, "{key} ({})", lang.tag());
        }
    }
}

#[test]
fn every_mail_names_whom_to_contact() {
    for key in Notice::KEYS {
        let case = Case::of(key);
        for lang in LANGUAGES {
            let r = case.render(lang);
            let ask = match lang {
                Language::Sv => format!("Har du frågor? Kontakta processledaren på {CONTACT}."),
                Language::En => format!("Any questions? Contact the process leader at {CONTACT}."),
            };
            assert!(r.text.contains(&ask), "{key} ({}):\n{}", lang.tag(), r.text);
            let link = format!("<a href=\"mailto:{CONTACT}\" style=\"color:#0b57a4;\">{CONTACT}</a>.</p>");
            assert!(r.html.contains(&link), "{key} ({}):\n{}", lang.tag(), r.html);
        }
    }
    // A preview that knows no contact leaves the sentence out.
    let case = Case::of("selected");
    let preview = mops_service::mail::render(&case.intent, &case.state, &case.call, UID).unwrap();
    assert!(!preview.text.contains("Kontakta processledaren") && !preview.html.contains("mailto:"), "{}", preview.text);
    let end = preview.text.trim_end();
    assert!(end.ends_with("Västerås stad") || end.ends_with("City of Västerås"), "{}", preview.text);
}

/// The worker renders with one [`CallText`] per call and language, kept
/// across mails; each mail must come out as `render_mail` renders it alone.
#[test]
fn a_call_text_kept_across_mails_renders_each_as_render_mail_does() {
    let call = Case::of("idea_received").call;
    for lang in LANGUAGES {
        let text = CallText::new(&call, lang, Some(CONTACT)).expect("the call's text renders");
        for key in SNAPSHOTTED {
            let case = Case::of(key);
            let mut intent = case.intent.clone();
            intent.to.language = lang;
            let kept = render_with(&intent, &case.state, &text, UID, queued_at()).expect("renders");
            assert_eq!(kept, case.render(lang), "{key} in {}", lang.tag());
        }
    }
    // A text in another language than the recipient's is refused, not sent.
    let case = Case::of("selected");
    let english = CallText::new(&call, Language::En, Some(CONTACT)).expect("the call's text renders");
    let mut intent = case.intent.clone();
    intent.to.language = Language::Sv;
    let refused = render_with(&intent, &case.state, &english, UID, queued_at()).expect_err("a language mix-up");
    assert!(refused.to_string().contains("the recipient reads sv"), "{refused}");
}

/// The worker writes each message itself, straight into one buffer
/// (`write_message`). It must be the message lettre's builder builds, to
/// the byte: every notice in both languages, with recipients and subjects
/// that need encoding, quoting and folding.
#[test]
fn every_mail_is_written_as_lettre_builds_it() {
    use lettre::message::Mailbox;
    use mops_service::mail::{Letterhead, boundaries, build_message_with, write_message};

    let from: Mailbox = "Samhällskontraktet <mops@samhallskontraktet.se>".parse().unwrap();
    let letterheads = [
        Letterhead::new(&from, &CONTACT.parse().unwrap()),
        Letterhead::new(
            &"noreply@example.org".parse().unwrap(),
            &"Karin \"KL\" Lindqvist <k@example.org>".parse().unwrap(),
        ),
    ];
    let recipients = [
        Mailbox::new(Some("Anna Björk".into()), "anna.bjork@example.se".parse().unwrap()),
        Mailbox::new(None, "plain@example.se".parse().unwrap()),
        Mailbox::new(Some("Ögon, \"Örjan\" & co".into()), "orjan@example.se".parse().unwrap()),
        Mailbox::new(
            Some("Åsa-Britt Ängström Öberg von Längstnamnsdotter Östergren".into()),
            "a@example.se".parse().unwrap(),
        ),
    ];
    let long_subject = format!("Din idé «{}» har kommit in", "Ett mycket långt namn på en idé ".repeat(4));
    let date = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_272_000_000);
    let mut compared = 0;
    for key in Notice::KEYS {
        let case = Case::of(key);
        for lang in LANGUAGES {
            for (i, to) in recipients.iter().enumerate() {
                let mut rendered = case.render(lang);
                if i == 3 {
                    rendered.subject = long_subject.clone();
                }
                let letterhead = &letterheads[i % 2];
                let row = uuid::Uuid::new_v4();
                let [alternative, mixed] = boundaries(row);
                let built =
                    build_message_with(row, to, letterhead, rendered.clone(), [&alternative, &mixed], date).unwrap();
                let written = write_message(row, to, letterhead, rendered, date).unwrap();
                let (built_text, written_text) =
                    (String::from_utf8(built.formatted()).unwrap(), String::from_utf8(written.bytes).unwrap());
                assert_eq!(written_text, built_text, "{key} ({}) to {to}", lang.tag());
                assert_eq!(&written.envelope, built.envelope(), "{key} ({}) to {to}", lang.tag());
                compared += 1;
            }
        }
    }
    assert_eq!(compared, Notice::KEYS.len() * 2 * recipients.len());
}

/// Should a 7bit body hold the boundaries' marker, lettre's builder writes
/// the message instead, with boundaries of its own that the body does not
/// hold.
#[test]
fn a_body_holding_the_boundary_marker_gets_lettres_boundaries() {
    use lettre::message::Mailbox;
    use mops_service::mail::{Letterhead, boundaries, write_message};

    let from: Mailbox = "mops@samhallskontraktet.se".parse().unwrap();
    let letterhead = Letterhead::new(&from, &from);
    let to: Mailbox = "anna@example.se".parse().unwrap();
    let row = uuid::Uuid::new_v4();
    let [alternative, _] = boundaries(row);
    for (text, html) in [
        (format!("ascii text quoting --{alternative}\n"), "<p>ok</p>\n".to_owned()),
        ("ok\n".to_owned(), format!("<p>=_mops_ {alternative}</p>\n")),
    ] {
        let rendered = Rendered { subject: "Test".into(), text, html, ics: None };
        let written = String::from_utf8(
            write_message(row, &to, &letterhead, rendered, std::time::SystemTime::now()).unwrap().bytes,
        )
        .unwrap();
        let boundary = written.split("boundary=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
        assert!(!boundary.starts_with("=_mops_"), "{written}");
        assert_eq!(written.matches(&format!("--{boundary}\r\n")).count(), 2, "{written}");
        assert!(written.contains(&alternative), "the body is unchanged");
    }
    // Without the marker, the row's own boundaries.
    let rendered = Rendered { subject: "Test".into(), text: "ok\n".into(), html: "<p>ok</p>\n".into(), ics: None };
    let written =
        String::from_utf8(write_message(row, &to, &letterhead, rendered, std::time::SystemTime::now()).unwrap().bytes)
            .unwrap();
    assert!(written.contains(&format!("boundary=\"{alternative}\"")), "{written}");
}
