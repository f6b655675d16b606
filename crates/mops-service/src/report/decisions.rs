//! `mops report decisions`: every board decision on a call's ideas, as the
//! register lists them: registry number, idea, the lead applicant's
//! organisation, granted or declined, amount, motivation, meeting, time.

use mops_core::domain::{CallId, Sek};
use serde::Serialize;

use super::format::{self, Cell};
use super::{CallSummary, DecisionRow, ReportError, ReportFormat, Verdict, call_decisions, select_call};
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionsReport {
    pub call: CallSummary,
    pub decisions: Vec<DecisionRow>,
    pub granted_count: u32,
    pub declined_count: u32,
    /// The sum of the grants listed, in öre.
    pub granted_total_ore: i64,
}

pub async fn load<S: Store>(store: &S, call: Option<CallId>) -> Result<DecisionsReport, ReportError> {
    let call = select_call(store, call).await?;
    let decisions = call_decisions(store, call.id).await?;
    let granted_count = decisions.iter().filter(|d| d.decision == Verdict::Granted).count() as u32;
    Ok(DecisionsReport {
        call: CallSummary::of(&call),
        granted_count,
        declined_count: decisions.len() as u32 - granted_count,
        granted_total_ore: decisions.iter().filter_map(|d| d.amount_ore).sum(),
        decisions,
    })
}

/// The report in `format`; there is no SVG chart of the decisions.
pub fn render(report: &DecisionsReport, format: ReportFormat) -> Result<Vec<u8>, ReportError> {
    Ok(match format {
        ReportFormat::Text => text(report),
        ReportFormat::Csv => csv(report),
        ReportFormat::Json => {
            serde_json::to_string_pretty(report).map_err(|e| ReportError::CannotRun(e.to_string()))? + "\n"
        }
        ReportFormat::Svg => {
            return Err(ReportError::Usage(
                "there is no SVG chart of the decisions (only of the funnel); use --format text, csv or json".into(),
            ));
        }
    }
    .into_bytes())
}

fn total(r: &DecisionsReport) -> Sek {
    Sek::from_ore(r.granted_total_ore).unwrap_or(Sek::ZERO)
}

pub fn text(r: &DecisionsReport) -> String {
    let mut out = format!("Styrelsens beslut – {}\nUtlysning {}\n\n", r.call.title, r.call.id);
    if r.decisions.is_empty() {
        out.push_str("Styrelsen har inte fattat något beslut i utlysningen ännu.\n");
        return out;
    }
    let width = r.decisions.iter().map(|d| d.registry.chars().count()).max().unwrap_or(0);
    let indent = " ".repeat(width + 2);
    for d in &r.decisions {
        let amount = d.amount().map(|a| format!(", {a}")).unwrap_or_default();
        out.push_str(&format!("{:<width$}  {}\n", d.registry, d.title));
        out.push_str(&format!("{indent}Beslut: {}{amount}\n", d.decision.sv()));
        out.push_str(&format!("{indent}Organisation: {}\n", d.organisation));
        out.push_str(&format!(
            "{indent}Möte: {} (id {}), beslutat {}\n",
            d.meeting_date,
            d.meeting_id,
            super::local_datetime(d.decided_at)
        ));
        if let Some(c) = &d.conditions {
            out.push_str(&format!("{indent}Villkor: {}\n", one_line(c)));
        }
        if let Some(m) = &d.motivation {
            out.push_str(&format!("{indent}Motivering: {}\n", one_line(m)));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{} beslut: {} beviljade ({}), {} avslagna.\n",
        r.decisions.len(),
        r.granted_count,
        total(r),
        r.declined_count
    ));
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn csv(r: &DecisionsReport) -> String {
    let rows: Vec<Vec<Cell>> = r
        .decisions
        .iter()
        .map(|d| {
            vec![
                Cell::text(&d.registry),
                Cell::text(&d.title),
                Cell::text(&d.organisation),
                Cell::text(d.decision.sv()),
                d.amount().map_or(Cell::Empty, Cell::kronor),
                Cell::opt_text(d.motivation.as_deref()),
                Cell::opt_text(d.conditions.as_deref()),
                Cell::Plain(d.meeting_date.clone()),
                Cell::Plain(super::local_datetime(d.decided_at)),
                Cell::Plain(d.meeting_id.to_string()),
            ]
        })
        .collect();
    format::csv(
        &[
            "Diarienummer",
            "Idé",
            "Projektledarens organisation",
            "Beslut",
            "Belopp (kr)",
            "Motivering",
            "Villkor",
            "Mötesdatum",
            "Beslutat",
            "Mötes-id",
        ],
        &rows,
    )
}
