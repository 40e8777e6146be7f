//! `metrics.csv`: takes a [`Report`], gives the tidy table of DESIGN.md "Outputs": one row per
//! session × metric, sessions in order and metrics in report order within a session.

use super::Report;

/// Column names, in order.
pub const HEADER: [&str; 9] = [
    "series",
    "session",
    "date",
    "metric",
    "value",
    "unit",
    "delta",
    "delta_pct",
    "within_noise",
];

/// The CSV bytes of `report`'s metrics.
///
/// # Errors
/// The csv crate's message (only on an internal writer failure; the target is memory).
pub fn render(report: &Report) -> Result<Vec<u8>, String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER).map_err(|e| e.to_string())?;
    for session in &report.sessions {
        for metric in &report.metrics {
            let Some(value) = metric.values.iter().find(|v| v.session == session.index) else {
                continue;
            };
            let record = [
                report.series.clone(),
                session.index.to_string(),
                session.date.clone().unwrap_or_default(),
                metric.name.clone(),
                number(value.value),
                metric.unit.clone(),
                number(value.delta),
                value.delta_pct.map(number).unwrap_or_default(),
                value
                    .within_noise
                    .map(|w| w.to_string())
                    .unwrap_or_default(),
            ];
            writer.write_record(&record).map_err(|e| e.to_string())?;
        }
    }
    writer.into_inner().map_err(|e| e.to_string())
}

/// Shortest round-trip text; empty for NaN/∞ so spreadsheet tools read a missing value.
fn number(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}
