//! `report.html`: takes a [`Report`] and the session images, gives one self-contained, offline
//! page for a clinician to go through with a patient: what was measured (header), the latest
//! change at a glance, every session beside the baseline (side by side, slider or flicker, with
//! switchable segmentation), a metrics table with noise markings and trends, one chart per
//! metric and the alignment quality. No URL anywhere: images are inline JPEG data, charts
//! inline SVG, CSS and the one small script inline. Without the script the slider is hidden
//! and everything else works; printed, the page shows plain photos and overlays side by side.
//! The page skeleton, styles and script are `template.html`; every value put into it goes
//! through [`escape`].

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;
use rayon::prelude::*;

use super::overlay::{LINE_COLOUR, NON_SKIN_COLOUR, SCAR_COLOUR};
use super::{
    ABSOLUTE_CHANGE_METRICS, MetricSeries, Report, SessionReport, SessionVisuals, Trend, chart,
};
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
    } else if a >= 1e-5 {
        // Three significant digits in plain decimals: a clinician reads "-0.000726 L* per 30
        // days", not "-7.26e-4".
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

/// Which way a metric's change reads. Lines, scars, redness and roughness are what the
/// treatment aims to reduce; skin tone (ITA) is context, and so is any metric not known here:
/// the page never calls their changes an improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Polarity {
    LowerIsBetter,
    Context,
}

fn polarity(name: &str) -> Polarity {
    let lower_is_better = name.starts_with("line_")
        || name.starts_with("scar_")
        || name.starts_with("redness_")
        || name == "roughness";
    if lower_is_better {
        Polarity::LowerIsBetter
    } else {
        Polarity::Context
    }
}

/// How one change is marked on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// No noise floor measured: the number stands alone, unmarked.
    Unmarked,
    WithinNoise,
    Improved,
    Worsened,
    /// Beyond noise on a context metric, or with no direction.
    Changed,
    /// A metric that reads focus (roughness, fine lines) between two photos not sharp
    /// alike: focus, not skin, may explain the change.
    FocusDiffers,
}

impl Reading {
    fn of(metric: &str, delta: f64, within_noise: Option<bool>) -> Reading {
        match within_noise {
            None => Reading::Unmarked,
            Some(true) => Reading::WithinNoise,
            Some(false) => match polarity(metric) {
                Polarity::LowerIsBetter if delta < 0.0 => Reading::Improved,
                Polarity::LowerIsBetter if delta > 0.0 => Reading::Worsened,
                _ => Reading::Changed,
            },
        }
    }

    /// [`Reading::of`], except that the change of a metric that reads focus
    /// ([`crate::measure::reads_focus`]) between photos that are not sharp alike reads "focus
    /// differs" whatever its size: it may be focus, not skin.
    fn of_pair(metric: &str, delta: f64, within_noise: Option<bool>, sharp_alike: bool) -> Reading {
        match Reading::of(metric, delta, within_noise) {
            Reading::Unmarked => Reading::Unmarked,
            _ if crate::measure::reads_focus(metric) && !sharp_alike => Reading::FocusDiffers,
            reading => reading,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Reading::Unmarked => "",
            Reading::WithinNoise => "noise",
            Reading::Improved => "better",
            Reading::Worsened => "worse",
            Reading::Changed => "changed",
            Reading::FocusDiffers => "focus",
        }
    }

    /// The chip beside the number, or nothing.
    fn chip(self) -> String {
        let text = match self {
            Reading::Unmarked => return String::new(),
            Reading::WithinNoise => "within noise",
            Reading::Improved => "improved",
            Reading::Worsened => "worsened",
            Reading::Changed => "changed",
            Reading::FocusDiffers => "focus differs",
        };
        format!("<span class=\"mark {}\">{text}</span>", self.class())
    }
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
        format!("unit: {}", shown_unit(unit))
    }
}

/// A metric's unit as people read it: report.json and metrics.csv keep plain ASCII
/// (`mm2`, `mm/cm2`), the page writes the superscript.
pub(crate) fn shown_unit(unit: &str) -> &str {
    match unit {
        "mm2" => "mm²",
        "mm/cm2" => "mm/cm²",
        other => other,
    }
}

/// `value unit`, with the unit only when there is one.
fn with_unit(value: &str, unit: &str) -> String {
    if unit.is_empty() {
        value.to_string()
    } else {
        format!("{value} {}", shown_unit(unit))
    }
}

/// A metric's value: counts as whole numbers, the rest by [`format_number`].
fn format_value(v: f64, unit: &str) -> String {
    if unit == "count" && v.is_finite() && v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format_number(v)
    }
}

fn session_title(s: &SessionReport) -> String {
    if s.index == 0 {
        "Baseline".to_string()
    } else {
        format!("Session {}", s.index)
    }
}

fn date_text(s: &SessionReport) -> String {
    s.date.clone().unwrap_or_else(|| "date unknown".to_string())
}

/// Where the capture date came from, in words.
fn date_source_text(s: &SessionReport) -> String {
    match (s.date.as_deref(), s.date_source.as_str()) {
        (None, _) | (_, "none") => "no capture date found".to_string(),
        (_, "exif") => "date from the photo's EXIF".to_string(),
        (_, "file_name") => "date from the file name".to_string(),
        (_, "series_file") => "date from the series file".to_string(),
        (_, other) => format!("date from {other}"),
    }
}

/// The scale and where it came from, in words.
fn scale_text(report: &Report) -> String {
    let source = match report.scale.source.as_str() {
        "user" => "given on the command line".to_string(),
        "series_file" => "from the series file".to_string(),
        "calibration_target" => "from the calibration target in the photo".to_string(),
        "none" => "no scale".to_string(),
        other => other.replace('_', " "),
    };
    let scale = match report.scale.px_per_mm {
        Some(s) => format!("{} px/mm, {source}", format_number(s)),
        None => format!("{source}: areas in % of the common region, lengths per megapixel"),
    };
    match &report.scale.target {
        Some(t) => format!(
            "{scale} (target: {} mm disc, {} px across; not measured as skin)",
            format_number(t.diameter_mm),
            format_number(t.diameter_px)
        ),
        None => scale,
    }
}

/// "±3 % of the value", "±0.5 a*" or "±(0.2 mm2 + 5 % of the value)": the change a metric
/// makes between two photos of unchanged skin.
fn noise_floor_text(metric: &MetricSeries) -> Option<String> {
    metric.noise_floor.as_ref().map(|f| {
        let absolute = with_unit(&format_number(f.absolute), &metric.unit);
        let relative = format!("{} % of the value", format_number(f.relative_pct));
        match (f.absolute > 0.0, f.relative_pct > 0.0) {
            (true, true) => format!("±({absolute} + {relative})"),
            (false, true) => format!("±{relative}"),
            _ => format!("±{absolute}"),
        }
    })
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
    values.insert("notes", notes(report));
    values.insert("glance", glance(report));
    values.insert("image_defs", image_defs(&pictures, shown_size(visuals)));
    values.insert("sessions", sessions(report, &pictures, shown_size(visuals)));
    values.insert("metrics_table", metrics_table(report));
    values.insert("charts", charts.concat());
    values.insert("alignment", alignment_table(report));
    let (lo, hi) = crate::measure::FOCUS_RATIO_LIMITS;
    values.insert(
        "focus_limits",
        format!("{}–{}×", format_number(lo), format_number(hi)),
    );
    values.insert("timings", timings_table(report));
    values.insert(
        "tool",
        escape(&format!("{} {}", report.tool.name, report.tool.version)),
    );
    values.insert("schema_version", report.schema_version.to_string());
    // Legend swatches in step with the overlay drawing and the charts.
    values.insert("line_colour", css_colour(LINE_COLOUR));
    values.insert("scar_colour", css_colour(SCAR_COLOUR));
    values.insert(
        "non_skin_legend",
        if report.common_region.skin_segmented {
            format!(
                "<span><span class=\"swatch\" style=\"background:{}\"></span>not skin \
                 (hair, eyes, lips, background): not measured</span>",
                css_colour(NON_SKIN_COLOUR)
            )
        } else {
            String::new()
        },
    );
    // Only where an overlay has a ring: a scar region seen in one photo only.
    let any_turnover = report.sessions.iter().any(|s| {
        s.scar_turnover
            .as_ref()
            .is_some_and(|t| t.needs_check() && !t.regions.is_empty())
    });
    values.insert(
        "turnover_legend",
        if any_turnover {
            format!(
                "<span><span class=\"swatch ring\" style=\"border-color:{}\"></span>scar region \
                 not in the baseline</span><span><span class=\"swatch ring\" \
                 style=\"border-color:{}\"></span>baseline scar region not in this photo</span>",
                css_colour(super::APPEARED_COLOUR),
                css_colour(super::VANISHED_COLOUR)
            )
        } else {
            String::new()
        },
    );
    values.insert("chart_value_colour", css_colour(chart::VALUE_COLOUR));
    values.insert("chart_band_colour", css_colour(chart::BAND_COLOUR));
    values.insert("chart_trend_colour", css_colour(chart::TREND_COLOUR));
    // Only where a chart draws one: roughness or fine lines from a photo whose focus
    // differs from the baseline's.
    let any_focus_differs = report
        .sessions
        .iter()
        .any(|s| !report.sharp_alike(s.index, 0));
    values.insert(
        "chart_focus_legend",
        if any_focus_differs {
            format!(
                "<span><span class=\"swatch cross\" style=\"color:{}\">✕</span>roughness or \
                 fine lines from a photo whose focus differs from the baseline's (left out \
                 of its trend)</span>",
                css_colour(chart::FOCUS_COLOUR)
            )
        } else {
            String::new()
        },
    );
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

/// How the series was assembled, when a reader must know (e.g. photos a batch left out): a
/// boxed list under the header, or nothing.
fn notes(report: &Report) -> String {
    if report.notes.is_empty() {
        return String::new();
    }
    let items: String = report
        .notes
        .iter()
        .map(|n| format!("<li>{}</li>", escape(n)))
        .collect();
    format!("<div class=\"series-notes\" role=\"note\"><h2>Notes</h2><ul>{items}</ul></div>")
}

fn summary(report: &Report) -> String {
    let dates: Vec<&str> = report
        .sessions
        .iter()
        .filter_map(|s| s.date.as_deref())
        .collect();
    let parse = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let date_range = match (dates.first(), dates.last()) {
        (Some(a), Some(b)) if a != b => match (parse(a), parse(b)) {
            (Some(da), Some(db)) => {
                let days = (db - da).num_days();
                let weeks = days as f64 / 7.0;
                format!("{a} → {b} ({days} days, {weeks:.0} weeks)")
            }
            _ => format!("{a} → {b}"),
        },
        (Some(a), _) => a.to_string(),
        _ => "unknown".to_string(),
    };
    let cr = &report.common_region;
    let region = if cr.skin_segmented {
        format!(
            "{} % of the baseline photo: {} px of skin ({} px in common left out as not skin)",
            format_number(cr.fraction_of_baseline * 100.0),
            group_thousands(cr.pixels),
            group_thousands(cr.non_skin_px)
        )
    } else {
        format!(
            "{} % of the baseline photo ({} px; the model does not tell skin from the rest, so \
             all of it counts as skin)",
            format_number(cr.fraction_of_baseline * 100.0),
            group_thousands(cr.pixels)
        )
    };
    let roi = report.roi.map_or_else(
        || "whole frame".to_string(),
        |[x, y, w, h]| format!("{w} × {h} px at ({x}, {y})"),
    );
    let sha: String = report.model.sha256.chars().take(12).collect();
    let model = format!(
        "{} {} · sha256 {sha}…",
        report.model.name, report.model.version
    );
    let later = report.sessions.len().saturating_sub(1);
    let sessions = match later {
        0 => "1 (baseline only)".to_string(),
        1 => "2 (baseline + 1 later session)".to_string(),
        n => format!("{} (baseline + {n} later sessions)", n + 1),
    };
    let rows = [
        ("Area", report.series.clone()),
        ("Dates", date_range),
        ("Sessions", sessions),
        ("Scale", scale_text(report)),
        ("Measured on", region),
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

/// The latest session against the baseline, one tile per metric, and its recovery readout.
fn glance(report: &Report) -> String {
    let Some(latest) = report.sessions.iter().skip(1).max_by_key(|s| s.index) else {
        return "<p class=\"note\">Only the baseline so far: changes appear from the second \
                session on.</p>"
            .to_string();
    };
    let mut html = format!(
        "<p class=\"note\">{} ({}) against the baseline. Changes smaller than the measured \
         repeatability are marked <span class=\"mark noise\">within noise</span>.</p>",
        escape(&session_title(latest)),
        escape(&date_text(latest)),
    );
    html.push_str(&recovered_note(report, latest, true));
    // A scar change that a region in one photo only makes or hides is read here first.
    html.push_str(&scar_turnover_note(latest));
    html.push_str("<div class=\"glance\">");
    let scar_pct = report.metrics.iter().find(|m| m.name == "scar_area_pct");
    let scar_mm2 = report.metrics.iter().find(|m| m.name == "scar_area_mm2");
    for metric in &report.metrics {
        // With a scale, scar area has one tile: mm², with the share of the region beside it.
        if metric.name == "scar_area_pct" && scar_mm2.is_some() {
            continue;
        }
        let Some(v) = metric.values.iter().find(|v| v.session == latest.index) else {
            continue;
        };
        let Some(base) = metric.values.iter().find(|v| v.session == 0) else {
            continue;
        };
        let reading = Reading::of_pair(
            &metric.name,
            v.delta,
            v.within_noise,
            report.sharp_alike(latest.index, 0),
        );
        // Relative change, except where a ratio means nothing; a share's absolute change is in
        // percentage points.
        let absolute = ABSOLUTE_CHANGE_METRICS.contains(&metric.name.as_str());
        let big = match v.delta_pct.filter(|p| p.is_finite() && !absolute) {
            Some(p) => format!("{} %", format_signed(p)),
            None if metric.unit == "%" => format!("{} pp", format_signed(v.delta)),
            None => with_unit(&format_signed(v.delta), &metric.unit),
        };
        let mut detail = format!(
            "{} → {}",
            format_value(base.value, &metric.unit),
            with_unit(&format_value(v.value, &metric.unit), &metric.unit)
        );
        if metric.name == "scar_area_mm2"
            && let Some(pct) = scar_pct
            && let (Some(b), Some(l)) = (
                pct.values.iter().find(|x| x.session == 0),
                pct.values.iter().find(|x| x.session == latest.index),
            )
        {
            let _ = write!(
                detail,
                " · {} → {} % of the region",
                format_number(b.value),
                format_number(l.value)
            );
        }
        let _ = write!(
            html,
            "<div class=\"tile {class}\" data-metric=\"{name}\"><span class=\"metric\">{label}</span>\
             <span class=\"big\">{big}</span>{chip}<span class=\"detail\">{detail}</span></div>",
            class = reading.class(),
            name = escape(&metric.name),
            label = escape(&metric_label(&metric.name)),
            big = escape(&big),
            chip = reading.chip(),
            detail = escape(&detail),
        );
    }
    html.push_str("</div>");
    html
}

/// The "skin recovered" readout of one session, for planning the next one; nothing when it
/// was not assessed (baseline, or no noise floor for redness). `with_lighting_note` adds (once
/// per page) what a lighting fit on the measured skin cannot see.
fn recovered_note(report: &Report, s: &SessionReport, with_lighting_note: bool) -> String {
    let Some(recovered) = s.redness_recovered else {
        return String::new();
    };
    let redness = report.metrics.iter().find(|m| m.name == "redness_a");
    let delta = redness
        .and_then(|m| m.values.iter().find(|v| v.session == s.index))
        .map(|v| v.delta);
    let unit = redness.map_or("", |m| m.unit.as_str());
    let (class, head, body) = match (recovered, delta) {
        (true, _) => (
            "recovered",
            "Skin recovered".to_string(),
            "redness is back within the noise floor of the baseline.".to_string(),
        ),
        (false, Some(d)) if d < 0.0 => (
            "changed",
            "Redness below baseline".to_string(),
            format!(
                "redness is {} lower than at baseline, beyond the noise floor.",
                with_unit(&format_number(-d), unit)
            ),
        ),
        (false, d) => (
            "not-recovered",
            "Not yet recovered".to_string(),
            match d {
                Some(d) => format!(
                    "redness is still {} above the baseline, beyond the noise floor.",
                    with_unit(&format_number(d), unit)
                ),
                None => {
                    "redness is not yet back within the noise floor of the baseline.".to_string()
                }
            },
        ),
    };
    // Matched on the measured skin itself, the lighting fit takes an even reddening of all of
    // it for a change of light: redness then reads only relative to the rest of that skin.
    let matched_on_itself = with_lighting_note
        && s.lighting
            .as_ref()
            .is_some_and(|l| l.source == crate::series::LIGHTING_FROM_MEASURED_SKIN);
    let caveat = if matched_on_itself {
        " <span class=\"readout-note\" data-lighting=\"plain_skin\">Lighting was matched on this \
         skin itself, so redness spread evenly over all of it cannot be told from a change of \
         light: frame untreated skin too and give the treated area as <code>--roi</code> (or the \
         series file's <code>roi</code> column), or put the calibration target or a grey card \
         in the photo (<code>--reference-patch</code>).</span>"
    } else {
        ""
    };
    format!(
        "<p class=\"readout {class}\" data-recovered=\"{recovered}\"><span class=\"readout-kicker\">\
         For planning the next session</span> <strong>{}</strong> — {}{caveat}</p>",
        escape(&head),
        escape(&body)
    )
}

/// Scar regions seen in this session or in the baseline only, when there are any: a change in
/// scar area that comes from them is a new or healed scar, or a patch of skin the model
/// called scar in one photo, and the overlays tell which.
fn scar_turnover_note(s: &SessionReport) -> String {
    let Some(t) = s.scar_turnover.as_ref().filter(|t| t.needs_check()) else {
        return String::new();
    };
    let area = |pct: f64, mm2: Option<f64>| match mm2 {
        Some(mm2) => format!(
            "{}, {} of the measured skin",
            with_unit(&format_number(mm2), "mm²"),
            with_unit(&format_number(pct), "%")
        ),
        None => format!(
            "{} of the measured skin",
            with_unit(&format_number(pct), "%")
        ),
    };
    let regions = |n: usize| {
        if n == 1 {
            "1 scar region".to_string()
        } else {
            format!("{n} scar regions")
        }
    };
    let mut parts = Vec::new();
    if t.appeared_regions > 0 {
        parts.push(format!(
            "{} not seen at baseline ({})",
            regions(t.appeared_regions),
            area(t.appeared_area_pct, t.appeared_area_mm2)
        ));
    }
    if t.vanished_regions > 0 {
        parts.push(format!(
            "{} of the baseline not seen here ({})",
            regions(t.vanished_regions),
            area(t.vanished_area_pct, t.vanished_area_mm2)
        ));
    }
    format!(
        "<p class=\"readout turnover\" data-appeared=\"{}\" data-vanished=\"{}\">\
         <span class=\"readout-kicker\">Check before reading the scar change</span> {}. \
         <span class=\"readout-note\">A region in one photo only is a new or healed scar, or \
         skin the model called scar in that photo alone: compare the two photos where the \
         overlay rings it.</span></p>",
        t.appeared_regions,
        t.vanished_regions,
        escape(&parts.join("; "))
    )
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

/// Which of a picture's two versions a figure shows.
#[derive(Clone, Copy)]
enum Layers {
    /// The photo, or its overlay while the segmentation toggle is on.
    Switchable,
    /// Always the overlay (the printed copy).
    Overlay,
}

/// The `<use>` elements of picture `slot`.
fn uses(slot: usize, layers: Layers) -> String {
    match layers {
        Layers::Switchable => format!(
            "<use class=\"plain\" href=\"#img-{slot}-photo\"/><use class=\"seg\" href=\"#img-{slot}-overlay\"/>"
        ),
        Layers::Overlay => format!("<use href=\"#img-{slot}-overlay\"/>"),
    }
}

fn figure(
    session: &SessionReport,
    slot: usize,
    (w, h): (u32, u32),
    caption: &str,
    layers: Layers,
) -> String {
    format!(
        "<figure class=\"shot\"><svg class=\"photo\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{label}\">{uses}</svg>\
         <figcaption>{caption}</figcaption></figure>",
        label = escape(&format!("{} ({})", session_title(session), session.input)),
        uses = uses(slot, layers),
    )
}

/// One picture over the other: the baseline on top, cut at the slider (or blinking in flicker
/// mode), the session below.
fn compare_view(later: &SessionReport, slot: usize, (w, h): (u32, u32)) -> String {
    let title = escape(&session_title(later));
    let font = (w as f64 / 45.0).clamp(10.0, 40.0);
    let pad = font * 0.6;
    format!(
        "<div class=\"compare\" data-width=\"{w}\">\
         <svg class=\"photo\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Baseline over {title}\">\
         <defs><clipPath id=\"cut-{slot}\"><rect class=\"cut\" x=\"0\" y=\"0\" width=\"{half}\" height=\"{h}\"/></clipPath></defs>\
         <g class=\"under\">{under}</g><g class=\"over\" clip-path=\"url(#cut-{slot})\">{over}</g>\
         <line class=\"divider\" x1=\"{half}\" x2=\"{half}\" y1=\"0\" y2=\"{h}\"/>\
         <text class=\"tag tag-base\" x=\"{pad:.1}\" y=\"{base_y:.1}\" font-size=\"{font:.1}\">Baseline</text>\
         <text class=\"tag tag-later\" x=\"{right:.1}\" y=\"{base_y:.1}\" font-size=\"{font:.1}\" text-anchor=\"end\">{title}</text>\
         </svg>\
         <input type=\"range\" class=\"slider js-only\" min=\"0\" max=\"1000\" value=\"500\" \
         aria-label=\"Move the cut between the baseline (left) and {title} (right)\">\
         <p class=\"hint slide-hint js-only\">Drag the slider (or the picture): baseline on the left, {title} on the right.</p>\
         <p class=\"hint flick-hint\">Flicker: the picture alternates between the baseline and {title} every 0.8 s.</p>\
         </div>",
        half = w / 2,
        under = uses(slot, Layers::Switchable),
        over = uses(0, Layers::Switchable),
        base_y = pad + font,
        right = w as f64 - pad,
    )
}

/// The controls and views of one card. The radio buttons and the checkbox are the viewer's
/// first children, before the views, so that CSS sibling selectors alone switch them; only
/// the slider's drag needs the script.
fn viewer(report: &Report, later: Option<&SessionReport>, slot: usize, size: (u32, u32)) -> String {
    let baseline = &report.sessions[0];
    let base_caption = format!("Baseline · {}", escape(&date_text(baseline)));
    let mut html = String::from("<div class=\"viewer\">");
    let mut controls = String::new();
    if let Some(s) = later {
        let title = escape(&session_title(s));
        for (mode, text, checked, js_only) in [
            ("pair", "Side by side", true, false),
            ("slide", "Slider", false, true),
            ("flick", "Flicker", false, false),
        ] {
            let js = if js_only { " js-only" } else { "" };
            let _ = write!(
                html,
                "<input type=\"radio\" class=\"mode mode-{mode}{js}\" name=\"view-{slot}\" \
                 id=\"view-{slot}-{mode}\"{}>",
                if checked { " checked" } else { "" }
            );
            let _ = write!(
                controls,
                "<label class=\"for-{mode}{js}\" for=\"view-{slot}-{mode}\">{text}</label>"
            );
        }
        controls = format!(
            "<div class=\"controls\" role=\"group\" aria-label=\"View of {title}\">{controls}</div>"
        );
    }
    let _ = write!(
        html,
        "<input type=\"checkbox\" class=\"toggle\" id=\"seg-{slot}\">{controls}\
         <label class=\"toggle-label\" for=\"seg-{slot}\">Show segmentation</label>\
         <div class=\"views\"><div class=\"pair\">{}",
        figure(baseline, 0, size, &base_caption, Layers::Switchable)
    );
    let mut print_pair = format!(
        "<div class=\"pair seg-pair\">{}",
        figure(
            baseline,
            0,
            size,
            &format!("{base_caption} · segmentation"),
            Layers::Overlay
        )
    );
    if let Some(s) = later {
        let caption = format!(
            "{} · {} · aligned to baseline",
            escape(&session_title(s)),
            escape(&date_text(s))
        );
        html.push_str(&figure(s, slot, size, &caption, Layers::Switchable));
        html.push_str("</div>");
        html.push_str(&compare_view(s, slot, size));
        print_pair.push_str(&figure(
            s,
            slot,
            size,
            &format!("{caption} · segmentation"),
            Layers::Overlay,
        ));
    } else {
        html.push_str("</div>");
    }
    print_pair.push_str("</div>");
    html.push_str("</div>");
    html.push_str(&print_pair);
    html.push_str("</div>");
    html
}

/// The alignment status as a coloured badge; `prefix` names it where the context does not.
fn status_badge(s: &SessionReport, prefix: &str) -> String {
    match &s.alignment {
        None => "<span class=\"badge ref\">reference</span>".to_string(),
        Some(a) => {
            let class = match a.status.as_str() {
                "ok" => "ok",
                "poor" => "poor",
                _ => "failed",
            };
            format!(
                "<span class=\"badge {class}\">{prefix}{}</span>",
                escape(&a.status)
            )
        }
    }
}

/// "softer than the baseline" or "sharper than the baseline" when a session's photo is not
/// sharp alike with the baseline's, so its roughness and fine lines do not compare with it.
fn focus_text(s: &SessionReport) -> Option<&'static str> {
    let focus = s.focus.as_ref().filter(|f| !f.roughness_comparable)?;
    Some(if focus.fine_detail_ratio < 1.0 {
        "softer than the baseline"
    } else {
        "sharper than the baseline"
    })
}

/// "aligned through session k", when the session was aligned via a neighbour.
fn via_text(s: &SessionReport) -> Option<String> {
    let k = s.alignment.as_ref()?.via_session?;
    Some(if k == 0 {
        "aligned through the baseline".to_string()
    } else {
        format!("aligned through session {k}")
    })
}

/// Label, date source, notes of a session as one block of small print.
fn session_details(s: &SessionReport) -> String {
    let mut html = String::new();
    let facts = [
        escape(&date_source_text(s)),
        format!("<span class=\"file\">{}</span>", escape(&s.input)),
    ];
    if let Some(label) = s.label.as_deref().filter(|l| !l.trim().is_empty()) {
        let _ = write!(html, "<span class=\"label-chip\">{}</span> ", escape(label));
    }
    let _ = write!(html, "<span class=\"sub\">{}</span>", facts.join(" · "));
    if let Some(notes) = s.notes.as_deref().filter(|n| !n.trim().is_empty()) {
        let _ = write!(
            html,
            "<p class=\"notes\"><span class=\"notes-kicker\">Notes</span> {}</p>",
            escape(notes)
        );
    }
    html
}

fn sessions(report: &Report, pictures: &[Pictures], size: (u32, u32)) -> String {
    let Some(baseline) = report.sessions.first().filter(|_| !pictures.is_empty()) else {
        return "<p class=\"muted\">No sessions.</p>".to_string();
    };
    let mut html = String::new();
    let later: Vec<(usize, &SessionReport)> = report
        .sessions
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, _)| *i < pictures.len())
        .collect();
    let _ = write!(
        html,
        "<div class=\"baseline-info\"><h3>Baseline · {}</h3>{}</div>",
        escape(&date_text(baseline)),
        session_details(baseline)
    );
    if later.is_empty() {
        // A series of one photo still shows it, with its overlay.
        let _ = write!(
            html,
            "<article class=\"card session\" data-session=\"0\">{}</article>",
            viewer(report, None, 0, size)
        );
    }
    for (slot, s) in later {
        let mut meta = status_badge(s, "alignment ");
        if let Some(via) = via_text(s) {
            let _ = write!(meta, "<span class=\"via\">{}</span>", escape(&via));
        }
        if let Some(focus) = focus_text(s) {
            let _ = write!(
                meta,
                "<span class=\"badge focus\" title=\"fine detail {} × the baseline's: \
                 roughness and fine lines do not compare\">{focus}</span>",
                escape(&format_number(
                    s.focus.as_ref().map_or(1.0, |f| f.fine_detail_ratio)
                )),
            );
        }
        let _ = write!(
            html,
            "<article class=\"card session\" id=\"session-{index}\" data-session=\"{index}\">\
             <header><div><h3>{title} · {date}</h3>{details}</div><div class=\"meta\">{meta}</div></header>\
             {recovered}{turnover}{viewer}</article>",
            index = s.index,
            title = escape(&session_title(s)),
            date = escape(&date_text(s)),
            details = session_details(s),
            recovered = recovered_note(report, s, false),
            turnover = scar_turnover_note(s),
            viewer = viewer(report, Some(s), slot, size),
        );
    }
    html
}

/// One change cell: the absolute change, the relative one, and its noise marking. The
/// `data-*` attributes carry the marking for tests and scripts.
fn change_cell(
    metric: &MetricSeries,
    session: usize,
    reference: &str,
    delta: Option<f64>,
    pct: Option<f64>,
    within_noise: Option<bool>,
    sharp_alike: bool,
) -> String {
    let Some(delta) = delta else {
        return "<td class=\"num muted\">—</td>".to_string();
    };
    let reading = Reading::of_pair(&metric.name, delta, within_noise, sharp_alike);
    let within_attr = within_noise.map_or_else(String::new, |w| format!(" data-within=\"{w}\""));
    // No ratio where it means nothing (an angle's sign flips it; the reddened share's
    // threshold is set by the baseline): the page reads those in their own unit.
    let absolute = ABSOLUTE_CHANGE_METRICS.contains(&metric.name.as_str());
    let pct = pct.filter(|p| p.is_finite() && !absolute);
    let pct = pct.map_or_else(String::new, |p| {
        format!(
            " <span class=\"pct\">({} %)</span>",
            escape(&format_signed(p))
        )
    });
    format!(
        "<td class=\"num chg {class}\" data-metric=\"{name}\" data-session=\"{session}\" \
         data-ref=\"{reference}\"{within_attr}><span class=\"abs\">{abs}</span>{pct}{chip}</td>",
        class = reading.class(),
        name = escape(&metric.name),
        abs = escape(&format_signed(delta)),
        chip = reading.chip(),
    )
}

/// The trend of a metric: slope per 30 days with its 95% interval, and whether it is clear
/// and beyond noise.
fn trend_cell(metric: &MetricSeries, rows: usize) -> String {
    let Some(t) = &metric.trend else {
        return format!(
            "<td class=\"trend\" rowspan=\"{rows}\"><span class=\"muted\">—</span>\
             <span class=\"sub\">needs 3 dated sessions</span></td>"
        );
    };
    let reading = trend_reading(&metric.name, t);
    let marking = if t.clear_beyond_noise() {
        let word = match reading {
            Reading::Improved => "clearly improving",
            Reading::Worsened => "clearly worsening",
            _ => "clear trend",
        };
        format!("<span class=\"mark {}\">{word}</span>", reading.class())
    } else if t.clear {
        // Steady, but over its span it moves the metric less than the noise floor.
        format!(
            "<span class=\"mark noise\" title=\"{} over {} days: within the noise floor\">\
             steady but within noise</span>",
            escape(&with_unit(
                &format_signed(t.slope_per_30_days * t.span_days / 30.0),
                &metric.unit
            )),
            t.span_days.round(),
        )
    } else {
        "<span class=\"mark noise\">no clear trend</span>".to_string()
    };
    format!(
        "<td class=\"trend {class}\" rowspan=\"{rows}\" data-metric=\"{name}\" data-clear=\"{clear}\" \
         data-within-noise=\"{within}\">\
         <span class=\"slope\">{slope}</span><span class=\"sub\">{unit} per 30 days · {n} sessions</span>\
         <span class=\"sub\">95 % interval {lo} to {hi}</span>{marking}</td>",
        class = reading.class(),
        name = escape(&metric.name),
        clear = t.clear,
        within = t.within_noise == Some(true),
        slope = escape(&trend_text(t)),
        unit = escape(shown_unit(&metric.unit)),
        n = t.sessions,
        lo = escape(&format_signed(t.ci95[0])),
        hi = escape(&format_signed(t.ci95[1])),
    )
}

/// The slope with a `±` half-width when its interval is (nearly) symmetric; otherwise the
/// slope alone (the interval is shown beside it).
fn trend_text(t: &Trend) -> String {
    let [lo, hi] = t.ci95;
    let half = (hi - lo).abs() / 2.0;
    let centre = (hi + lo) / 2.0;
    if half > 0.0 && (centre - t.slope_per_30_days).abs() <= 0.1 * half {
        format!(
            "{} ± {}",
            format_signed(t.slope_per_30_days),
            format_number(half)
        )
    } else {
        format_signed(t.slope_per_30_days)
    }
}

fn trend_reading(metric: &str, t: &Trend) -> Reading {
    Reading::of(metric, t.slope_per_30_days, Some(!t.clear_beyond_noise()))
}

fn metrics_table(report: &Report) -> String {
    if report.metrics.is_empty() {
        return "<p class=\"muted\">No metrics.</p>".to_string();
    }
    let mut html = String::from(
        "<table class=\"metrics\"><thead><tr><th>Metric</th><th>Session</th>\
         <th class=\"num\">Value</th><th class=\"num\">Change vs baseline</th>\
         <th class=\"num\">Change vs previous</th><th>Trend</th></tr></thead>",
    );
    for metric in &report.metrics {
        html.push_str("<tbody>");
        let rows = metric.values.len();
        for (row, v) in metric.values.iter().enumerate() {
            html.push_str("<tr>");
            if row == 0 {
                let floor = noise_floor_text(metric).map_or_else(String::new, |f| {
                    format!("<span class=\"floor\">noise floor {}</span>", escape(&f))
                });
                let context = if polarity(&metric.name) == Polarity::Context {
                    "<span class=\"floor\">context, not a treatment outcome</span>"
                } else {
                    "<span class=\"floor\">lower is better</span>"
                };
                let _ = write!(
                    html,
                    "<th scope=\"rowgroup\" rowspan=\"{rows}\"><span class=\"metric\">{}</span>\
                     <code>{}</code><span class=\"unit\">{}</span>{floor}{context}</th>",
                    escape(&metric_label(&metric.name)),
                    escape(&metric.name),
                    escape(&unit_text(&metric.unit)),
                );
            }
            let session = report.sessions.iter().find(|s| s.index == v.session);
            let date = session.and_then(|s| s.date.clone()).unwrap_or_default();
            let base = v.session == 0;
            let previous = row.checked_sub(1).map(|p| metric.values[p].session);
            let _ = write!(
                html,
                "<td class=\"nowrap\">{}<span class=\"sub\">{}</span></td><td class=\"num strong\">{}</td>",
                escape(&session.map_or_else(|| format!("Session {}", v.session), session_title)),
                escape(&date),
                escape(&format_value(v.value, &metric.unit)),
            );
            html.push_str(&change_cell(
                metric,
                v.session,
                "baseline",
                (!base).then_some(v.delta),
                v.delta_pct,
                v.within_noise,
                report.sharp_alike(v.session, 0),
            ));
            html.push_str(&change_cell(
                metric,
                v.session,
                "previous",
                v.delta_prev,
                v.delta_prev_pct,
                v.within_noise_prev,
                previous.is_none_or(|p| report.sharp_alike(v.session, p)),
            ));
            if row == 0 {
                html.push_str(&trend_cell(metric, rows));
            }
            html.push_str("</tr>");
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
    let mut notes = Vec::new();
    if let Some(f) = noise_floor_text(metric) {
        notes.push(format!("band: baseline {f} (noise floor)"));
    }
    if let Some(t) = &metric.trend {
        notes.push(format!(
            "trend {} per 30 days{}",
            with_unit(&trend_text(t), &metric.unit),
            if t.clear_beyond_noise() {
                ""
            } else if t.clear {
                " (steady but within noise)"
            } else {
                " (no clear trend)"
            }
        ));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("<p class=\"chart-note\">{}</p>", escape(&notes.join(" · ")))
    };
    Ok(format!(
        "<figure class=\"card chart-card\"><figcaption><span class=\"metric\">{}</span> <code>{}</code>\
         <span class=\"unit\">{}</span></figcaption>{svg}{notes}</figure>",
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
         <th class=\"num\">Lighting gain R, G, B</th><th class=\"num\">Fine detail vs baseline</th>\
         <th>Reason</th></tr></thead><tbody>",
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
        // The gains, and what they were fitted on: redness reads against that reference.
        let gain = s.lighting.as_ref().map_or_else(
            || "—".to_string(),
            |l| {
                let gains = l
                    .gain
                    .iter()
                    .map(|g| format_number(*g))
                    .collect::<Vec<_>>()
                    .join(", ");
                let on = match l.source.as_str() {
                    crate::series::LIGHTING_FROM_PATCH => "on the card",
                    crate::series::LIGHTING_FROM_CALIBRATION_LABEL => "on the calibration label",
                    crate::series::LIGHTING_FROM_SKIN_OUTSIDE_ROI => "on skin outside the ROI",
                    _ => "on the measured skin",
                };
                format!("{gains} · {on}")
            },
        );
        let via = via_text(s).map_or_else(String::new, |v| {
            format!(
                "<span class=\"via\">{}; quality of that step</span>",
                escape(&v)
            )
        });
        let _ = write!(
            html,
            "<tr><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td><td class=\"file\">{}</td><td>{}{via}</td>",
            escape(&session_title(s)),
            escape(&s.date.clone().unwrap_or_default()),
            escape(&s.input),
            status_badge(s, ""),
        );
        for cell in cells[..4].iter().chain([&gain]) {
            let _ = write!(html, "<td class=\"num\">{}</td>", escape(cell));
        }
        match &s.focus {
            Some(f) => {
                let chip = focus_text(s).map_or_else(String::new, |text| {
                    format!("<span class=\"mark focus\">{text}</span>")
                });
                let _ = write!(
                    html,
                    "<td class=\"num\" data-fine-detail=\"{}\">{}×{chip}</td>",
                    f.fine_detail_ratio,
                    escape(&format_number(f.fine_detail_ratio)),
                );
            }
            None => html.push_str("<td class=\"num\">—</td>"),
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
        assert_eq!(format_number(-0.0001), "-0.000100");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(-0.000726), "-0.000726");
        assert_eq!(format_number(0.0000123), "0.0000123");
        assert_eq!(format_number(-4e-7), "-4.00e-7");
        assert_eq!(format_number(f64::NAN), "—");
        assert_eq!(format_signed(2.5), "+2.50");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
    }

    #[test]
    fn readings_claim_improvement_only_where_lower_is_better() {
        use Reading::*;
        assert_eq!(Reading::of("scar_area_pct", -1.0, Some(false)), Improved);
        assert_eq!(Reading::of("redness_a", 0.4, Some(false)), Worsened);
        assert_eq!(Reading::of("line_count", -3.0, Some(true)), WithinNoise);
        assert_eq!(Reading::of("roughness", -3.0, None), Unmarked);
        assert_eq!(Reading::of("ita_deg", -5.0, Some(false)), Changed);
        assert_eq!(Reading::of("ita_deg", 5.0, Some(false)), Changed);
        assert_eq!(Reading::of("something_new", -5.0, Some(false)), Changed);
        assert_eq!(Reading::Unmarked.chip(), "");
    }

    #[test]
    fn trend_shows_plus_minus_only_for_a_symmetric_interval() {
        let t = |slope, ci95| Trend {
            slope_per_30_days: slope,
            ci95,
            sessions: 4,
            clear: false,
            span_days: 90.0,
            within_noise: None,
        };
        assert_eq!(trend_text(&t(-0.5, [-1.0, 0.0])), "-0.500 ± 0.500");
        assert_eq!(trend_text(&t(-0.5, [-3.0, 0.0])), "-0.500");
        assert_eq!(trend_text(&t(2.0, [2.0, 2.0])), "+2.00");
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
