//! `mops minutes`: the minutes (protokoll) of a board meeting, in Swedish,
//! as Markdown or as a printable HTML document.
//!
//! There is no meetings table yet: a meeting is known by the decisions that
//! carry its id, and its time is that of its first decision.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mops_core::Stage;
use mops_core::domain::{CallId, MeetingId, Sek};

use super::format::{html, markdown};
use super::{DecisionRow, Organisations, ReportError, Verdict, local_date, local_datetime, order_decisions};
use crate::store::Store;

/// The formats of `mops minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MinutesFormat {
    /// Markdown, to paste into a document or a wiki.
    #[default]
    Md,
    /// A complete HTML document, ready to print.
    Html,
}

/// A call with decisions at the meeting, and its totals over all meetings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLine {
    pub id: CallId,
    pub title: String,
    pub budget: Sek,
    pub granted_total: Sek,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minutes {
    pub meeting: MeetingId,
    /// The time of the meeting's first decision.
    pub at: DateTime<Utc>,
    pub calls: Vec<CallLine>,
    /// In the order they were taken: § 1, § 2, …
    pub decisions: Vec<DecisionRow>,
}

impl Minutes {
    pub fn granted(&self) -> impl Iterator<Item = &DecisionRow> {
        self.decisions.iter().filter(|d| d.decision == Verdict::Granted)
    }

    pub fn granted_total(&self) -> Sek {
        Sek::from_ore(self.granted().filter_map(|d| d.amount_ore).sum()).unwrap_or(Sek::ZERO)
    }

    fn declined_count(&self) -> usize {
        self.decisions.len() - self.granted().count()
    }
}

/// Reads every decision taken at `meeting`, over all calls. A meeting with
/// no decision is a usage error that lists the meetings there are.
pub async fn load<S: Store>(store: &S, meeting: MeetingId) -> Result<Minutes, ReportError> {
    let orgs = Organisations::known();
    let mut all = Vec::new();
    let mut calls = BTreeMap::new();
    for call in store.calls().await? {
        let Some(call) = call.state.call() else { continue };
        let mut any = false;
        for stage in [Stage::Granted, Stage::Declined] {
            for idea in store.ideas(call.id, Some(stage)).await? {
                if let Some(row) = DecisionRow::from_state(&idea.state, &orgs) {
                    any |= row.meeting_id == meeting;
                    all.push(row);
                }
            }
        }
        if any {
            let total = store.funnel(call.id).await?.granted_total;
            calls.insert(
                call.id,
                CallLine {
                    id: call.id,
                    title: call.definition.title.to_string(),
                    budget: call.definition.budget,
                    granted_total: total,
                },
            );
        }
    }
    let all = order_decisions(all);
    let decisions: Vec<DecisionRow> = all.iter().filter(|d| d.meeting_id == meeting).cloned().collect();
    let Some(first) = decisions.first() else {
        return Err(ReportError::Usage(format!(
            "no decision was taken at a meeting with id {meeting}.{}",
            meetings(&all)
        )));
    };
    let mut order: Vec<CallId> = Vec::new();
    for d in &decisions {
        if !order.contains(&d.call_id) {
            order.push(d.call_id);
        }
    }
    Ok(Minutes {
        meeting,
        at: first.decided_at,
        calls: order.iter().filter_map(|id| calls.remove(id)).collect(),
        decisions,
    })
}

/// The meetings that have decisions, for the error message.
fn meetings(all: &[DecisionRow]) -> String {
    let mut seen: Vec<(MeetingId, String, usize)> = Vec::new();
    for d in all {
        match seen.iter_mut().find(|(m, _, _)| *m == d.meeting_id) {
            Some(entry) => entry.2 += 1,
            None => seen.push((d.meeting_id, d.meeting_date.clone(), 1)),
        }
    }
    if seen.is_empty() {
        return " No board decision has been recorded yet.".into();
    }
    let mut out = String::from("\nMeetings with decisions:");
    for (id, date, n) in seen {
        out.push_str(&format!("\n  {id}  {date}, {n} decision{}", if n == 1 { "" } else { "s" }));
    }
    out
}

/// What the board decided, as the minutes word it.
fn wording(d: &DecisionRow) -> String {
    match (d.decision, d.amount()) {
        (Verdict::Granted, Some(a)) => format!("Styrelsen beslutar att bevilja projektet {a}."),
        (Verdict::Granted, None) => "Styrelsen beslutar att bevilja projektet.".into(),
        (Verdict::Declined, _) => "Styrelsen beslutar att avslå ansökan.".into(),
    }
}

fn heading(m: &Minutes) -> String {
    format!("Protokoll från styrelsemöte {}", local_date(m.at))
}

fn call_summary(c: &CallLine) -> String {
    format!(
        "budget {}, beviljat totalt {}, kvar {}",
        c.budget,
        c.granted_total,
        c.budget.saturating_sub(c.granted_total)
    )
}

const SIGNATURES: [&str; 3] = ["Ordförande", "Justerare", "Sekreterare (vid protokollet)"];

pub fn render(m: &Minutes, format: MinutesFormat) -> String {
    match format {
        MinutesFormat::Md => md(m),
        MinutesFormat::Html => html_document(m),
    }
}

pub fn md(m: &Minutes) -> String {
    let mut out = format!("# {}\n\n", heading(m));
    out.push_str("- **Organ:** Samhällskontraktets styrelse\n");
    out.push_str(&format!("- **Tid:** {}\n", local_datetime(m.at)));
    out.push_str(&format!("- **Mötets id:** {}\n", m.meeting));
    for c in &m.calls {
        out.push_str(&format!("- **Utlysning:** {} (id {})\n", markdown(&c.title), c.id));
    }
    let several = m.calls.len() > 1;
    for (n, d) in m.decisions.iter().enumerate() {
        out.push_str(&format!("\n## § {} {} {}\n\n", n + 1, d.registry, markdown(&d.title)));
        out.push_str(&format!("- **Diarienummer:** {}\n", d.registry));
        out.push_str(&format!("- **Idé:** {}\n", markdown(&d.title)));
        if several && let Some(c) = m.calls.iter().find(|c| c.id == d.call_id) {
            out.push_str(&format!("- **Utlysning:** {}\n", markdown(&c.title)));
        }
        out.push_str(&format!("- **Projektledarens organisation:** {}\n", markdown(&d.organisation)));
        out.push_str(&format!("- **Beslut:** {}. {}\n", capitalise(d.decision.sv()), wording(d)));
        if let Some(a) = d.amount() {
            out.push_str(&format!("- **Belopp:** {a}\n"));
        }
        if let Some(c) = &d.conditions {
            out.push_str(&format!("- **Villkor:** {}\n", markdown(c)));
        }
        if let Some(mo) = &d.motivation {
            out.push_str(&format!("- **Motivering:** {}\n", markdown(mo)));
        }
        out.push_str(&format!("- **Beslutat:** {}\n", local_datetime(d.decided_at)));
    }
    out.push_str("\n## Sammanfattning\n\n");
    out.push_str("| Beslut | Antal | Belopp |\n| --- | ---: | ---: |\n");
    out.push_str(&format!("| Beviljade | {} | {} |\n", m.granted().count(), m.granted_total()));
    out.push_str(&format!("| Avslagna | {} | |\n", m.declined_count()));
    out.push_str(&format!("| Totalt | {} | {} |\n\n", m.decisions.len(), m.granted_total()));
    for c in &m.calls {
        out.push_str(&format!("Utlysningen {}: {}.\n", markdown(&c.title), call_summary(c)));
    }
    out.push_str("\n## Justering\n\n");
    out.push_str("| Roll | Namn | Underskrift | Datum |\n| --- | --- | --- | --- |\n");
    for role in SIGNATURES {
        out.push_str(&format!("| {role} | | | |\n"));
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

const CSS: &str = "\
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
  max-width: 48rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; white-space: pre-line; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
caption { text-align: left; font-weight: 600; padding-bottom: .25rem; }
th, td { border: 1px solid #595959; padding: .4rem .6rem; text-align: left; vertical-align: top; }
.num { text-align: right; white-space: nowrap; }
.signatures td { height: 2.75rem; }
@media print {
  @page { margin: 2cm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 11pt; }
  section, table { break-inside: avoid; }
  h2 { break-after: avoid; }
}
";

pub fn html_document(m: &Minutes) -> String {
    let title = heading(m);
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n", html(&title)));
    out.push_str(&format!("<h1>{}</h1>\n<dl>\n", html(&title)));
    let field = |out: &mut String, dt: &str, dd: &str| out.push_str(&format!("<dt>{dt}</dt><dd>{dd}</dd>\n"));
    field(&mut out, "Organ", "Samhällskontraktets styrelse");
    field(&mut out, "Tid", &html(&local_datetime(m.at)));
    field(&mut out, "Mötets id", &m.meeting.to_string());
    for c in &m.calls {
        field(&mut out, "Utlysning", &format!("{} (id {})", html(&c.title), c.id));
    }
    out.push_str("</dl>\n");
    let several = m.calls.len() > 1;
    for (n, d) in m.decisions.iter().enumerate() {
        let id = format!("p{}", n + 1);
        out.push_str(&format!(
            "<section aria-labelledby=\"{id}\">\n<h2 id=\"{id}\">§ {} {} {}</h2>\n<dl>\n",
            n + 1,
            html(&d.registry),
            html(&d.title)
        ));
        field(&mut out, "Diarienummer", &html(&d.registry));
        field(&mut out, "Idé", &html(&d.title));
        if several && let Some(c) = m.calls.iter().find(|c| c.id == d.call_id) {
            field(&mut out, "Utlysning", &html(&c.title));
        }
        field(&mut out, "Projektledarens organisation", &html(&d.organisation));
        field(&mut out, "Beslut", &html(&format!("{}. {}", capitalise(d.decision.sv()), wording(d))));
        if let Some(a) = d.amount() {
            field(&mut out, "Belopp", &a.to_string_nbsp());
        }
        if let Some(c) = &d.conditions {
            field(&mut out, "Villkor", &html(c));
        }
        if let Some(mo) = &d.motivation {
            field(&mut out, "Motivering", &html(mo));
        }
        field(&mut out, "Beslutat", &html(&local_datetime(d.decided_at)));
        out.push_str("</dl>\n</section>\n");
    }
    out.push_str("<section aria-labelledby=\"summary\">\n<h2 id=\"summary\">Sammanfattning</h2>\n<table>\n");
    out.push_str("<caption>Styrelsens beslut vid mötet</caption>\n");
    out.push_str(
        "<thead><tr><th scope=\"col\">Beslut</th><th scope=\"col\" class=\"num\">Antal</th>\
         <th scope=\"col\" class=\"num\">Belopp</th></tr></thead>\n<tbody>\n",
    );
    let total = m.granted_total().to_string_nbsp();
    out.push_str(&format!(
        "<tr><th scope=\"row\">Beviljade</th><td class=\"num\">{}</td><td class=\"num\">{total}</td></tr>\n",
        m.granted().count()
    ));
    out.push_str(&format!(
        "<tr><th scope=\"row\">Avslagna</th><td class=\"num\">{}</td><td class=\"num\"></td></tr>\n",
        m.declined_count()
    ));
    out.push_str(&format!(
        "<tr><th scope=\"row\">Totalt</th><td class=\"num\">{}</td><td class=\"num\">{total}</td></tr>\n",
        m.decisions.len()
    ));
    out.push_str("</tbody>\n</table>\n");
    for c in &m.calls {
        out.push_str(&format!("<p>Utlysningen {}: {}.</p>\n", html(&c.title), html(&call_summary(c))));
    }
    out.push_str("</section>\n");
    out.push_str("<section aria-labelledby=\"signatures\">\n<h2 id=\"signatures\">Justering</h2>\n");
    out.push_str("<table class=\"signatures\">\n<caption>Protokollet justeras av</caption>\n");
    out.push_str(
        "<thead><tr><th scope=\"col\">Roll</th><th scope=\"col\">Namn</th><th scope=\"col\">Underskrift</th>\
         <th scope=\"col\">Datum</th></tr></thead>\n<tbody>\n",
    );
    for role in SIGNATURES {
        out.push_str(&format!("<tr><th scope=\"row\">{role}</th><td></td><td></td><td></td></tr>\n"));
    }
    out.push_str("</tbody>\n</table>\n</section>\n</main>\n</body>\n</html>\n");
    out
}
