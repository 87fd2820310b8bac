//! `report daily` as CSV and JSON. The PDF is in `pdf.rs`.

use expo_sync::output::SpreadsheetCsv;
use serde_json::json;

use super::charts::format_value;
use super::{Chart, DayFigures, StatsError};

/// The day as one long table, `figure,x,series,value`, with stable keys (not labels) so
/// that a spreadsheet pivot or a script reads every day's file the same way. The totals
/// come first, then every chart's values. Keys can be company and operator names, so
/// cells a spreadsheet would run as formulas are escaped.
pub fn daily_csv(figures: &DayFigures, charts: &[Chart]) -> Result<Vec<u8>, StatsError> {
    let output = |e: csv::Error| StatsError::Output(e.to_string());
    let mut out = SpreadsheetCsv::new(Vec::new());
    out.write_record(["figure", "x", "series", "value"]).map_err(output)?;
    let totals = &figures.totals;
    for (name, value) in [
        ("registered", totals.registered),
        ("registered_all_days", totals.registered_all_days),
        ("badges_issued", totals.badges_issued),
        ("reprints", totals.reprints),
        ("entries", totals.entries),
        ("exits", totals.exits),
        ("denied", totals.denied),
        ("inside", totals.inside),
    ] {
        out.write_record(["totals", "", name, &value.to_string()]).map_err(output)?;
    }
    for chart in charts {
        for series in &chart.series {
            for (x, value) in chart.x.iter().zip(&series.values) {
                out.write_record([
                    chart.id.key(),
                    &x.key,
                    &series.label.key,
                    &format_value(*value),
                ])
                .map_err(output)?;
            }
        }
    }
    out.into_inner().map_err(|e| StatsError::Output(e.to_string()))
}

/// The figures as one JSON document (`report daily --format json`).
pub fn daily_json(figures: &DayFigures) -> Result<Vec<u8>, StatsError> {
    let mut document =
        serde_json::to_value(figures).map_err(|e| StatsError::Output(e.to_string()))?;
    // Rates are derived: scripts should not have to recompute them.
    if let Some(reprints) = document.get_mut("reprints").and_then(|r| r.as_array_mut()) {
        for (entry, source) in reprints.iter_mut().zip(&figures.reprints) {
            entry["rate"] = json!(source.rate());
        }
    }
    let mut bytes =
        serde_json::to_vec_pretty(&document).map_err(|e| StatsError::Output(e.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}
