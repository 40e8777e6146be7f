//! batch summary: takes the batch database and gives the clinic-level `summary.csv` (one row per
//! series: sessions, dates, status, change of the main metrics since baseline) and
//! `summary.html` (the same table linking each series' report, and every input that could not
//! be used, with the reason). Both are written atomically.

use std::path::Path;

use rusqlite::params;

use super::db::{Db, FINE_DETAIL_RATIO, SCAR_REGIONS_ONE_PHOTO_ONLY};
use crate::error::{Error, Result};
use crate::report::{escape, write_atomic};

pub const CSV_FILE: &str = "summary.csv";
pub const HTML_FILE: &str = "summary.html";

const TEMPLATE: &str = include_str!("summary.html");

/// The metrics summarised per series (DESIGN.md names); `line_length` stands for
/// `line_length_mm_per_cm2` or, without a scale, `line_length_px_per_mp`.
pub const MAIN_METRICS: [&str; 6] = [
    "line_area_pct",
    "line_length",
    "line_count",
    "scar_area_pct",
    "roughness",
    "redness_a",
];

/// One series' summary row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesSummary {
    pub patient: String,
    pub area: String,
    pub status: String,
    pub sessions: i64,
    pub first_date: Option<String>,
    pub last_date: Option<String>,
    pub baseline: Option<String>,
    pub failed_inputs: i64,
    pub note: Option<String>,
    pub error: Option<String>,
    /// Per main metric: (unit, baseline value, last value, delta, delta %).
    pub metrics: Vec<Option<MetricChange>>,
    /// Whether the last session's photo is sharp alike with the baseline's, so that its
    /// roughness and fine lines compare (`None`: no later session, or measured before
    /// skintrack read focus).
    pub roughness_comparable: Option<bool>,
    /// Scar regions the last session or the baseline has and the other does not: its scar
    /// change needs a look at the overlays (`None`: no later session, or measured before
    /// skintrack compared scar regions).
    pub scar_regions_one_photo_only: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricChange {
    pub unit: String,
    pub baseline: Option<f64>,
    pub last: Option<f64>,
    pub delta: Option<f64>,
    pub delta_pct: Option<f64>,
    /// The change is within the metric's noise floor (`None`: no floor measured).
    pub within_noise: Option<bool>,
}

/// An input that could not be used.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedInput {
    pub series: String,
    pub photo: String,
    pub stage: String,
    pub error: String,
}

/// Every series in the database, by key, with its main metrics.
///
/// # Errors
/// [`Error::Output`] on a database failure.
pub fn series_rows(db: &Db) -> Result<Vec<SeriesSummary>> {
    let conn = db.conn();
    let fail = |e| db.fail(e);
    let mut stmt = conn
        .prepare(
            "SELECT s.key, s.patient, s.area, s.status, s.sessions, s.first_date, s.last_date, \
             s.baseline, s.note, s.error, \
             (SELECT COUNT(*) FROM photos p WHERE p.series_key = s.key AND p.status = 'failed') \
             FROM series s ORDER BY s.patient, s.area",
        )
        .map_err(fail)?;
    let rows: Vec<(String, SeriesSummary)> = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                SeriesSummary {
                    patient: r.get(1)?,
                    area: r.get(2)?,
                    status: r.get(3)?,
                    sessions: r.get(4)?,
                    first_date: r.get(5)?,
                    last_date: r.get(6)?,
                    baseline: r.get(7)?,
                    note: r.get(8)?,
                    error: r.get(9)?,
                    failed_inputs: r.get(10)?,
                    metrics: Vec::new(),
                    roughness_comparable: None,
                    scar_regions_one_photo_only: None,
                },
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(fail)?;
    let mut metric_stmt = conn
        .prepare(
            "SELECT unit, value, delta, delta_pct, within_noise, \
             (SELECT b.value FROM metrics b WHERE b.series_key = m.series_key \
              AND b.metric = m.metric AND b.session = 0) \
             FROM metrics m WHERE m.series_key = ?1 AND (m.metric = ?2 OR m.metric = ?3) \
             ORDER BY m.session DESC LIMIT 1",
        )
        .map_err(fail)?;
    // A context row (not a metric) of the series' last session.
    let mut context_stmt = conn
        .prepare(
            "SELECT value FROM metrics WHERE series_key = ?1 AND metric = ?2 \
             ORDER BY session DESC LIMIT 1",
        )
        .map_err(fail)?;
    let mut out = Vec::with_capacity(rows.len());
    for (key, mut row) in rows {
        let mut last_context = |name: &str| {
            context_stmt
                .query_row(params![key, name], |r| r.get::<_, Option<f64>>(0))
                .ok()
                .flatten()
        };
        row.roughness_comparable =
            last_context(FINE_DETAIL_RATIO).map(crate::measure::focus_comparable);
        row.scar_regions_one_photo_only =
            last_context(SCAR_REGIONS_ONE_PHOTO_ONLY).map(|n| n as u32);
        for name in MAIN_METRICS {
            // Line length is named by its unit: per cm² with a scale, per megapixel without.
            let (a, b) = match name {
                "line_length" => ("line_length_mm_per_cm2", "line_length_px_per_mp"),
                other => (other, other),
            };
            let change = metric_stmt
                .query_row(params![key, a, b], |r| {
                    Ok(MetricChange {
                        unit: r.get(0)?,
                        last: r.get(1)?,
                        delta: r.get(2)?,
                        delta_pct: r.get(3)?,
                        within_noise: r.get(4)?,
                        baseline: r.get(5)?,
                    })
                })
                .ok();
            row.metrics.push(change);
        }
        out.push(row);
    }
    Ok(out)
}

/// Every photo (and whole series) that could not be used, by series and photo.
///
/// # Errors
/// [`Error::Output`] on a database failure.
pub fn failed_inputs(db: &Db) -> Result<Vec<FailedInput>> {
    let mut stmt = db
        .conn()
        .prepare(
            "SELECT series_key, photo, COALESCE(stage, ''), COALESCE(error, '') FROM photos \
             WHERE status = 'failed' \
             UNION ALL SELECT key, '', 'series', COALESCE(error, '') FROM series \
             WHERE status = 'failed' \
             ORDER BY 1, 2",
        )
        .map_err(|e| db.fail(e))?;
    stmt.query_map([], |r| {
        Ok(FailedInput {
            series: r.get(0)?,
            photo: r.get(1)?,
            stage: r.get(2)?,
            error: r.get(3)?,
        })
    })
    .and_then(|rows| rows.collect())
    .map_err(|e| db.fail(e))
}

/// Writes `summary.csv` and `summary.html` into `out` from the database.
///
/// # Errors
/// [`Error::Output`] on a database failure or a file that cannot be written.
pub fn write(db: &Db, out: &Path) -> Result<()> {
    let rows = series_rows(db)?;
    let failed = failed_inputs(db)?;
    let csv_path = out.join(CSV_FILE);
    write_atomic(&csv_path, &render_csv(&rows, &csv_path)?)?;
    write_atomic(&out.join(HTML_FILE), render_html(&rows, &failed).as_bytes())
}

fn csv_header() -> Vec<String> {
    let mut header: Vec<String> = [
        "patient",
        "area",
        "status",
        "sessions",
        "first_date",
        "last_date",
        "baseline",
        "failed_inputs",
        "note",
        "error",
    ]
    .map(String::from)
    .to_vec();
    for m in MAIN_METRICS {
        for part in [
            "unit",
            "baseline",
            "last",
            "delta",
            "delta_pct",
            "within_noise",
        ] {
            header.push(format!("{m}_{part}"));
        }
    }
    header.push("roughness_focus_comparable".into());
    header.push(SCAR_REGIONS_ONE_PHOTO_ONLY.into());
    header
}

fn num(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map(|v| format!("{v}"))
        .unwrap_or_default()
}

/// The summary as CSV; `csv_path` names the file in errors.
fn render_csv(rows: &[SeriesSummary], csv_path: &Path) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Output {
        path: csv_path.to_path_buf(),
        reason: format!("cannot write CSV: {reason}"),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(csv_header())
        .map_err(|e| fail(e.to_string()))?;
    for row in rows {
        let mut record = vec![
            row.patient.clone(),
            row.area.clone(),
            row.status.clone(),
            row.sessions.to_string(),
            row.first_date.clone().unwrap_or_default(),
            row.last_date.clone().unwrap_or_default(),
            row.baseline.clone().unwrap_or_default(),
            row.failed_inputs.to_string(),
            row.note.clone().unwrap_or_default(),
            row.error.clone().unwrap_or_default(),
        ];
        for m in &row.metrics {
            match m {
                Some(m) => record.extend([
                    m.unit.clone(),
                    num(m.baseline),
                    num(m.last),
                    num(m.delta),
                    num(m.delta_pct),
                    m.within_noise.map(|w| w.to_string()).unwrap_or_default(),
                ]),
                None => record.extend(std::iter::repeat_n(String::new(), 6)),
            }
        }
        record.push(
            row.roughness_comparable
                .map(|c| c.to_string())
                .unwrap_or_default(),
        );
        record.push(
            row.scar_regions_one_photo_only
                .map(|n| n.to_string())
                .unwrap_or_default(),
        );
        w.write_record(&record).map_err(|e| fail(e.to_string()))?;
    }
    w.into_inner().map_err(|e| fail(e.to_string()))
}

/// A folder name as a URL path segment.
fn url_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A main metric's change since baseline for summary.html; `sharp_alike` false marks the
/// change of a metric that reads focus (roughness, fine lines) between photos whose focus
/// differs ("focus differs", not "within noise").
fn fmt_change(m: &Option<MetricChange>, sharp_alike: bool) -> String {
    match m {
        Some(MetricChange {
            delta: Some(d),
            delta_pct,
            within_noise,
            ..
        }) => {
            let change = match delta_pct {
                Some(p) => format!("{d:+.3} ({p:+.1}%)"),
                None => format!("{d:+.3}"),
            };
            if !sharp_alike {
                format!("{change}, focus differs")
            } else if *within_noise == Some(true) {
                format!("{change}, within noise")
            } else {
                change
            }
        }
        _ => "–".into(),
    }
}

fn render_html(rows: &[SeriesSummary], failed: &[FailedInput]) -> String {
    let mut header = String::from(
        "<th>patient</th><th>area</th><th>status</th><th>sessions</th><th>dates</th>\
         <th>unusable inputs</th>",
    );
    for m in MAIN_METRICS {
        header.push_str(&format!("<th>{}</th>", escape(m)));
    }
    let mut body = String::new();
    for row in rows {
        let ok = row.status == "ok";
        let link = format!(
            "{}/{}/report.html",
            url_segment(&row.patient),
            url_segment(&row.area)
        );
        let area = if ok {
            format!("<a href=\"{}\">{}</a>", escape(&link), escape(&row.area))
        } else {
            escape(&row.area)
        };
        let mut status = escape(&row.status);
        for extra in [&row.note, &row.error].into_iter().flatten() {
            status.push_str(&format!("<div class=\"note\">{}</div>", escape(extra)));
        }
        body.push_str(&format!(
            "<tr{}><td>{}</td><td>{area}</td><td>{status}</td><td class=\"num\">{}</td>\
             <td>{} – {}</td><td class=\"num\">{}</td>",
            if ok { "" } else { " class=\"failed\"" },
            escape(&row.patient),
            row.sessions,
            escape(row.first_date.as_deref().unwrap_or("?")),
            escape(row.last_date.as_deref().unwrap_or("?")),
            row.failed_inputs
        ));
        for (m, name) in row.metrics.iter().zip(MAIN_METRICS) {
            let sharp_alike =
                !crate::measure::reads_focus(name) || row.roughness_comparable != Some(false);
            let mut change = fmt_change(m, sharp_alike);
            // The series report's "check before reading the scar change" note, in brief.
            if name == "scar_area_pct"
                && let Some(n @ 1..) = row.scar_regions_one_photo_only
            {
                let regions = if n == 1 { "region" } else { "regions" };
                change.push_str(&format!(", check: {n} scar {regions} in one photo only"));
            }
            body.push_str(&format!("<td class=\"num\">{}</td>", escape(&change)));
        }
        body.push_str("</tr>\n");
    }
    let failed_html = if failed.is_empty() {
        "<p>None: every input was used.</p>".to_string()
    } else {
        let mut t = String::from(
            "<table><thead><tr><th>series</th><th>input</th><th>stage</th><th>reason</th>\
             </tr></thead><tbody>\n",
        );
        for f in failed {
            t.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&f.series),
                escape(&f.photo),
                escape(&f.stage),
                escape(&f.error)
            ));
        }
        t.push_str("</tbody></table>");
        t
    };
    let ok = rows.iter().filter(|r| r.status == "ok").count();
    let counts = format!(
        "{} series: {ok} measured, {} failed; {} unusable input{}.",
        rows.len(),
        rows.len() - ok,
        failed.len(),
        if failed.len() == 1 { "" } else { "s" }
    );
    TEMPLATE
        .replace("{{counts}}", &escape(&counts))
        .replace("{{header}}", &header)
        .replace("{{rows}}", &body)
        .replace("{{failed}}", &failed_html)
        .replace("{{version}}", &escape(crate::VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_values_are_escaped_and_links_encoded() {
        let rows = vec![SeriesSummary {
            patient: "p<1>".into(),
            area: "a b#".into(),
            status: "ok".into(),
            metrics: vec![None; MAIN_METRICS.len()],
            ..Default::default()
        }];
        let failed = vec![FailedInput {
            series: "p<1>/x".into(),
            photo: "x\"y.jpg".into(),
            stage: "load".into(),
            error: "<script>".into(),
        }];
        let html = render_html(&rows, &failed);
        assert!(
            html.contains("href=\"p%3C1%3E/a%20b%23/report.html\""),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("x&quot;y.jpg"));
        assert!(!html.contains("{{"));
    }

    #[test]
    fn csv_has_one_row_per_series_with_every_metric_column() {
        let rows = vec![SeriesSummary {
            patient: "p".into(),
            area: "a".into(),
            status: "ok".into(),
            sessions: 3,
            metrics: vec![
                Some(MetricChange {
                    unit: "%".into(),
                    baseline: Some(2.0),
                    last: Some(1.5),
                    delta: Some(-0.5),
                    delta_pct: Some(-25.0),
                    within_noise: Some(false),
                });
                MAIN_METRICS.len()
            ],
            ..Default::default()
        }];
        let text = String::from_utf8(render_csv(&rows, Path::new("summary.csv")).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let header: Vec<&str> = lines[0].split(',').collect();
        let values: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(header.len(), values.len());
        let at = header
            .iter()
            .position(|h| *h == "scar_area_pct_delta_pct")
            .unwrap();
        assert_eq!(values[at], "-25");
        assert_eq!(
            header[header.len() - 2..],
            ["roughness_focus_comparable", "scar_regions_one_photo_only"]
        );
        assert_eq!(values[values.len() - 2..], ["", ""], "not known");
    }

    /// A measured series of two sessions whose every main metric moved by −5 %, within noise.
    fn two_sessions_within_noise() -> SeriesSummary {
        let change = MetricChange {
            unit: "%".into(),
            baseline: Some(2.0),
            last: Some(1.9),
            delta: Some(-0.1),
            delta_pct: Some(-5.0),
            within_noise: Some(true),
        };
        SeriesSummary {
            patient: "p".into(),
            area: "a".into(),
            status: "ok".into(),
            sessions: 2,
            metrics: vec![Some(change); MAIN_METRICS.len()],
            ..Default::default()
        }
    }

    /// The last session has scar regions the baseline has not (or the reverse): its scar
    /// change says to check them, and the CSV gives their number.
    #[test]
    fn a_scar_change_with_regions_in_one_photo_only_says_check() {
        let mut row = SeriesSummary {
            scar_regions_one_photo_only: Some(2),
            ..two_sessions_within_noise()
        };
        let html = render_html(std::slice::from_ref(&row), &[]);
        assert_eq!(
            html.matches("check: 2 scar regions in one photo only")
                .count(),
            1,
            "on the scar area cell only: {html}"
        );
        let csv =
            String::from_utf8(render_csv(std::slice::from_ref(&row), Path::new("s.csv")).unwrap())
                .unwrap();
        assert!(csv.lines().nth(1).unwrap().ends_with(",2"), "{csv}");
        row.scar_regions_one_photo_only = Some(0);
        assert!(!render_html(&[row], &[]).contains("check:"));
    }

    /// The last session's photo is softer than the baseline's: its roughness and fine-line
    /// changes (area, length, count) read "focus differs" (never "within noise"); the other
    /// metrics keep their reading.
    #[test]
    fn focus_sensitive_changes_between_unequally_sharp_photos_read_focus_differs() {
        let mut row = SeriesSummary {
            roughness_comparable: Some(false),
            ..two_sessions_within_noise()
        };
        let html = render_html(std::slice::from_ref(&row), &[]);
        assert_eq!(html.matches("focus differs").count(), 4, "{html}");
        assert_eq!(html.matches("within noise").count(), MAIN_METRICS.len() - 4);
        let csv =
            String::from_utf8(render_csv(std::slice::from_ref(&row), Path::new("s.csv")).unwrap())
                .unwrap();
        assert!(csv.lines().nth(1).unwrap().ends_with(",false,"), "{csv}");
        row.roughness_comparable = Some(true);
        let html = render_html(&[row], &[]);
        assert!(!html.contains("focus differs"));
    }
}
