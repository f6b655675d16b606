//! Renders a notification intent into a mail: subject, plain text and HTML
//! (and an iCalendar invitation where the notice is one), in the recipient's
//! language. Templates live in `templates/mail/<notice>/`, one folder per
//! notification, and are compiled into the binary.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Europe::Stockholm;
use minijinja::{Environment, Template, Value, context};
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

/// A notice's templates in a language, looked up once: the subject, the
/// text body and the HTML body.
fn notice_templates(notice: &'static str, lang: Language) -> Option<&'static [Template<'static, 'static>; 3]> {
    type Parts = HashMap<(&'static str, Language), [Template<'static, 'static>; 3]>;
    static PARTS: OnceLock<Parts> = OnceLock::new();
    PARTS
        .get_or_init(|| {
            let env = environment();
            let mut parts = Parts::new();
            for (notice, _) in TEMPLATES {
                for lang in [Language::Sv, Language::En] {
                    let tag = lang.tag();
                    let found = ["subject.{}.txt", "body.{}.txt", "body.{}.html"]
                        .map(|file| env.get_template(&format!("{notice}/{}", file.replace("{}", tag))).ok());
                    if let [Some(subject), Some(text), Some(html)] = found {
                        parts.insert((*notice, lang), [subject, text, html]);
                    }
                }
            }
            parts
        })
        .get(&(notice, lang))
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
///
/// Its strings are kept as template values, which a mail's variables share
/// rather than copy.
#[derive(Debug)]
pub struct CallText {
    lang: Language,
    contact: Value,
    call_title: Value,
    seminars: Value,
    seminar_events: Vec<ics::Prepared>,
    closes_at: Value,
    plan_deadline: Value,
    panel_at: Value,
    meeting_date: Value,
    /// The text part's signature, trimmed.
    signature: String,
    /// `layout.html` rendered for this call, cut where each mail's subject
    /// and content go.
    layout: Vec<LayoutPiece>,
}

/// A piece of the HTML layout as [`CallText`] keeps it.
#[derive(Debug, PartialEq)]
enum LayoutPiece {
    Text(String),
    /// The mail's subject, escaped as the template escapes it.
    Subject,
    /// The mail's HTML content, as it is.
    Content,
}

/// Stand-ins for the subject and the content while the layout is rendered
/// once per call: characters of Unicode's private use area, which no
/// template writes and HTML escaping leaves alone.
const SUBJECT_MARK: char = '\u{E000}';
const CONTENT_MARK: char = '\u{E001}';

/// `layout.html` for every mail of a call, cut at the stand-ins.
fn layout_pieces(lang: Language, contact: &Value, html_signature: &str) -> Result<Vec<LayoutPiece>, RenderError> {
    let rendered = environment()
        .get_template("layout.html")
        .and_then(|tpl| {
            tpl.render(context! {
                lang => lang.tag(),
                subject => SUBJECT_MARK.to_string(),
                content => Value::from_safe_string(CONTENT_MARK.to_string()),
                contact => contact,
                signature => Value::from_safe_string(html_signature.to_owned()),
            })
        })
        .map_err(|e| RenderError { notice: "layout", detail: format!("layout.html: {e:#}") })?;
    let mut pieces = Vec::new();
    let mut rest = rendered.as_str();
    while let Some(at) = rest.find([SUBJECT_MARK, CONTENT_MARK]) {
        if at > 0 {
            pieces.push(LayoutPiece::Text(rest[..at].to_owned()));
        }
        let mark = rest[at..].chars().next().expect("a mark at a char boundary");
        pieces.push(if mark == SUBJECT_MARK { LayoutPiece::Subject } else { LayoutPiece::Content });
        rest = &rest[at + mark.len_utf8()..];
    }
    if !rest.is_empty() {
        pieces.push(LayoutPiece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// The HTML part: `layout` with the mail's `subject` (escaped) and
/// `content` in their places.
fn fill_layout(layout: &[LayoutPiece], subject: &str, content: &str) -> String {
    use std::fmt::Write as _;
    let fixed: usize = layout.iter().map(|p| if let LayoutPiece::Text(t) = p { t.len() } else { 0 }).sum();
    let mut html = String::with_capacity(fixed + content.len() + 4 * subject.len());
    for piece in layout {
        match piece {
            LayoutPiece::Text(text) => html.push_str(text),
            LayoutPiece::Subject => {
                let _ = write!(html, "{}", minijinja::HtmlEscape(subject));
            }
            LayoutPiece::Content => html.push_str(content),
        }
    }
    html
}

/// The variables of one mail's templates, handed out by name as a template
/// asks for them: a map built for every mail (minijinja's `context!`) was
/// about a tenth of rendering.
#[derive(Debug)]
struct MailVars {
    lang: Value,
    name: Value,
    idea_title: Value,
    call_title: Value,
    seminars: Value,
    motivation: Value,
    submitted_at: Value,
    closes_at: Value,
    plan_deadline: Value,
    deadline: Value,
    days_before: Value,
    pitch_at: Value,
    panel_at: Value,
    requested: Value,
    amount: Value,
    conditions: Value,
    registry: Value,
    meeting_date: Value,
    contact: Value,
}

impl minijinja::value::Object for MailVars {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &std::sync::Arc<Self>, key: &str) -> Option<Value> {
        let value = match key {
            "lang" => &self.lang,
            "name" => &self.name,
            "idea_title" => &self.idea_title,
            "call_title" => &self.call_title,
            "seminars" => &self.seminars,
            "motivation" => &self.motivation,
            "submitted_at" => &self.submitted_at,
            "closes_at" => &self.closes_at,
            "plan_deadline" => &self.plan_deadline,
            "deadline" => &self.deadline,
            "days_before" => &self.days_before,
            "pitch_at" => &self.pitch_at,
            "panel_at" => &self.panel_at,
            "requested" => &self.requested,
            "amount" => &self.amount,
            "conditions" => &self.conditions,
            "registry" => &self.registry,
            "meeting_date" => &self.meeting_date,
            "contact" => &self.contact,
            _ => return None,
        };
        Some(value.clone())
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&[
            "lang",
            "name",
            "idea_title",
            "call_title",
            "seminars",
            "motivation",
            "submitted_at",
            "closes_at",
            "plan_deadline",
            "deadline",
            "days_before",
            "pitch_at",
            "panel_at",
            "requested",
            "amount",
            "conditions",
            "registry",
            "meeting_date",
            "contact",
        ])
    }
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
            .map(|s| {
                ics::Prepared::from(ics::Event {
                    uid_suffix: format!("seminar-{}", s.id),
                    summary: format!("{} – {}", s.title.get(lang), call_title),
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                    location: Some(s.location.clone()),
                })
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
        let contact = Value::from(contact);
        let layout = layout_pieces(lang, &contact, html_signature)?;
        Ok(Self {
            lang,
            contact,
            call_title: Value::from(call_title),
            seminars: Value::from_serialize(&seminars),
            seminar_events,
            closes_at: Value::from(when(t.closes_at, lang)),
            plan_deadline: Value::from(when(t.plan_deadline, lang)),
            panel_at: Value::from(when(t.panel_at, lang)),
            meeting_date: Value::from(date(t.decision_meeting_at, lang)),
            signature,
            layout,
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
    let ctx = Value::from_object(MailVars {
        lang: Value::from(lang.tag()),
        name: Value::from(intent.to.name.as_str()),
        idea_title: Value::from(idea_title.as_str()),
        call_title: text.call_title.clone(),
        seminars: text.seminars.clone(),
        motivation: Value::from(motivation),
        submitted_at: Value::from(submitted_at),
        closes_at: text.closes_at.clone(),
        plan_deadline: text.plan_deadline.clone(),
        deadline: deadline.map_or_else(|| text.plan_deadline.clone(), Value::from),
        days_before: Value::from(days_before),
        pitch_at: Value::from(pitch_at),
        panel_at: text.panel_at.clone(),
        requested: Value::from(requested),
        amount: Value::from(amount),
        conditions: Value::from(conditions),
        registry: Value::from(registry),
        meeting_date: text.meeting_date.clone(),
        contact: text.contact.clone(),
    });
    let templates = notice_templates(notice, lang).ok_or_else(|| err(format!("no templates in {}", lang.tag())))?;
    let part = |template: &Template<'static, 'static>| -> Result<String, RenderError> {
        template.render(&ctx).map_err(|e| err(format!("{}: {e:#}", template.name())))
    };
    let subject = part(&templates[0])?.trim().to_owned();
    let body = part(&templates[1])?;
    let body = body.trim_end();
    let mut text_part = String::with_capacity(body.len() + text.signature.len() + 3);
    for piece in [body, "\n\n", &text.signature, "\n"] {
        text_part.push_str(piece);
    }
    let inner = part(&templates[2])?;
    let html = fill_layout(&text.layout, &subject, &inner);

    let ics = match &intent.notice {
        Notice::SeminarInvitation => Some(ics::calendar(uid, queued_at, &text.seminar_events)),
        Notice::PanelInvitation { at } => Some(ics::calendar(
            uid,
            queued_at,
            &[ics::Prepared::from(ics::Event {
                uid_suffix: "panel".into(),
                summary: match lang {
                    Language::Sv => format!("Draknästet: {idea_title}"),
                    Language::En => format!("Pitch panel (Draknästet): {idea_title}"),
                },
                starts_at: *at,
                ends_at: *at + chrono::Duration::minutes(20),
                location: None,
            })],
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

#[cfg(test)]
mod tests {
    use minijinja::{Value, context};
    use mops_core::domain::Language;

    use super::{CONTENT_MARK, LayoutPiece, SUBJECT_MARK, environment, fill_layout, html_signature, layout_pieces};

    /// The layout rendered once per call and filled per mail is the layout
    /// rendered for the mail, whatever the subject and the content hold.
    #[test]
    fn the_layout_filled_in_is_the_layout_rendered() {
        let subjects = ["Din idé har kommit in", "R&D <i>\"quoted\"</i> it's a/b", "", "42", "ÅÄÖ – €"];
        let contents = ["<p>Hej!</p>\n<p>Två rader.</p>\n", "", "<p>a & b</p>"];
        for lang in [Language::Sv, Language::En] {
            let signature = html_signature(lang).as_ref().unwrap();
            for contact in [Value::from("processledare@example.se"), Value::from(None::<&str>)] {
                let layout = layout_pieces(lang, &contact, signature).unwrap();
                assert_eq!(layout.iter().filter(|p| **p == LayoutPiece::Subject).count(), 3);
                assert_eq!(layout.iter().filter(|p| **p == LayoutPiece::Content).count(), 1);
                for subject in subjects {
                    for content in contents {
                        let rendered = environment()
                            .get_template("layout.html")
                            .unwrap()
                            .render(context! {
                                lang => lang.tag(),
                                subject => subject,
                                content => content,
                                contact => &contact,
                                signature => Value::from_safe_string(signature.clone()),
                            })
                            .unwrap();
                        assert_eq!(fill_layout(&layout, subject, content), rendered, "{subject:?} {content:?}");
                    }
                }
                let filled = fill_layout(&layout, "s", "c");
                assert!(!filled.contains([SUBJECT_MARK, CONTENT_MARK]));
            }
        }
    }
}
