//! report stage: turns a measured series into `report.json`, `metrics.csv`, `report.html`
//! and overlay PNGs. The data model below is the JSON schema (DESIGN.md "Outputs").

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::definitions::{Homography, Mask, Rgb};
use crate::{Error, Result};

mod atomic;
mod chart;
mod csv;
mod html;
mod json;
mod overlay;

pub use atomic::{remove_stale_temporaries, write_atomic};
pub use html::escape;
pub use overlay::{
    APPEARED_COLOUR, LINE_COLOUR, SCAR_COLOUR, VANISHED_COLOUR, draw_overlay, mark_turnover,
};

/// File names in the output folder (overlays are named per session by `SessionReport::overlay`).
pub const JSON_FILE: &str = "report.json";
pub const CSV_FILE: &str = "metrics.csv";
pub const HTML_FILE: &str = "report.html";

/// Bumped whenever a field changes meaning or is removed.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub model: ModelInfo,
    /// Name of the series (folder name or given label).
    pub series: String,
    pub scale: ScaleInfo,
    /// Measurement limited to this rectangle of the baseline frame: [x, y, w, h].
    pub roi: Option<[u32; 4]>,
    pub common_region: RegionInfo,
    pub sessions: Vec<SessionReport>,
    pub metrics: Vec<MetricSeries>,
    /// What a reader must know about how the series was assembled, e.g. photos a batch left
    /// out and which photo became the baseline instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub timings_ms: StageTimings,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// File name of the ONNX model.
    pub file: String,
    /// The manifest's decision settings applied to the logits (`output.class_bias`,
    /// `output.scar_core_margin`, `output.line_bridge_margin`): the same weights with another
    /// rule give other numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_bias: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scar_core_margin: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_bridge_margin: Option<f32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleInfo {
    pub px_per_mm: Option<f64>,
    /// `user` (--px-per-mm), `series_file` (the baseline's row), `calibration_target` (found
    /// in the baseline photo), `none`.
    pub source: String,
    /// The calibration target found in the baseline photo (excluded from measuring whatever
    /// the scale's source).
    #[serde(default)]
    pub target: Option<TargetInfo>,
}

/// A calibration target (black disc on a white label) found in the baseline photo.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Disc centre, baseline pixels.
    pub centre: [f64; 2],
    pub diameter_px: f64,
    /// The disc's stated diameter.
    pub diameter_mm: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegionInfo {
    /// Pixels of the baseline frame in the common region.
    pub pixels: u64,
    /// Common region / baseline frame.
    pub fraction_of_baseline: f64,
    /// Pixels left out of the common region because a session's segmentation calls them not
    /// skin (hair, eyes, lips, nostrils, clothes, background), with the 6 px of skin next to
    /// them; `pixels` is the skin measured.
    #[serde(default)]
    pub non_skin_px: u64,
    /// Whether the model tells skin from non-skin (its manifest lists `non_skin`); without it
    /// the whole common region is measured as skin.
    #[serde(default)]
    pub skin_segmented: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionReport {
    /// 0 is the baseline.
    pub index: usize,
    /// Input file name (no directories unless the user asked for full paths).
    pub input: String,
    /// Capture date `YYYY-MM-DD`, if known.
    pub date: Option<String>,
    /// `exif`, `file_name`, `series_file` or `none`.
    pub date_source: String,
    /// Photo size after EXIF orientation: [width, height].
    pub size: [u32; 2],
    /// The session's label and notes from the series file (e.g. treatment settings).
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Alignment onto the baseline; `None` for the baseline itself.
    pub alignment: Option<AlignmentReport>,
    /// Colour transform that matched this session's lighting to the baseline.
    pub lighting: Option<LightingReport>,
    /// Overlay PNG file name in the output folder.
    pub overlay: String,
    /// "Skin recovered" readout for planning the next session: redness (`redness_a`) is back
    /// within its noise floor of the baseline. `None` for the baseline.
    #[serde(default)]
    pub redness_recovered: Option<bool>,
    /// How sharp this session's photo is against the baseline's, where roughness is read.
    /// `None` for the baseline.
    #[serde(default)]
    pub focus: Option<FocusReport>,
    /// Scar regions this session has and the baseline does not, and the reverse: where a
    /// change in scar area comes from. `None` for the baseline.
    #[serde(default)]
    pub scar_turnover: Option<crate::measure::scar_turnover::ScarTurnover>,
}

impl Report {
    /// Whether sessions `a` and `b` were photographed sharp alike, so that the metrics that
    /// read focus ([`crate::measure::FOCUS_SENSITIVE_METRICS`]) compare
    /// ([`crate::measure::FOCUS_RATIO_LIMITS`]); true where a session has no focus reading
    /// (reports written before skintrack measured focus).
    pub fn sharp_alike(&self, a: usize, b: usize) -> bool {
        let ratio = |i: usize| {
            if i == 0 {
                return Some(1.0);
            }
            let session = self.sessions.iter().find(|s| s.index == i)?;
            session.focus.as_ref().map(|f| f.fine_detail_ratio)
        };
        match (ratio(a), ratio(b)) {
            (Some(x), Some(y)) => {
                crate::measure::focus_comparable(crate::measure::fine_detail_ratio(x, y))
            }
            _ => true,
        }
    }
}

/// A session's fine detail against the baseline's. Defocus, motion blur or a softer lens
/// lowers roughness as surely as smoother skin does, and widens the fine lines the model
/// finds, so a session whose photo is much softer or sharper than the baseline's has a
/// roughness and a fine-line area ([`crate::measure::FOCUS_SENSITIVE_METRICS`]) that do not
/// compare with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FocusReport {
    /// The session's `fine_detail` over the baseline's (1: as sharp; below 1: softer).
    pub fine_detail_ratio: f64,
    /// The ratio lies within [`crate::measure::FOCUS_RATIO_LIMITS`], so roughness compares,
    /// and so does every metric that reads focus ([`crate::measure::FOCUS_SENSITIVE_METRICS`];
    /// the name predates the others, kept so that reports stay readable).
    pub roughness_comparable: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AlignmentReport {
    /// Maps this session's pixel (x, y) to baseline pixel coordinates (row-major).
    pub later_to_baseline: Homography,
    pub matches: usize,
    pub inliers: usize,
    pub rms_px: f64,
    /// Share of the baseline frame this session covers after warping.
    pub overlap: f64,
    /// Zero-normalised cross-correlation of baseline and warped session on the overlap.
    pub correlation: f64,
    /// `ok`, `poor` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    /// When the session could not be aligned directly onto the baseline: the session it was
    /// aligned to instead, whose own transform was composed with it. The quality fields then
    /// describe that neighbour alignment.
    #[serde(default)]
    pub via_session: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LightingReport {
    /// Per channel (R, G, B): matched = gain · value + offset, on 0–255 values.
    pub gain: [f64; 3],
    pub offset: [f64; 3],
    /// Pixels the fit used.
    pub fit_pixels: u64,
    /// What the fit was made on: `reference_patch` (the user's grey/colour card),
    /// `calibration_label` (white balance from the calibration target's label in both photos,
    /// exposure from skin outside the ROI or the measured skin), `skin_outside_roi` (with an
    /// ROI: plain skin both sessions show outside it, untreated skin), or `plain_skin` (skin
    /// that is neither line nor scar in both sessions, in the measured region itself; then an
    /// even change of colour of all that skin, such as redness over the whole treated area, is
    /// matched away as lighting).
    #[serde(default = "default_lighting_source")]
    pub source: String,
}

fn default_lighting_source() -> String {
    crate::series::LIGHTING_FROM_MEASURED_SKIN.into()
}

/// One metric over the whole series.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricSeries {
    /// DESIGN.md name, e.g. `scar_area_pct`.
    pub name: String,
    pub unit: String,
    /// One per session, in session order.
    pub values: Vec<MetricValue>,
    /// How much the metric moves between two photos of an unchanged area; changes within it
    /// are marked `within_noise`. `None` when not measured for this metric.
    #[serde(default)]
    pub noise_floor: Option<NoiseFloor>,
    /// Robust trend over time; `None` with fewer than 3 dated sessions.
    #[serde(default)]
    pub trend: Option<Trend>,
    /// The metric reads the photo's focus as well as the skin
    /// ([`crate::measure::FOCUS_SENSITIVE_METRICS`]): its change between a session whose
    /// `focus.roughness_comparable` is false and the baseline reads focus, not skin, and its
    /// trend leaves such sessions out.
    #[serde(default)]
    pub reads_focus: bool,
}

/// Metrics whose change is read in their own unit, never as a ratio: angles and colour
/// coordinates, and the reddened share (its threshold is set by the baseline itself). Their
/// noise floors have an absolute part only.
pub const ABSOLUTE_CHANGE_METRICS: &[&str] = &["redness_a", "redness_area_pct", "ita_deg"];

/// A metric's repeatability (README "Repeatability"): a change from a reference value is
/// within noise when |change| ≤ `absolute` + `relative_pct` % of |reference|.
///
/// Both parts, because the noise of an area or a density has both: a share of what is there
/// (edges move with the view) and a little that appears or vanishes whatever is there (a
/// faint spot found in one photo only). A relative floor alone must be huge to cover near-zero
/// references; an absolute one alone is too loose on large ones. Angles and colour
/// coordinates have an absolute part only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseFloor {
    /// In % of |reference|.
    pub relative_pct: f64,
    /// In the metric's unit.
    pub absolute: f64,
}

impl NoiseFloor {
    /// The largest change from `reference` that is still noise.
    pub fn half_width(&self, reference: f64) -> f64 {
        self.absolute + self.relative_pct / 100.0 * reference.abs()
    }

    /// Whether a change of `delta` from `reference` is within noise.
    pub fn contains(&self, delta: f64, reference: f64) -> bool {
        delta.abs() <= self.half_width(reference)
    }
}

/// Theil–Sen slope of the metric against the capture date, with Sen's 95% confidence interval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trend {
    /// Median pairwise slope, in the metric's unit per 30 days.
    pub slope_per_30_days: f64,
    /// 95% confidence interval of the slope (per 30 days); with few sessions it is the range of
    /// the pairwise slopes.
    pub ci95: [f64; 2],
    /// Sessions used (those with a date).
    pub sessions: usize,
    /// The interval excludes zero: the metric is clearly moving.
    pub clear: bool,
    /// Days between the first and the last session the trend used.
    #[serde(default)]
    pub span_days: f64,
    /// The change the slope makes over `span_days` is within the metric's noise floor at the
    /// baseline value: however steady, the trend moves the metric less than two photos of
    /// unchanged skin differ, so it is not read as improving or worsening. `None` without a
    /// floor.
    #[serde(default)]
    pub within_noise: Option<bool>,
}

impl Trend {
    /// Clearly moving ([`Trend::clear`]) by more than the noise floor over its span.
    pub fn clear_beyond_noise(&self) -> bool {
        self.clear && self.within_noise != Some(true)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricValue {
    pub session: usize,
    pub value: f64,
    /// value − baseline value.
    pub delta: f64,
    /// delta relative to the baseline value, in %; `None` when the baseline is 0.
    pub delta_pct: Option<f64>,
    /// value − previous session's value (`None` for the baseline).
    pub delta_prev: Option<f64>,
    pub delta_prev_pct: Option<f64>,
    /// The change against baseline is within the metric's noise floor (`None` for the
    /// baseline or when the metric has no measured floor).
    #[serde(default)]
    pub within_noise: Option<bool>,
    /// The same for the change against the previous session.
    #[serde(default)]
    pub within_noise_prev: Option<bool>,
}

/// Wall time of each stage, summed over sessions, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StageTimings {
    pub load: f64,
    pub align: f64,
    pub segment: f64,
    pub measure: f64,
    pub report: f64,
}

/// Images of one session for the visual outputs, all in the BASELINE frame and of the same size.
#[derive(Clone, Debug)]
pub struct SessionVisuals {
    /// The session's photo warped into the baseline frame (the baseline photo itself for
    /// session 0), photometrically matched.
    pub aligned: Rgb,
    /// `aligned` with its segmentation drawn on it ([`draw_overlay`]).
    pub overlay: Rgb,
    /// Where `aligned` holds real pixels (255) rather than fill outside the warped photo.
    pub valid: Mask,
}

/// Writes `report.json`, `metrics.csv`, `report.html` and one overlay PNG per session (file
/// name `SessionReport::overlay`) into `out_dir`, creating it if missing. Every file is
/// written atomically ([`write_atomic`]); PNGs carry no metadata. `visuals[i]` belongs to
/// `report.sessions[i]`.
///
/// # Errors
/// [`Error::Output`] naming the file that could not be written (or the folder that could not
/// be created) and why; also when `visuals` does not match the sessions one to one, or an
/// overlay name is not a plain file name.
pub fn write_all(report: &Report, visuals: &[SessionVisuals], out_dir: &Path) -> Result<()> {
    let fail = |name: &str, reason: String| Error::Output {
        path: out_dir.join(name),
        reason,
    };
    if visuals.len() != report.sessions.len() {
        return Err(Error::Output {
            path: out_dir.to_path_buf(),
            reason: format!(
                "{} sessions but {} sets of images",
                report.sessions.len(),
                visuals.len()
            ),
        });
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::Output {
        path: out_dir.to_path_buf(),
        reason: format!("cannot create folder: {e}"),
    })?;
    let mut names = vec![JSON_FILE, CSV_FILE, HTML_FILE];
    names.extend(report.sessions.iter().map(|s| s.overlay.as_str()));
    remove_stale_temporaries(out_dir, &names);
    for session in &report.sessions {
        if !is_plain_file_name(&session.overlay) {
            return Err(fail(
                &session.overlay,
                "overlay name must be a plain file name".to_string(),
            ));
        }
    }

    write_atomic(
        &out_dir.join(JSON_FILE),
        &json::render(report).map_err(|e| fail(JSON_FILE, e))?,
    )?;
    write_atomic(
        &out_dir.join(CSV_FILE),
        &csv::render(report).map_err(|e| fail(CSV_FILE, e))?,
    )?;
    // Encoding dominates here; one session per task.
    report
        .sessions
        .par_iter()
        .zip(visuals)
        .try_for_each(|(session, v)| {
            let png = encode_png(&v.overlay).map_err(|e| fail(&session.overlay, e))?;
            write_atomic(&out_dir.join(&session.overlay), &png)
        })?;
    let page = html::render(report, visuals).map_err(|e| fail(HTML_FILE, e))?;
    write_atomic(&out_dir.join(HTML_FILE), page.as_bytes())
}

/// PNG bytes of `image`: only the IHDR, IDAT and IEND chunks, so no metadata of any kind.
pub fn encode_png(image: &Rgb) -> std::result::Result<Vec<u8>, String> {
    use image::ImageEncoder as _;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| format!("cannot encode PNG: {e}"))?;
    Ok(bytes)
}

/// A name that stays inside the output folder: one normal path component.
fn is_plain_file_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    )
}

#[cfg(test)]
mod tests;
