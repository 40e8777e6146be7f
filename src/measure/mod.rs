//! measure stage: the metrics of one session, in the baseline frame, on the common region.
//!
//! Takes a session photo already warped into the baseline frame and photometrically matched
//! ([`match_lighting`]), its class map (0 background, 1 fine line, 2 scar, 3 non-skin) and the
//! region to measure (common region ∩ ROI, less what any session calls non-skin); gives [`Metrics`] with the names and units of DESIGN.md
//! "Metric definitions". Colour work is in CIELAB (D65), see [`color`]; line length comes from
//! a skeleton, see [`skeleton`].

pub mod color;
pub mod lighting;
pub mod scar_turnover;
pub mod skeleton;

use imageproc::distance_transform::Norm;
use imageproc::region_labelling::{Connectivity, connected_components};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use lighting::{LightingTransform, match_lighting};

use crate::definitions::{CLASS_BACKGROUND, CLASS_LINE, CLASS_SCAR, ClassMap, MASK_ON, Mask, Rgb};

/// Skin pixels closer than this (chessboard distance, px) to a lesion or the region's edge are
/// left out of `roughness`, so that lesion borders do not leak into the texture measure.
pub const ROUGHNESS_ERODE_PX: u8 = 3;
/// Band-pass Gaussian sigmas without a scale, in px (fine and coarse).
pub const ROUGHNESS_SIGMAS_PX: (f64, f64) = (1.5, 8.0);
/// Band-pass Gaussian sigmas with a scale, in mm: structures of about 0.2–2 mm.
pub const ROUGHNESS_SIGMAS_MM: (f64, f64) = (0.1, 1.0);
/// The fine sigma is never below this many px (at low resolution 0.1 mm is under a pixel).
const MIN_SIGMA_PX: f64 = 0.5;
/// Band-pass Gaussian sigmas of `fine_detail`, in px whatever the scale: the finest detail the
/// camera resolves, which focus and motion blur take away first. Skin texture itself lives in
/// the coarser roughness band.
pub const FINE_DETAIL_SIGMAS_PX: (f64, f64) = (0.7, 1.4);
/// The range of one photo's `fine_detail` over another's in which their roughness compares.
/// Outside it, focus moves roughness by about its noise floor: on synthetic re-captures of
/// unchanged skin (defocus 0–0.8 px per photo) the softer ones read a median −3.3 % roughness,
/// the sharper +3.6 %, those in range +1.2 % (README "Repeatability").
pub const FOCUS_RATIO_LIMITS: (f64, f64) = (0.85, 1.0 / 0.85);

/// `fine_detail` of a photo over a reference photo's (1 when the reference has none).
pub fn fine_detail_ratio(fine_detail: f64, reference: f64) -> f64 {
    if reference > 0.0 && fine_detail.is_finite() {
        fine_detail / reference
    } else {
        1.0
    }
}

/// The metrics that read a photo's focus as well as its skin, so that their change between
/// two photos not sharp alike ([`focus_comparable`]) reads "focus differs". On synthetic
/// re-captures of unchanged skin, by the focus check's verdict on the later photo (README
/// "Repeatability", median change softer / in range / sharper): roughness −3.3 / +1.2 / +3.6 %;
/// fine-line area +3.1 / −0.8 / −5.2 % (a softer photo's lines read wider), about its noise
/// floor. Fine-line density (skeleton length) and count hold on synthetic skin
/// (−0.3 / −0.2 / +0.2 %), whose lines are drawn bold, but not on real skin: real photos
/// blurred by 1 px (the check reads 0.55–0.85) lose 96–100 % of their fine lines, by 0.6 px
/// (0.83–1.01) 27–100 %. Scar area (−0.3 / +0.2 / −0.2 % on synthetic skin) is left out: on
/// real skin it moves either way with blur, as it does between any two captures.
pub const FOCUS_SENSITIVE_METRICS: [&str; 6] = [
    "roughness",
    "line_area_pct",
    "line_length_px_per_mp",
    "line_length_mm_per_cm2",
    // The batch summary's name for whichever of the two a series has.
    "line_length",
    "line_count",
];

/// Whether `metric` reads focus ([`FOCUS_SENSITIVE_METRICS`]).
pub fn reads_focus(metric: &str) -> bool {
    FOCUS_SENSITIVE_METRICS.contains(&metric)
}

/// Whether two photos whose fine detail has this ratio are sharp alike, so that the metrics
/// that read focus ([`FOCUS_SENSITIVE_METRICS`]) compare ([`FOCUS_RATIO_LIMITS`]).
pub fn focus_comparable(ratio: f64) -> bool {
    (FOCUS_RATIO_LIMITS.0..=FOCUS_RATIO_LIMITS.1).contains(&ratio)
}

/// How to measure; see [`Default`] for the defaults.
#[derive(Clone, Debug)]
pub struct MeasureOptions {
    /// Pixels per millimetre in the baseline frame; `None` (or a non-positive value): no
    /// physical scale, so areas are % and lengths per megapixel. Default `None`.
    pub px_per_mm: Option<f64>,
    /// With a scale, scar components smaller than this (mm²) are not counted in `scar_count`
    /// (their area still counts). Default 0.5.
    pub min_scar_mm2: f64,
    /// The same without a scale, in px. Default 40.
    pub min_scar_px: u32,
    /// `line_count` counts skeleton components longer than this (mm). Default 1.0.
    pub min_line_mm: f64,
    /// The same without a scale, in px. Default 10.
    pub min_line_px: u32,
    /// `redness_area_pct` counts pixels whose a* exceeds the reference median a* by more than
    /// this. Default 5.0.
    pub redness_margin_a: f64,
}

impl Default for MeasureOptions {
    fn default() -> Self {
        MeasureOptions {
            px_per_mm: None,
            min_scar_mm2: 0.5,
            min_scar_px: 40,
            min_line_mm: 1.0,
            min_line_px: 10,
            redness_margin_a: 5.0,
        }
    }
}

/// A physical scale that can be used: finite and above 0 px/mm.
pub fn usable_scale(px_per_mm: Option<f64>) -> Option<f64> {
    px_per_mm.filter(|p| p.is_finite() && *p > 0.0)
}

impl MeasureOptions {
    /// The physical scale, if there is a usable one.
    fn scale(&self) -> Option<f64> {
        usable_scale(self.px_per_mm)
    }

    /// The smallest scar component `scar_count` counts, in pixels.
    pub fn min_scar_area_px(&self) -> f64 {
        match self.scale() {
            Some(s) => self.min_scar_mm2 * s * s,
            None => self.min_scar_px as f64,
        }
    }
}

/// The metrics of one session (DESIGN.md "Metric definitions"). With an empty region every
/// value is 0; callers should report such a session as not measurable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Pixels measured (the region, within the image).
    pub region_px: u64,
    /// Fine-line pixels / region pixels × 100.
    pub line_area_pct: f64,
    /// Skeleton length of the fine lines per region area, in `line_length_unit`.
    pub line_length: f64,
    /// `"mm/cm2"` with a scale, `"px/MP"` without.
    pub line_length_unit: String,
    /// 8-connected skeleton components longer than the minimum line length.
    pub line_count: usize,
    /// Scar pixels / region pixels × 100.
    pub scar_area_pct: f64,
    /// Scar area in mm², with a scale.
    pub scar_area_mm2: Option<f64>,
    /// 8-connected scar components at least the minimum scar size.
    pub scar_count: usize,
    /// Standard deviation of band-pass-filtered L* on skin that is neither line nor scar.
    pub roughness: f64,
    /// Mean a* over the region.
    pub redness_a: f64,
    /// % of region pixels whose a* exceeds the reference median a* by the margin.
    pub redness_area_pct: f64,
    /// Individual typology angle atan2(L* − 50, b*) in degrees, from the median L* and b* of
    /// non-lesion skin.
    pub ita_deg: f64,
    /// Median a* over the region (the baseline's is the reference for `redness_area_pct`).
    pub a_median: f64,
    /// Standard deviation of L* in the [`FINE_DETAIL_SIGMAS_PX`] band on the pixels
    /// `roughness` reads: how sharp the photo is there. Compared with the baseline's, it says
    /// whether a session's roughness is comparable (a softer photo reads smoother skin).
    #[serde(default)]
    pub fine_detail: f64,
}

impl Metrics {
    /// The metrics as `(name, value, unit)` with DESIGN.md names, e.g.
    /// `("line_length_mm_per_cm2", v, "mm/cm2")` or `("line_length_px_per_mp", v, "px/MP")`;
    /// `scar_area_mm2` only with a scale. `region_px`, `a_median` and `fine_detail` are
    /// context, not metrics, and are not listed.
    pub fn named(&self) -> Vec<(&'static str, f64, &'static str)> {
        let length = if self.line_length_unit == "mm/cm2" {
            ("line_length_mm_per_cm2", self.line_length, "mm/cm2")
        } else {
            ("line_length_px_per_mp", self.line_length, "px/MP")
        };
        let mut out = vec![
            ("line_area_pct", self.line_area_pct, "%"),
            length,
            ("line_count", self.line_count as f64, "count"),
            ("scar_area_pct", self.scar_area_pct, "%"),
        ];
        if let Some(mm2) = self.scar_area_mm2 {
            out.push(("scar_area_mm2", mm2, "mm2"));
        }
        out.extend([
            ("scar_count", self.scar_count as f64, "count"),
            ("roughness", self.roughness, "L*"),
            ("redness_a", self.redness_a, "a*"),
            ("redness_area_pct", self.redness_area_pct, "%"),
            ("ita_deg", self.ita_deg, "deg"),
        ]);
        out
    }
}

/// Measures one session.
///
/// `image`: the session photo warped into the baseline frame (after lighting matching);
/// `classes`: class map (0 bg, 1 fine line, 2 scar, 3 non-skin) in the baseline frame;
/// `region`: 255 where measured (common region ∩ ROI ∩ skin); `reference_a_median`: the baseline's `a_median` (`None` when
/// measuring the baseline itself: its own is used). Inputs of different sizes are measured on
/// their common top-left part.
pub fn measure(
    image: &Rgb,
    classes: &ClassMap,
    region: &Mask,
    opts: &MeasureOptions,
    reference_a_median: Option<f64>,
) -> Metrics {
    let w = image.width().min(classes.width()).min(region.width());
    let h = image.height().min(classes.height()).min(region.height());
    let scale = opts.scale();
    let line_length_unit = if scale.is_some() { "mm/cm2" } else { "px/MP" }.to_string();

    // Per-pixel region and class, row-major over the measured frame.
    let n = w as usize * h as usize;
    let mut in_region = vec![false; n];
    let mut class = vec![CLASS_BACKGROUND; n];
    for y in 0..h {
        for x in 0..w {
            let i = y as usize * w as usize + x as usize;
            in_region[i] = region.get_pixel(x, y).0[0] == MASK_ON;
            class[i] = classes.get_pixel(x, y).0[0];
        }
    }
    let region_px = in_region.iter().filter(|&&r| r).count() as u64;
    if region_px == 0 {
        return Metrics {
            region_px: 0,
            line_area_pct: 0.0,
            line_length: 0.0,
            line_length_unit,
            line_count: 0,
            scar_area_pct: 0.0,
            scar_area_mm2: scale.map(|_| 0.0),
            scar_count: 0,
            roughness: 0.0,
            redness_a: 0.0,
            redness_area_pct: 0.0,
            ita_deg: 0.0,
            a_median: 0.0,
            fine_detail: 0.0,
        };
    }
    let region_f = region_px as f64;
    let mask_of = |want: u8| {
        Mask::from_fn(w, h, |x, y| {
            let i = y as usize * w as usize + x as usize;
            image::Luma([if in_region[i] && class[i] == want {
                MASK_ON
            } else {
                0
            }])
        })
    };

    // Fine lines: area, skeleton length, count. Each whole-frame buffer below lives only as
    // long as its metric needs it: at 24 megapixels one f32 plane is 96 MB (issue 6: 1.5 GB).
    let (line_px, skeleton_px, components) = {
        let lines = mask_of(CLASS_LINE);
        let line_px = lines.iter().filter(|&&v| v != 0).count() as f64;
        let (skeleton_px, components) = skeleton::skeleton_length(&skeleton::thin(&lines));
        (line_px, skeleton_px, components)
    };
    let (line_length, min_line_px) = match scale {
        // mm of skeleton / cm² of region = (len / s) / (px / s² / 100).
        Some(s) => (100.0 * skeleton_px * s / region_f, opts.min_line_mm * s),
        None => (skeleton_px / (region_f / 1e6), opts.min_line_px as f64),
    };
    let line_count = components.iter().filter(|&&l| l > min_line_px).count();

    // Scars: area and count of components above the minimum size.
    let min_scar_px = opts.min_scar_area_px();
    let (scar_px, scar_count) = {
        let scars = mask_of(CLASS_SCAR);
        let scar_px = scars.iter().filter(|&&v| v != 0).count() as f64;
        let labels = connected_components(&scars, Connectivity::Eight, image::Luma([0u8]));
        let mut sizes = vec![0u64; labels.iter().copied().max().unwrap_or(0) as usize];
        for &l in labels.iter().filter(|&&l| l > 0) {
            sizes[l as usize - 1] += 1;
        }
        let count = sizes.iter().filter(|&&s| s as f64 >= min_scar_px).count();
        (scar_px, count)
    };

    // Colour: a* over the region, L* and b* over non-lesion skin.
    let color::LabPlanes { l, a, b, .. } = color::image_to_lab(image, w, h);
    let mut a_region: Vec<f32> = (0..n).filter(|&i| in_region[i]).map(|i| a[i]).collect();
    drop(a);
    let redness_a = a_region.iter().map(|&v| v as f64).sum::<f64>() / region_f;
    let a_median = median(&mut a_region);
    let threshold = reference_a_median.unwrap_or(a_median) + opts.redness_margin_a;
    // A count, so the order `median` left the values in does not matter.
    let red_px = a_region.iter().filter(|&&v| v as f64 > threshold).count() as f64;
    drop(a_region);

    let skin = mask_of(CLASS_BACKGROUND);
    // All lesion: fall back to the whole region rather than report nothing.
    let any_skin = skin.iter().any(|&v| v != 0);
    let on_skin = |i: usize| {
        if any_skin {
            skin.as_raw()[i] != 0
        } else {
            in_region[i]
        }
    };
    let skin_median = |plane: &[f32]| {
        let mut values: Vec<f32> = (0..n).filter(|&i| on_skin(i)).map(|i| plane[i]).collect();
        median(&mut values)
    };
    let l_med = skin_median(&l);
    let b_med = skin_median(&b);
    drop(b);
    let ita_deg = (l_med - 50.0).atan2(b_med).to_degrees();

    let sigmas = match scale {
        Some(s) => (ROUGHNESS_SIGMAS_MM.0 * s, ROUGHNESS_SIGMAS_MM.1 * s),
        None => ROUGHNESS_SIGMAS_PX,
    };
    drop((class, in_region));
    let Texture {
        roughness,
        fine_detail,
    } = texture(l, &skin, sigmas);

    Metrics {
        region_px,
        line_area_pct: 100.0 * line_px / region_f,
        line_length,
        line_length_unit,
        line_count,
        scar_area_pct: 100.0 * scar_px / region_f,
        scar_area_mm2: scale.map(|s| scar_px / (s * s)),
        scar_count,
        roughness,
        redness_a,
        redness_area_pct: 100.0 * red_px / region_f,
        ita_deg,
        a_median,
        fine_detail,
    }
}

/// Band-pass standard deviations of L* on plain skin.
struct Texture {
    /// In the roughness band.
    roughness: f64,
    /// In the [`FINE_DETAIL_SIGMAS_PX`] band.
    fine_detail: f64,
}

/// Standard deviation of the difference of Gaussians (`sigmas` fine, coarse; px) of `l` over
/// the skin mask eroded by [`ROUGHNESS_ERODE_PX`] (roughness), and the same in the fine-detail
/// band. The blurs are normalised convolutions weighted by the skin mask, so lesions and
/// pixels outside the region do not enter the band-pass at all; the erosion drops border
/// pixels that may be part lesion. Takes `l` to weight it in place (one whole-frame plane less
/// at the peak).
fn texture(l: Vec<f32>, skin: &Mask, sigmas: (f64, f64)) -> Texture {
    let (w, h) = (skin.width() as usize, skin.height() as usize);
    let fine = sigmas.0.max(MIN_SIGMA_PX);
    let coarse = sigmas.1.max(2.0 * fine);
    let weight = |v: u8| if v != 0 { 1.0f32 } else { 0.0 };
    let mut weighted = l;
    for (value, &m) in weighted.iter_mut().zip(skin.as_raw()) {
        *value *= weight(m);
    }
    let smooth = |sigma: f64| {
        let mut num = gaussian_blur(&weighted, w, h, sigma, |v| v);
        let den = gaussian_blur(skin.as_raw(), w, h, sigma, weight);
        for (n, d) in num.iter_mut().zip(&den) {
            *n = if *d > 1e-6 { *n / d } else { 0.0 };
        }
        num
    };
    let eroded = imageproc::morphology::erode(skin, Norm::LInf, ROUGHNESS_ERODE_PX);
    let pick = if eroded.iter().any(|&v| v != 0) {
        &eroded
    } else {
        skin
    };
    let band_std = |sigmas: (f64, f64)| {
        let (f, c) = (smooth(sigmas.0), smooth(sigmas.1));
        std_on(pick, |i| (f[i] - c[i]) as f64)
    };
    Texture {
        roughness: band_std((fine, coarse)),
        fine_detail: band_std(FINE_DETAIL_SIGMAS_PX),
    }
}

/// Standard deviation of `value(i)` over the pixels `i` set in `mask` (0 with fewer than 2).
fn std_on(mask: &Mask, value: impl Fn(usize) -> f64) -> f64 {
    let (mut sum, mut sum2, mut count) = (0.0f64, 0.0f64, 0.0f64);
    for (i, _) in mask.iter().enumerate().filter(|(_, v)| **v != 0) {
        let d = value(i);
        sum += d;
        sum2 += d * d;
        count += 1.0;
    }
    if count < 2.0 {
        return 0.0;
    }
    let mean = sum / count;
    (sum2 / count - mean * mean).max(0.0).sqrt()
}

/// Separable Gaussian blur of a `w × h` plane (of `value(pixel)`), zero outside (the normalised
/// convolution in [`roughness`] divides the zero padding out), kernel truncated at 3 sigma.
/// Both passes run down columns (whole rows accumulate at once, which vectorises): the second
/// on strips of rows transposed one at a time, in place, so the blur needs no whole-frame
/// plane besides its output.
fn gaussian_blur<T: Copy + Sync>(
    plane: &[T],
    w: usize,
    h: usize,
    sigma: f64,
    value: impl Fn(T) -> f32 + Sync,
) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as usize;
    let mut kernel: Vec<f32> = (0..=2 * r)
        .map(|k| {
            let d = k as f64 - r as f64;
            (-d * d / (2.0 * sigma * sigma)).exp() as f32
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    if w == 0 || h == 0 {
        return vec![0.0; w * h];
    }
    let mut out = blur_columns(plane, w, h, &kernel, value);
    const STRIP_ROWS: usize = 32;
    out.par_chunks_mut(w * STRIP_ROWS).for_each(|strip| {
        let rows = strip.len() / w;
        let blurred = blur_columns(&transpose(strip, w, rows), rows, w, &kernel, |v| v);
        strip.copy_from_slice(&transpose(&blurred, rows, w));
    });
    out
}

/// Convolves each column of a `w × h` plane (of `value(pixel)`) with `kernel` (odd length,
/// centred), zero outside.
fn blur_columns<T: Copy + Sync>(
    plane: &[T],
    w: usize,
    h: usize,
    kernel: &[f32],
    value: impl Fn(T) -> f32 + Sync,
) -> Vec<f32> {
    let r = kernel.len() / 2;
    let mut out = vec![0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, out_row)| {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(h - 1);
        for yy in lo..=hi {
            let k = kernel[yy + r - y];
            let src = &plane[yy * w..(yy + 1) * w];
            for (o, &s) in out_row.iter_mut().zip(src) {
                *o += k * value(s);
            }
        }
    });
    out
}

/// Transposes a `w × h` row-major plane into an `h × w` one, in cache-friendly tiles.
fn transpose(plane: &[f32], w: usize, h: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0f32; w * h];
    // Output rows are input columns; each parallel task fills TILE output rows.
    out.par_chunks_mut(h * TILE)
        .enumerate()
        .for_each(|(t, block)| {
            let x0 = t * TILE;
            let rows = block.len() / h;
            for y0 in (0..h).step_by(TILE) {
                for y in y0..(y0 + TILE).min(h) {
                    for dx in 0..rows {
                        block[dx * h + y] = plane[y * w + x0 + dx];
                    }
                }
            }
        });
    out
}

/// Median of `values` (mean of the two middle ones for an even count); 0 when empty.
fn median(values: &mut [f32]) -> f64 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    let (left, mid, _) = values.select_nth_unstable_by(n / 2, f32::total_cmp);
    let upper = *mid as f64;
    if n % 2 == 1 {
        upper
    } else {
        let lower = left.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        (lower + upper) / 2.0
    }
}

#[cfg(test)]
mod tests;
