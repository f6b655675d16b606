//! `mops report budget`: a call's budget, what has been granted (each grant
//! with its registry number), what remains, and the ceiling per project.

use mops_core::Stage;
use mops_core::domain::{CallId, IdeaId, Sek};
use serde::Serialize;

use super::format::{self, Align, Cell};
use super::{CallSummary, ReportError, ReportFormat, select_call};
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub registry: String,
    pub idea_id: IdeaId,
    pub title: String,
    pub amount_ore: i64,
    pub decided_at: chrono::DateTime<chrono::Utc>,
}

/// Amounts in öre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetReport {
    pub call: CallSummary,
    pub budget_ore: i64,
    /// The most one project may be granted, if the call has a ceiling.
    pub ceiling_ore: Option<i64>,
    pub granted_total_ore: i64,
    pub remaining_ore: i64,
    pub grants: Vec<Grant>,
}

fn sek(ore: i64) -> Sek {
    Sek::from_ore(ore).unwrap_or(Sek::ZERO)
}

pub async fn load<S: Store>(store: &S, call: Option<CallId>) -> Result<BudgetReport, ReportError> {
    let call = select_call(store, call).await?;
    let total = store.funnel(call.id).await?.granted_total;
    let budget = call.definition.budget;
    let mut grants: Vec<Grant> = store
        .ideas(call.id, Some(Stage::Granted))
        .await?
        .into_iter()
        .filter_map(|v| match v.state {
            mops_core::IdeaState::Granted(g) => {
                let idea = &g.prepared.plan.pitched.selected.submitted.idea;
                Some(Grant {
                    registry: g.decision.registry.to_string(),
                    idea_id: idea.id,
                    title: idea.details.title.to_string(),
                    amount_ore: g.amount.ore(),
                    decided_at: g.decision.at,
                })
            }
            _ => None,
        })
        .collect();
    grants.sort_by(|a, b| a.decided_at.cmp(&b.decided_at).then_with(|| a.registry.cmp(&b.registry)));
    Ok(BudgetReport {
        call: CallSummary::of(&call),
        budget_ore: budget.ore(),
        ceiling_ore: call.definition.ceiling.map(Sek::ore),
        granted_total_ore: total.ore(),
        remaining_ore: budget.saturating_sub(total).ore(),
        grants,
    })
}

/// The report in `format`; there is no SVG chart of the budget.
pub fn render(report: &BudgetReport, format: ReportFormat) -> Result<Vec<u8>, ReportError> {
    Ok(match format {
        ReportFormat::Text => text(report),
        ReportFormat::Csv => csv(report),
        ReportFormat::Json => {
            serde_json::to_string_pretty(report).map_err(|e| ReportError::CannotRun(e.to_string()))? + "\n"
        }
        ReportFormat::Svg => {
            return Err(ReportError::Usage(
                "there is no SVG chart of the budget (only of the funnel); use --format text, csv or json".into(),
            ));
        }
    }
    .into_bytes())
}

pub fn text(r: &BudgetReport) -> String {
    let mut out = format!("Budget – {}\nUtlysning {}\n\n", r.call.title, r.call.id);
    let ceiling = r.ceiling_ore.map_or_else(|| "inget".to_owned(), |c| sek(c).to_string());
    let rows = vec![
        vec!["Budget".to_owned(), sek(r.budget_ore).to_string()],
        vec!["Beviljat".to_owned(), sek(r.granted_total_ore).to_string()],
        vec!["Kvar att bevilja".to_owned(), sek(r.remaining_ore).to_string()],
        vec!["Takbelopp per projekt".to_owned(), ceiling],
    ];
    out.push_str(&format::table(&["Post", "Belopp"], &[Align::Left, Align::Right], &rows));
    out.push('\n');
    if r.grants.is_empty() {
        out.push_str("Inga beviljade projekt ännu.\n");
        return out;
    }
    let mut rows: Vec<Vec<String>> =
        r.grants.iter().map(|g| vec![g.registry.clone(), g.title.clone(), sek(g.amount_ore).to_string()]).collect();
    rows.push(vec![String::new(), "Summa".to_owned(), sek(r.grants.iter().map(|g| g.amount_ore).sum()).to_string()]);
    out.push_str(&format!("Beviljade projekt ({})\n", r.grants.len()));
    out.push_str(&format::table(
        &["Diarienummer", "Projekt", "Belopp"],
        &[Align::Left, Align::Left, Align::Right],
        &rows,
    ));
    out
}

/// One table: the budget lines, then one row per grant (`Post` =
/// `Beviljat`), so a filter on the first column gives either.
pub fn csv(r: &BudgetReport) -> String {
    let line = |post: &str, ore: Option<i64>| {
        vec![Cell::text(post), Cell::Empty, Cell::Empty, ore.map_or(Cell::Empty, |o| Cell::kronor(sek(o)))]
    };
    let mut rows = vec![
        line("Budget", Some(r.budget_ore)),
        line("Takbelopp per projekt", r.ceiling_ore),
        line("Summa beviljat", Some(r.granted_total_ore)),
        line("Kvar att bevilja", Some(r.remaining_ore)),
    ];
    rows.extend(r.grants.iter().map(|g| {
        vec![Cell::text("Beviljat"), Cell::text(&g.registry), Cell::text(&g.title), Cell::kronor(sek(g.amount_ore))]
    }));
    format::csv(&["Post", "Diarienummer", "Projekt", "Belopp (kr)"], &rows)
}
