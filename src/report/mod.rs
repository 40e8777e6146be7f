//! report stage: turns a measured series into `report.json`, `metrics.csv`, `report.html`
//! and overlay PNGs. The data model below is the JSON schema (DESIGN.md "Outputs").

use serde::{Deserialize, Serialize};

use crate::definitions::Homography;

/// Bumped whenever a field changes meaning or is removed.
pub const SCHEMA_VERSION: u32 = 1;

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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleInfo {
    pub px_per_mm: Option<f64>,
    /// `user`, `series_file`, `none`.
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegionInfo {
    /// Pixels of the baseline frame in the common region.
    pub pixels: u64,
    /// Common region / baseline frame.
    pub fraction_of_baseline: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionReport {
    /// 0 is the baseline.
    pub index: usize,
    /// Input file name (no directories unless the user asked for full paths).
    pub input: String,
    /// Capture date `YYYY-MM-DD`, if known.
    pub date: Option<String>,
    /// `exif`, `file_name` or `none`.
    pub date_source: String,
    /// Photo size after EXIF orientation: [width, height].
    pub size: [u32; 2],
    /// Alignment onto the baseline; `None` for the baseline itself.
    pub alignment: Option<AlignmentReport>,
    /// Colour transform that matched this session's lighting to the baseline.
    pub lighting: Option<LightingReport>,
    /// Overlay PNG file name in the output folder.
    pub overlay: String,
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LightingReport {
    /// Per channel (R, G, B): matched = gain · value + offset, on 0–255 values.
    pub gain: [f64; 3],
    pub offset: [f64; 3],
    /// Pixels the fit used (skin that is neither line nor scar, in the common region).
    pub fit_pixels: u64,
}

/// One metric over the whole series.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricSeries {
    /// DESIGN.md name, e.g. `scar_area_pct`.
    pub name: String,
    pub unit: String,
    /// One per session, in session order.
    pub values: Vec<MetricValue>,
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
