//! `report.html`: takes a [`Report`] and the session images, gives one self-contained, offline
//! page (no URL anywhere: images are inline JPEG data, charts inline SVG, CSS inline, no script).
//! The page skeleton and styles are `template.html`; every value put into it goes through
//! [`escape`].

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;
use rayon::prelude::*;

use super::overlay::{LINE_COLOUR, SCAR_COLOUR};
use super::{MetricSeries, Report, SessionReport, SessionVisuals, chart};
use crate::definitions::Rgb;

const TEMPLATE: &str = include_str!("template.html");
/// Embedded photos are shrunk to at most this width: enough to judge by eye, small file.
const IMAGE_WIDTH: u32 = 900;
const JPEG_QUALITY: u8 = 82;

/// Text made safe for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with about three significant digits (more for large values), `—` when not finite.
pub fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    let a = v.abs();
    let text = if a == 0.0 {
        "0".to_string()
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.001 {
        let decimals = (2.0 - a.log10().floor()) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.2e}")
    };
    // "-0.00" reads as a change where there is none.
    if text.starts_with('-') && text[1..].chars().all(|c| c == '0' || c == '.') {
        text[1..].to_string()
    } else {
        text
    }
}

/// [`format_number`] with an explicit `+` on positive values (changes).
fn format_signed(v: f64) -> String {
    let text = format_number(v);
    if v.is_finite() && v > 0.0 && text != "0" {
        format!("+{text}")
    } else {
        text
    }
}

fn format_pct(v: Option<f64>) -> String {
    v.filter(|p| p.is_finite())
        .map_or_else(|| "—".to_string(), |p| format!("{} %", format_signed(p)))
}

/// A readable name for a DESIGN.md metric name; the raw name is shown beside it.
fn metric_label(name: &str) -> String {
    let label = match name {
        "line_area_pct" => "Fine-line area",
        "line_length_mm_per_cm2" | "line_length_per_mpx" => "Fine-line length density",
        "line_count" => "Fine lines",
        "scar_area_pct" | "scar_area_mm2" => "Scar area",
        "scar_count" => "Scars",
        "roughness" => "Texture roughness",
        "redness_a" => "Redness (a*)",
        "redness_area_pct" => "Reddened area",
        "ita_deg" => "Skin tone (ITA)",
        other => return other.replace('_', " "),
    };
    label.to_string()
}

/// `1234567` → `1,234,567`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "unit: …", or nothing for a unitless metric.
fn unit_text(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!("unit: {unit}")
    }
}

fn session_title(s: &SessionReport) -> String {
    if s.index == 0 {
        "Baseline".to_string()
    } else {
        format!("Session {}", s.index)
    }
}

/// The two embedded pictures of one session, shrunk, as data URIs.
struct Pictures {
    photo: String,
    overlay: String,
}

fn jpeg_data_uri(image: &Rgb) -> Result<String, String> {
    let shrunk;
    let image = if image.width() > IMAGE_WIDTH {
        let height = ((image.height() as f64 * IMAGE_WIDTH as f64 / image.width() as f64).round()
            as u32)
            .max(1);
        shrunk = image::imageops::thumbnail(image, IMAGE_WIDTH, height);
        &shrunk
    } else {
        image
    };
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
        .encode_image(image)
        .map_err(|e| format!("cannot encode image as JPEG: {e}"))?;
    Ok(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Size of the embedded pictures (all visuals share the baseline frame).
fn shown_size(visuals: &[SessionVisuals]) -> (u32, u32) {
    let (w, h) = visuals.first().map_or((1, 1), |v| v.aligned.dimensions());
    if w > IMAGE_WIDTH {
        (
            IMAGE_WIDTH,
            ((h as f64 * IMAGE_WIDTH as f64 / w as f64).round() as u32).max(1),
        )
    } else {
        (w.max(1), h.max(1))
    }
}

/// The full page.
///
/// # Errors
/// A message when an image cannot be encoded or a chart cannot be drawn.
pub fn render(report: &Report, visuals: &[SessionVisuals]) -> Result<String, String> {
    let pictures: Vec<Pictures> = visuals
        .par_iter()
        .map(|v| {
            Ok(Pictures {
                photo: jpeg_data_uri(&v.aligned)?,
                overlay: jpeg_data_uri(&v.overlay)?,
            })
        })
        .collect::<Result<_, String>>()?;
    let charts: Vec<String> = report
        .metrics
        .iter()
        .map(|m| chart_figure(report, m))
        .collect::<Result<_, String>>()?;

    let mut values = HashMap::new();
    values.insert(
        "title",
        escape(&format!("Skin change report — {}", report.series)),
    );
    values.insert("series", escape(&report.series));
    values.insert("summary", summary(report));
    values.insert("image_defs", image_defs(&pictures, shown_size(visuals)));
    values.insert("sessions", sessions(report, &pictures, shown_size(visuals)));
    values.insert("metrics_table", metrics_table(report));
    values.insert("charts", charts.concat());
    values.insert("alignment", alignment_table(report));
    values.insert("timings", timings_table(report));
    values.insert(
        "tool",
        escape(&format!("{} {}", report.tool.name, report.tool.version)),
    );
    values.insert("schema_version", report.schema_version.to_string());
    // Legend swatches in step with the overlay drawing.
    values.insert("line_colour", css_colour(LINE_COLOUR));
    values.insert("scar_colour", css_colour(SCAR_COLOUR));
    fill(TEMPLATE, &values)
}

/// Replaces each `{{key}}` of `template` in one pass, so text inside values is never read as
/// a placeholder.
fn fill(template: &str, values: &HashMap<&str, String>) -> Result<String, String> {
    let mut out =
        String::with_capacity(template.len() + values.values().map(String::len).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("template: unclosed {{")?;
        let key = after[..end].trim();
        out.push_str(
            values
                .get(key)
                .ok_or_else(|| format!("template: unknown key {key}"))?,
        );
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn summary(report: &Report) -> String {
    let dates: Vec<&str> = report
        .sessions
        .iter()
        .filter_map(|s| s.date.as_deref())
        .collect();
    let date_range = match (dates.first(), dates.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} → {b}"),
        (Some(a), _) => a.to_string(),
        _ => "unknown".to_string(),
    };
    let scale = match report.scale.px_per_mm {
        Some(s) => format!("{} px/mm ({})", format_number(s), report.scale.source),
        None => format!(
            "none ({}): areas in % of the common region",
            report.scale.source
        ),
    };
    let region = format!(
        "{} % of the baseline frame ({} px)",
        format_number(report.common_region.fraction_of_baseline * 100.0),
        group_thousands(report.common_region.pixels)
    );
    let roi = report.roi.map_or_else(
        || "whole frame".to_string(),
        |[x, y, w, h]| format!("{w} × {h} px at ({x}, {y})"),
    );
    let sha: String = report.model.sha256.chars().take(12).collect();
    let model = format!(
        "{} {} · sha256 {sha}…",
        report.model.name, report.model.version
    );
    let rows = [
        ("Series", report.series.clone()),
        ("Sessions", report.sessions.len().to_string()),
        ("Dates", date_range),
        ("Scale", scale),
        ("Common region", region),
        ("Region of interest", roi),
        ("Model", model),
        (
            "Tool",
            format!("{} {}", report.tool.name, report.tool.version),
        ),
    ];
    let mut html = String::new();
    for (key, value) in rows {
        let _ = write!(
            html,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            escape(key),
            escape(&value)
        );
    }
    html
}

/// Every picture once, in a hidden SVG; the figures show them with `<use>`, so the baseline
/// pictures are stored once however many sessions compare against them.
fn image_defs(pictures: &[Pictures], (w, h): (u32, u32)) -> String {
    let mut html = String::new();
    for (i, p) in pictures.iter().enumerate() {
        for (kind, uri) in [("photo", &p.photo), ("overlay", &p.overlay)] {
            let _ = write!(
                html,
                "<image id=\"img-{i}-{kind}\" width=\"{w}\" height=\"{h}\" href=\"{}\"/>",
                escape(uri)
            );
        }
    }
    html
}

fn figure(session: &SessionReport, slot: usize, (w, h): (u32, u32), caption: &str) -> String {
    format!(
        "<figure class=\"shot\"><svg class=\"photo\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{label}\">\
         <use class=\"plain\" href=\"#img-{slot}-photo\"/><use class=\"seg\" href=\"#img-{slot}-overlay\"/></svg>\
         <figcaption>{caption}</figcaption></figure>",
        label = escape(&format!("{} ({})", session_title(session), session.input)),
    )
}

fn date_text(s: &SessionReport) -> String {
    s.date.clone().unwrap_or_else(|| "date unknown".to_string())
}

fn status_badge(s: &SessionReport) -> String {
    match &s.alignment {
        None => "<span class=\"badge ref\">reference</span>".to_string(),
        Some(a) => {
            let class = match a.status.as_str() {
                "ok" => "ok",
                "poor" => "poor",
                _ => "failed",
            };
            format!("<span class=\"badge {class}\">{}</span>", escape(&a.status))
        }
    }
}

fn sessions(report: &Report, pictures: &[Pictures], size: (u32, u32)) -> String {
    let Some(baseline) = report.sessions.first().filter(|_| !pictures.is_empty()) else {
        return "<p class=\"muted\">No sessions.</p>".to_string();
    };
    let base_caption = format!("Baseline · {}", escape(&date_text(baseline)));
    let mut html = String::new();
    let later: Vec<(usize, &SessionReport)> = report
        .sessions
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, _)| *i < pictures.len())
        .collect();
    // A series of one photo still shows it, with its overlay.
    let cards: Vec<(usize, Option<&SessionReport>)> = if later.is_empty() {
        vec![(0, None)]
    } else {
        later.iter().map(|(i, s)| (*i, Some(*s))).collect()
    };
    for (slot, session) in cards {
        let (heading, meta) = match session {
            Some(s) => (
                format!("{} · {}", escape(&session_title(s)), escape(&date_text(s))),
                format!(
                    "{} <span class=\"file\">{}</span>",
                    status_badge(s),
                    escape(&s.input)
                ),
            ),
            None => (
                base_caption.clone(),
                format!("<span class=\"file\">{}</span>", escape(&baseline.input)),
            ),
        };
        let _ = write!(
            html,
            "<article class=\"card session\"><header><h3>{heading}</h3><div class=\"meta\">{meta}</div></header>\
             <input type=\"checkbox\" class=\"toggle\" id=\"seg-{slot}\">\
             <label class=\"toggle-label\" for=\"seg-{slot}\">Show segmentation</label>\
             <div class=\"pair\">{}",
            figure(baseline, 0, size, &base_caption),
        );
        if let Some(s) = session {
            let caption = format!(
                "{} · {} · aligned to baseline",
                escape(&session_title(s)),
                escape(&date_text(s))
            );
            html.push_str(&figure(s, slot, size, &caption));
        }
        html.push_str("</div></article>");
    }
    html
}

fn metrics_table(report: &Report) -> String {
    if report.metrics.is_empty() {
        return "<p class=\"muted\">No metrics.</p>".to_string();
    }
    let mut html = String::from(
        "<table class=\"metrics\"><thead><tr><th>Metric</th><th>Session</th><th>Date</th>\
         <th class=\"num\">Value</th><th class=\"num\">Δ vs baseline</th><th class=\"num\">Δ %</th>\
         <th class=\"num\">Δ vs previous</th><th class=\"num\">Δ %</th></tr></thead>",
    );
    for metric in &report.metrics {
        html.push_str("<tbody>");
        for (row, v) in metric.values.iter().enumerate() {
            html.push_str("<tr>");
            if row == 0 {
                let _ = write!(
                    html,
                    "<th scope=\"rowgroup\" rowspan=\"{}\"><span class=\"metric\">{}</span>\
                     <code>{}</code><span class=\"unit\">{}</span></th>",
                    metric.values.len(),
                    escape(&metric_label(&metric.name)),
                    escape(&metric.name),
                    escape(&unit_text(&metric.unit)),
                );
            }
            let session = report.sessions.iter().find(|s| s.index == v.session);
            let date = session.and_then(|s| s.date.clone()).unwrap_or_default();
            let base = v.session == 0;
            let dash = || "—".to_string();
            let _ = write!(
                html,
                "<td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td class=\"num strong\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&session.map_or_else(|| format!("Session {}", v.session), session_title)),
                escape(&date),
                escape(&format_number(v.value)),
                escape(&if base { dash() } else { format_signed(v.delta) }),
                escape(&if base {
                    dash()
                } else {
                    format_pct(v.delta_pct)
                }),
                escape(&v.delta_prev.map_or_else(dash, format_signed)),
                escape(&format_pct(v.delta_prev_pct)),
            );
        }
        html.push_str("</tbody>");
    }
    html.push_str("</table>");
    html
}

fn chart_figure(report: &Report, metric: &MetricSeries) -> Result<String, String> {
    let svg = chart::metric_chart(report, metric)?;
    let label = escape(&format!("{} over the sessions", metric_label(&metric.name)));
    // Class and accessible name on the chart's root element.
    let svg = svg.replacen(
        "<svg ",
        &format!("<svg class=\"chart\" role=\"img\" aria-label=\"{label}\" "),
        1,
    );
    Ok(format!(
        "<figure class=\"card chart-card\"><figcaption><span class=\"metric\">{}</span> <code>{}</code>\
         <span class=\"unit\">{}</span></figcaption>{svg}</figure>",
        escape(&metric_label(&metric.name)),
        escape(&metric.name),
        escape(&unit_text(&metric.unit)),
    ))
}

fn alignment_table(report: &Report) -> String {
    let mut html = String::from(
        "<table class=\"alignment\"><thead><tr><th>Session</th><th>Date</th><th>File</th>\
         <th>Status</th><th class=\"num\">Inliers / matches</th><th class=\"num\">RMS (px)</th>\
         <th class=\"num\">Overlap</th><th class=\"num\">Correlation</th>\
         <th class=\"num\">Lighting gain R, G, B</th><th>Reason</th></tr></thead><tbody>",
    );
    for s in &report.sessions {
        let cells: [String; 5] = match &s.alignment {
            Some(a) => [
                format!("{} / {}", a.inliers, a.matches),
                format_number(a.rms_px),
                format!("{} %", format_number(a.overlap * 100.0)),
                format_number(a.correlation),
                a.reason.clone().unwrap_or_default(),
            ],
            None => ["—", "—", "100 %", "—", "reference frame"].map(String::from),
        };
        let gain = s.lighting.as_ref().map_or_else(
            || "—".to_string(),
            |l| {
                l.gain
                    .iter()
                    .map(|g| format_number(*g))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        let _ = write!(
            html,
            "<tr><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td class=\"file\">{}</td><td>{}</td>",
            escape(&session_title(s)),
            escape(&s.date.clone().unwrap_or_default()),
            escape(&s.input),
            status_badge(s),
        );
        for cell in cells[..4].iter().chain([&gain]) {
            let _ = write!(html, "<td class=\"num\">{}</td>", escape(cell));
        }
        let _ = write!(html, "<td class=\"reason\">{}</td></tr>", escape(&cells[4]));
    }
    html.push_str("</tbody></table>");
    html
}

fn timings_table(report: &Report) -> String {
    let t = &report.timings_ms;
    let stages = [
        ("load", t.load),
        ("align", t.align),
        ("segment", t.segment),
        ("measure", t.measure),
        ("report", t.report),
    ];
    let total: f64 = stages.iter().map(|s| s.1).filter(|v| v.is_finite()).sum();
    let ms = |v: f64| {
        if v >= 1000.0 {
            format!("{} s", format_number(v / 1000.0))
        } else {
            format!("{} ms", format_number(v))
        }
    };
    let mut html = String::from("<table class=\"timings\"><tbody>");
    for (stage, v) in stages {
        let share = if total > 0.0 && v.is_finite() {
            (v / total * 100.0).clamp(0.0, 100.0)
        } else {
            0.0
        };
        let _ = write!(
            html,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td>\
             <td class=\"bar-cell\"><span class=\"bar\" style=\"width:{share:.1}%\"></span></td></tr>",
            escape(stage),
            escape(&ms(v)),
        );
    }
    let _ = write!(
        html,
        "<tr class=\"total\"><th scope=\"row\">total</th><td class=\"num\">{}</td><td></td></tr>",
        escape(&ms(total))
    );
    html.push_str("</tbody></table>");
    html
}

/// CSS colour of an overlay class, for the legend.
fn css_colour([r, g, b]: [u8; 3]) -> String {
    format!("rgb({r}, {g}, {b})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(format_number(1234.567), "1234.6");
        assert_eq!(format_number(12.345), "12.35");
        assert_eq!(format_number(0.012345), "0.0123");
        assert_eq!(format_number(-0.0001), "-1.00e-4");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(-0.0004), "-4.00e-4");
        assert_eq!(format_number(f64::NAN), "—");
        assert_eq!(format_signed(2.5), "+2.50");
        assert_eq!(format_pct(Some(-12.0)), "-12.00 %");
        assert_eq!(format_pct(None), "—");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
    }

    #[test]
    fn fill_is_single_pass() {
        let mut values = HashMap::new();
        values.insert("a", "{{b}}".to_string());
        values.insert("b", "no".to_string());
        assert_eq!(fill("x {{a}} y {{ b }}", &values).unwrap(), "x {{b}} y no");
        assert!(fill("{{c}}", &values).is_err());
    }
}
