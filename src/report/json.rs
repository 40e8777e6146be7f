//! `report.json`: takes a [`Report`], gives its pretty-printed JSON (the schema is the data
//! model in `report/mod.rs`, versioned by `schema_version`).

use super::Report;

/// Pretty JSON of `report`, ending in a newline.
///
/// # Errors
/// The serde_json message; only possible for a non-finite float, which JSON cannot hold.
pub fn render(report: &Report) -> Result<Vec<u8>, String> {
    let mut bytes = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}
