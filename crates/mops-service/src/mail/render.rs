//! Renders a notification intent into a mail: subject, plain text and HTML
//! (and an iCalendar invitation where the notice is one), in the recipient's
//! language. Templates live in `templates/mail/<notice>/`, one folder per
//! notification, and are compiled into the binary.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Europe::Stockholm;
use minijinja::{Environment, context};
use mops_core::call::Call;
use mops_core::domain::Language;
use mops_core::{IdeaState, Notice, NotificationIntent};
use serde::Serialize;

use super::ics;

/// A rendered mail, ready to be built into a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// An iCalendar (RFC 5545) invitation for seminars and the panel.
    pub ics: Option<String>,
}

/// Why a notification could not be rendered: a bug in a template or missing
/// data, never the recipient's fault.
#[derive(Debug, thiserror::Error)]
#[error("cannot render the {notice} mail: {detail}")]
pub struct RenderError {
    pub notice: &'static str,
    pub detail: String,
}

macro_rules! templates {
    ($($notice:literal),+ $(,)?) => {
        &[$(
            ($notice, [
                ("subject.sv.txt", include_str!(concat!("../../templates/mail/", $notice, "/subject.sv.txt"))),
                ("body.sv.txt", include_str!(concat!("../../templates/mail/", $notice, "/body.sv.txt"))),
                ("body.sv.html", include_str!(concat!("../../templates/mail/", $notice, "/body.sv.html"))),
                ("subject.en.txt", include_str!(concat!("../../templates/mail/", $notice, "/subject.en.txt"))),
                ("body.en.txt", include_str!(concat!("../../templates/mail/", $notice, "/body.en.txt"))),
                ("body.en.html", include_str!(concat!("../../templates/mail/", $notice, "/body.en.html"))),
            ]),
        )+]
    };
}

/// Every notice's six templates: subject, text and HTML in Swedish and English.
const TEMPLATES: &[(&str, [(&str, &str); 6])] = templates!(
    "idea_received",
    "selected",
    "not_selected",
    "seminar_invitation",
    "panel_invitation",
    "plan_received",
    "plan_deadline_reminder",
    "lapsed",
    "prepared_for_decision",
    "granted",
    "declined",
    "withdrawn",
);

const LAYOUT_HTML: &str = include_str!("../../templates/mail/layout.html");
const SIGNATURE_SV: &str = include_str!("../../templates/mail/signature.sv.txt");
const SIGNATURE_EN: &str = include_str!("../../templates/mail/signature.en.txt");

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_keep_trailing_newline(false);
        env.add_template("layout.html", LAYOUT_HTML).expect("the layout template parses");
        env.add_template("signature.sv.txt", SIGNATURE_SV).expect("the signature parses");
        env.add_template("signature.en.txt", SIGNATURE_EN).expect("the signature parses");
        for (notice, files) in TEMPLATES {
            for (file, source) in files {
                env.add_template_owned(format!("{notice}/{file}"), *source)
                    .unwrap_or_else(|e| panic!("template {notice}/{file} does not parse: {e}"));
            }
        }
        env
    })
}

const MONTHS_SV: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `31 augusti 2010 kl. 23.59` / `31 August 2010 at 23:59`, Stockholm time.
pub fn when(instant: DateTime<Utc>, lang: Language) -> String {
    let t = instant.with_timezone(&Stockholm);
    let month = t.month0() as usize;
    match lang {
        Language::Sv => format!("{} {} {} kl. {:02}.{:02}", t.day(), MONTHS_SV[month], t.year(), t.hour(), t.minute()),
        Language::En => format!("{} {} {} at {:02}:{:02}", t.day(), MONTHS_EN[month], t.year(), t.hour(), t.minute()),
    }
}

/// `5 oktober 2010` / `5 October 2010`, Stockholm date.
pub fn date(instant: DateTime<Utc>, lang: Language) -> String {
    let t = instant.with_timezone(&Stockholm);
    let month = t.month0() as usize;
    match lang {
        Language::Sv => format!("{} {} {}", t.day(), MONTHS_SV[month], t.year()),
        Language::En => format!("{} {} {}", t.day(), MONTHS_EN[month], t.year()),
    }
}

#[derive(Serialize)]
struct SeminarView {
    title: String,
    when: String,
    location: String,
}

/// What rendering a mail needs besides its notice: which mail it is, when it
/// was queued, and whom the recipient may ask.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The mail's id (its outbox row): the calendar UIDs derive from it.
    pub uid: &'a str,
    /// When the mail was queued (the outbox row's `created_at`): the
    /// `DTSTAMP` of its invitation.
    pub queued_at: DateTime<Utc>,
    /// The address the mail names for questions; also its `Reply-To`.
    /// `None` leaves the sentence out.
    pub contact: Option<&'a str>,
}

/// What every mail of one call says alike, in one language and naming one
/// contact: the call's title and dates, its seminars, the signatures. The
/// mail worker works it out once per call and language rather than once per
/// mail (see [`render_with`]).
#[derive(Debug)]
pub struct CallText {
    lang: Language,
    contact: Option<String>,
    call_title: String,
    seminars: minijinja::Value,
    seminar_events: Vec<ics::Event>,
    closes_at: String,
    plan_deadline: String,
    panel_at: String,
    meeting_date: String,
    /// The text part's signature, trimmed.
    signature: String,
    /// The HTML part's signature: escaped, lines ending in `<br>`.
    html_signature: minijinja::Value,
}

impl CallText {
    /// `call`'s text in `lang`, naming `contact` for questions (`None`
    /// leaves the sentence out).
    pub fn new(call: &Call, lang: Language, contact: Option<&str>) -> Result<Self, RenderError> {
        let def = &call.definition;
        let t = &def.timeline;
        let call_title = match (lang, &def.title_en) {
            (Language::En, Some(en)) => en.to_string(),
            _ => def.title.to_string(),
        };
        let seminars: Vec<SeminarView> = t
            .seminars
            .iter()
            .map(|s| SeminarView {
                title: s.title.get(lang).to_owned(),
                when: when(s.starts_at, lang),
                location: s.location.clone(),
            })
            .collect();
        let seminar_events = t
            .seminars
            .iter()
            .map(|s| ics::Event {
                uid_suffix: format!("seminar-{}", s.id),
                summary: format!("{} – {}", s.title.get(lang), call_title),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                location: Some(s.location.clone()),
            })
            .collect();
        let signature_template = format!("signature.{}.txt", lang.tag());
        let signature = environment()
            .get_template(&signature_template)
            .and_then(|tpl| tpl.render(context! { lang => lang.tag(), contact => contact }))
            .map_err(|e| RenderError { notice: "signature", detail: format!("{signature_template}: {e:#}") })?
            .trim_end()
            .to_owned();
        let html_signature = html_signature(lang)
            .as_ref()
            .map_err(|e| RenderError { notice: "signature", detail: format!("{signature_template}: {e}") })?;
        Ok(Self {
            lang,
            contact: contact.map(str::to_owned),
            call_title,
            seminars: minijinja::Value::from_serialize(&seminars),
            seminar_events,
            closes_at: when(t.closes_at, lang),
            plan_deadline: when(t.plan_deadline, lang),
            panel_at: when(t.panel_at, lang),
            meeting_date: date(t.decision_meeting_at, lang),
            signature,
            html_signature: minijinja::Value::from_safe_string(html_signature.clone()),
        })
    }

    pub fn language(&self) -> Language {
        self.lang
    }
}

/// Renders `intent` for a preview that knows neither when the mail was
/// queued nor the configured contact: the invitation's `DTSTAMP` is now,
/// and the footer names no contact. What is sent is rendered by
/// [`render_mail`] (see `MailWorker::render_row`).
pub fn render(intent: &NotificationIntent, idea: &IdeaState, call: &Call, uid: &str) -> Result<Rendered, RenderError> {
    render_mail(intent, idea, call, &Envelope { uid, queued_at: Utc::now(), contact: None })
}

/// Renders `intent` for its recipient. `idea` is the idea's current state
/// (for its title), `call` the call it belongs to; `envelope` says which
/// mail this is, when it was queued and whom to contact.
pub fn render_mail(
    intent: &NotificationIntent,
    idea: &IdeaState,
    call: &Call,
    envelope: &Envelope<'_>,
) -> Result<Rendered, RenderError> {
    let text = CallText::new(call, intent.to.language, envelope.contact)?;
    render_with(intent, idea, &text, envelope.uid, envelope.queued_at)
}

/// As [`render_mail`], with the call's text already worked out: `text` must
/// be of the intent's call, in the recipient's language, naming the contact
/// the mail should name. `uid` is the mail's id, `queued_at` when it was
/// queued (see [`Envelope`]).
pub fn render_with(
    intent: &NotificationIntent,
    idea: &IdeaState,
    text: &CallText,
    uid: &str,
    queued_at: DateTime<Utc>,
) -> Result<Rendered, RenderError> {
    let notice = intent.notice.key();
    let lang = text.lang;
    let err = |detail: String| RenderError { notice, detail };
    if intent.to.language != lang {
        return Err(err(format!(
            "the call's text is in {}, the recipient reads {}",
            lang.tag(),
            intent.to.language.tag()
        )));
    }
    // The intent carries the facts as they were when the mail was decided;
    // the idea's current state is only a fallback for rows written before
    // intents carried them.
    let idea_title = intent
        .idea_title
        .as_ref()
        .map(|t| t.to_string())
        .or_else(|| idea.idea().map(|i| i.details.title.to_string()))
        .unwrap_or_default();
    let motivation = match &intent.notice {
        Notice::NotSelected { motivation } | Notice::Declined { motivation, .. } => Some(motivation.to_string()),
        Notice::Selected { motivation: Some(m) } => Some(m.to_string()),
        Notice::Selected { motivation: None } => match idea {
            IdeaState::Selected(s) => s.selection.motivation.as_ref().map(|m| m.to_string()),
            _ => None,
        },
        _ => None,
    };
    let (deadline, days_before) = match &intent.notice {
        Notice::PlanDeadlineReminder { deadline, days_before } => (Some(when(*deadline, lang)), Some(*days_before)),
        Notice::Lapsed { deadline } => (Some(when(*deadline, lang)), None),
        _ => (None, None),
    };
    let (amount, conditions, registry) = match &intent.notice {
        Notice::Granted { amount, conditions, registry, .. } => {
            (Some(amount.to_string()), conditions.as_ref().map(|c| c.to_string()), Some(registry.to_string()))
        }
        Notice::Declined { registry, .. } => (None, None, Some(registry.to_string())),
        _ => (None, None, None),
    };
    let requested = match &intent.notice {
        Notice::PlanReceived { requested } => Some(requested.to_string()),
        _ => None,
    };
    let pitch_at = match &intent.notice {
        Notice::PanelInvitation { at } => Some(when(*at, lang)),
        _ => None,
    };
    let submitted_at = match (&intent.notice, idea) {
        (Notice::IdeaReceived { submitted_at: Some(at) }, _) => Some(when(*at, lang)),
        (_, IdeaState::Submitted(s)) => Some(when(s.submitted_at, lang)),
        _ => None,
    };
    let ctx = context! {
        lang => lang.tag(),
        name => intent.to.name.as_str(),
        idea_title => idea_title,
        call_title => &text.call_title,
        seminars => &text.seminars,
        motivation => motivation,
        submitted_at => submitted_at,
        closes_at => &text.closes_at,
        plan_deadline => &text.plan_deadline,
        deadline => deadline.as_ref().unwrap_or(&text.plan_deadline),
        days_before => days_before,
        pitch_at => pitch_at,
        panel_at => &text.panel_at,
        requested => requested,
        amount => amount,
        conditions => conditions,
        registry => registry,
        meeting_date => &text.meeting_date,
        contact => text.contact.as_deref(),
    };
    let env = environment();
    let part = |stem: &str, ext: &str| -> Result<String, RenderError> {
        let name = format!("{notice}/{stem}.{}.{ext}", lang.tag());
        env.get_template(&name).and_then(|tpl| tpl.render(&ctx)).map_err(|e| err(format!("{name}: {e:#}")))
    };
    let subject = part("subject", "txt")?.trim().to_owned();
    let body = part("body", "txt")?;
    let text_part = format!("{}\n\n{}\n", body.trim_end(), text.signature);
    let inner = part("body", "html")?;
    let html = env
        .get_template("layout.html")
        .and_then(|tpl| {
            tpl.render(context! {
                lang => lang.tag(),
                subject => &subject,
                content => inner,
                contact => text.contact.as_deref(),
                signature => &text.html_signature,
            })
        })
        .map_err(|e| err(format!("layout.html: {e:#}")))?;

    let ics = match &intent.notice {
        Notice::SeminarInvitation => Some(ics::calendar(uid, queued_at, text.seminar_events.iter().cloned())),
        Notice::PanelInvitation { at } => Some(ics::calendar(
            uid,
            queued_at,
            [ics::Event {
                uid_suffix: "panel".into(),
                summary: match lang {
                    Language::Sv => format!("Draknästet: {idea_title}"),
                    Language::En => format!("Pitch panel (Draknästet): {idea_title}"),
                },
                starts_at: *at,
                ends_at: *at + chrono::Duration::minutes(20),
                location: None,
            }],
        )),
        _ => None,
    };
    Ok(Rendered { subject, text: text_part, html, ics })
}

/// The signature of the HTML part: the text one without the contact
/// sentence (the HTML states the contact in its own paragraph, with a
/// link), escaped, each line but the last ending in `<br>`. The same for
/// every mail in a language, so rendered once.
fn html_signature(lang: Language) -> &'static Result<String, String> {
    static SV: OnceLock<Result<String, String>> = OnceLock::new();
    static EN: OnceLock<Result<String, String>> = OnceLock::new();
    let cell = match lang {
        Language::Sv => &SV,
        Language::En => &EN,
    };
    cell.get_or_init(|| {
        environment()
            .get_template(&format!("signature.{}.txt", lang.tag()))
            .and_then(|tpl| tpl.render(context! { lang => lang.tag() }))
            .map(|s| minijinja::HtmlEscape(s.trim()).to_string().replace('\n', "<br>\n"))
            .map_err(|e| e.to_string())
    })
}

/// Every notice key with a template folder; a test checks it covers the core's notices.
pub fn notices() -> impl Iterator<Item = &'static str> {
    TEMPLATES.iter().map(|(n, _)| *n)
}
