//! `mops report funnel`: how many ideas reached each step of a call, how
//! many stopped where, and the total granted; as text, CSV, JSON or an SVG
//! chart for the annual report.

use mops_core::Stage;
use mops_core::domain::{CallId, Sek};
use serde::Serialize;

use super::format::{self, Align, Cell};
use super::{CallSummary, ReportError, ReportFormat, select_call};
use crate::store::Store;

/// The four steps as the annual report names them.
pub const STEP_LABELS: [&str; 4] = ["Inkomna idéer", "Utvalda", "Projektplaner", "Beviljade"];

/// The funnel of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunnelReport {
    pub call: CallSummary,
    /// The year the call opened, for titles.
    #[serde(skip)]
    pub year: i32,
    /// Ideas that reached each step (an idea that went further counts at
    /// every step before).
    pub submitted: u32,
    pub selected: u32,
    pub plans_submitted: u32,
    pub granted: u32,
    /// Where ideas stopped (their stage now).
    pub not_selected: u32,
    pub lapsed: u32,
    pub declined: u32,
    pub withdrawn: u32,
    /// Submitted ideas not yet at a final stage.
    pub in_progress: u32,
    /// The sum of all grants, in öre.
    pub granted_total_ore: i64,
    /// The call's budget, in öre.
    pub budget_ore: i64,
}

impl FunnelReport {
    pub fn granted_total(&self) -> Sek {
        Sek::from_ore(self.granted_total_ore).unwrap_or(Sek::ZERO)
    }

    pub fn steps(&self) -> [(&'static str, u32); 4] {
        [
            (STEP_LABELS[0], self.submitted),
            (STEP_LABELS[1], self.selected),
            (STEP_LABELS[2], self.plans_submitted),
            (STEP_LABELS[3], self.granted),
        ]
    }

    fn outcomes(&self) -> [(&'static str, u32); 5] {
        [
            ("Inte utvalda", self.not_selected),
            ("Förfallna (ingen projektplan i tid)", self.lapsed),
            ("Avslagna", self.declined),
            ("Återkallade", self.withdrawn),
            ("Under behandling", self.in_progress),
        ]
    }
}

/// Reads the funnel of `call` (or of the only call) from the indexed columns.
pub async fn load<S: Store>(store: &S, call: Option<CallId>) -> Result<FunnelReport, ReportError> {
    let call = select_call(store, call).await?;
    let funnel = store.funnel(call.id).await?;
    let stages = store.stage_counts(call.id).await?;
    let in_progress = [Stage::Submitted, Stage::Selected, Stage::Pitched, Stage::PlanSubmitted, Stage::Prepared]
        .iter()
        .map(|s| stages.get(*s))
        .sum();
    Ok(FunnelReport {
        call: CallSummary::of(&call),
        year: chrono::Datelike::year(&super::local_naive_date(call.definition.timeline.opens_at)),
        submitted: funnel.submitted,
        selected: funnel.selected,
        plans_submitted: funnel.plans_submitted,
        granted: funnel.granted,
        not_selected: stages.get(Stage::NotSelected),
        lapsed: stages.get(Stage::Lapsed),
        declined: stages.get(Stage::Declined),
        withdrawn: stages.get(Stage::Withdrawn),
        in_progress,
        granted_total_ore: funnel.granted_total.ore(),
        budget_ore: call.definition.budget.ore(),
    })
}

/// The report in `format`.
pub fn render(report: &FunnelReport, format: ReportFormat) -> Result<Vec<u8>, ReportError> {
    Ok(match format {
        ReportFormat::Text => text(report),
        ReportFormat::Csv => csv(report),
        ReportFormat::Json => json(report)?,
        ReportFormat::Svg => svg(report),
    }
    .into_bytes())
}

pub fn text(r: &FunnelReport) -> String {
    let mut out = format!("Idétratt – {}\nUtlysning {} ({})\n\n", r.call.title, r.call.id, phase_sv(&r.call.phase));
    let mut previous = None;
    let rows: Vec<Vec<String>> = r
        .steps()
        .iter()
        .map(|(label, n)| {
            let share = previous.map(|p| format::percent(*n, p)).unwrap_or_default();
            previous = Some(*n);
            vec![(*label).to_owned(), n.to_string(), share]
        })
        .collect();
    out.push_str(&format::table(
        &["Steg", "Antal", "Andel av föregående"],
        &[Align::Left, Align::Right, Align::Right],
        &rows,
    ));
    out.push('\n');
    let rows: Vec<Vec<String>> = r.outcomes().iter().map(|(l, n)| vec![(*l).to_owned(), n.to_string()]).collect();
    out.push_str(&format::table(&["Utfall", "Antal"], &[Align::Left, Align::Right], &rows));
    out.push('\n');
    out.push_str(&format!(
        "Beviljat totalt: {} till {} projekt (budget {}).\n",
        r.granted_total(),
        r.granted,
        Sek::from_ore(r.budget_ore).unwrap_or(Sek::ZERO)
    ));
    out
}

pub fn csv(r: &FunnelReport) -> String {
    let mut rows: Vec<Vec<Cell>> =
        r.steps().iter().map(|(label, n)| vec![Cell::text(*label), Cell::count(n), Cell::Empty]).collect();
    rows[3][2] = Cell::kronor(r.granted_total());
    rows.extend(r.outcomes().iter().map(|(label, n)| vec![Cell::text(*label), Cell::count(n), Cell::Empty]));
    format::csv(&["Steg", "Antal", "Belopp (kr)"], &rows)
}

pub fn json(r: &FunnelReport) -> Result<String, ReportError> {
    serde_json::to_string_pretty(r).map(|s| s + "\n").map_err(|e| ReportError::CannotRun(e.to_string()))
}

/// The phase as a Swedish label.
pub(crate) fn phase_sv(key: &str) -> &'static str {
    mops_core::CallPhase::from_key(key).map_or("okänd fas", |p| p.label(mops_core::Language::Sv))
}

/// The funnel as an SVG chart for an annual report: four centred bars whose
/// widths are proportional to the counts, Swedish labels, the granted total.
/// Self-contained (no fonts, images or scripts to load), accessible (a
/// `<title>` and a `<desc>` that says all the chart says, `role="img"`),
/// dark text and bars on white with contrast above 7:1.
pub fn svg(r: &FunnelReport) -> String {
    use format::xml;
    const WIDTH: u32 = 720;
    const LABEL_X: u32 = 24;
    const BAR_LEFT: f64 = 232.0;
    const BAR_SPACE: f64 = 464.0;
    const BAR_TOP: u32 = 92;
    const BAR_HEIGHT: u32 = 48;
    const GAP: u32 = 14;
    const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
    const INK: &str = "#1a1a1a";
    const MUTED: &str = "#4d4d4d";
    const BARS: [&str; 4] = ["#0b3c5d", "#124e78", "#1b5e8c", "#0f6b4f"];

    let steps = r.steps();
    let max = steps.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let height = BAR_TOP + 4 * (BAR_HEIGHT + GAP) + 56;
    let title = format!("Idétratt {}: {}", r.year, r.call.title);
    let total = r.granted_total();
    let desc = format!(
        "{} inkomna idéer, {} utvalda till seminarieserien, {} projektplaner och {} beviljade projekt. \
         Beviljat totalt {}.",
        r.submitted, r.selected, r.plans_submitted, r.granted, total
    );

    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" xml:lang=\"sv\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-labelledby=\"mops-funnel-title mops-funnel-desc\" \
         font-family=\"{}\">\n",
        xml(FONT)
    ));
    out.push_str(&format!("  <title id=\"mops-funnel-title\">{}</title>\n", xml(&title)));
    out.push_str(&format!("  <desc id=\"mops-funnel-desc\">{}</desc>\n", xml(&desc)));
    out.push_str(&format!("  <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>\n"));
    out.push_str(&format!(
        "  <text x=\"{LABEL_X}\" y=\"40\" font-size=\"22\" font-weight=\"700\" fill=\"{INK}\">{}</text>\n",
        xml(&truncate(&r.call.title, 56))
    ));
    out.push_str(&format!(
        "  <text x=\"{LABEL_X}\" y=\"66\" font-size=\"15\" fill=\"{MUTED}\">Idétratt {}: från inkomna idéer till \
         beviljade projekt</text>\n",
        r.year
    ));
    let centre = BAR_LEFT + BAR_SPACE / 2.0;
    let mut previous: Option<u32> = None;
    for (i, (label, n)) in steps.iter().enumerate() {
        let y = BAR_TOP + i as u32 * (BAR_HEIGHT + GAP);
        let mid = y + BAR_HEIGHT / 2;
        let width = if *n == 0 { 2.0 } else { (BAR_SPACE * f64::from(*n) / f64::from(max)).max(4.0) };
        let x = centre - width / 2.0;
        out.push_str("  <g>\n");
        out.push_str(&format!(
            "    <text x=\"{LABEL_X}\" y=\"{}\" font-size=\"16\" font-weight=\"600\" fill=\"{INK}\">{}</text>\n",
            if previous.is_some() { mid - 3 } else { mid + 6 },
            xml(label)
        ));
        if let Some(p) = previous {
            out.push_str(&format!(
                "    <text x=\"{LABEL_X}\" y=\"{}\" font-size=\"13\" fill=\"{MUTED}\">{} av föregående steg</text>\n",
                mid + 15,
                xml(&format::percent(*n, p))
            ));
        }
        out.push_str(&format!(
            "    <rect x=\"{x:.1}\" y=\"{y}\" width=\"{width:.1}\" height=\"{BAR_HEIGHT}\" rx=\"4\" fill=\"{}\"/>\n",
            BARS[i]
        ));
        // The count inside the bar in white when it fits, beside it in ink
        // when it does not.
        if width >= 48.0 {
            out.push_str(&format!(
                "    <text x=\"{centre:.1}\" y=\"{}\" font-size=\"20\" font-weight=\"700\" fill=\"#ffffff\" \
                 text-anchor=\"middle\">{n}</text>\n",
                mid + 7
            ));
        } else {
            out.push_str(&format!(
                "    <text x=\"{:.1}\" y=\"{}\" font-size=\"20\" font-weight=\"700\" fill=\"{INK}\">{n}</text>\n",
                x + width + 8.0,
                mid + 7
            ));
        }
        out.push_str("  </g>\n");
        previous = Some(*n);
    }
    let y = BAR_TOP + 4 * (BAR_HEIGHT + GAP) + 28;
    out.push_str(&format!(
        "  <text x=\"{LABEL_X}\" y=\"{y}\" font-size=\"17\" font-weight=\"700\" fill=\"{INK}\">\
         Beviljat totalt: {} till {} projekt</text>\n",
        xml(&total.to_string()),
        r.granted
    ));
    out.push_str("</svg>\n");
    out
}

/// At most `max` characters, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { s.chars().take(max - 1).collect::<String>() + "…" }
}
