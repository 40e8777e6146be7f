//! align stage: brings a later photo of the same skin area into the baseline photo's frame and
//! says how good that alignment is.
//!
//! Takes two RGB photos (baseline, later) and gives an [`Alignment`]: the homography mapping
//! later pixels to baseline pixels (full resolution, DESIGN.md), match statistics, overlap,
//! correlation and a status (ok / poor / failed, with the reason). [`warp_to_baseline`] then
//! resamples photos into the baseline frame (class maps are taken there straight from the
//! model's logits: `segment::Model::segment_in_frame`).
//!
//! Method: both photos are turned into locally contrast-normalised gray images (so exposure,
//! white balance and smooth lighting gradients do not matter), keypoints with rBRIEF
//! descriptors are matched ([`features`]), a homography is fitted by seeded RANSAC
//! ([`ransac`]), and then refined coarse-to-fine by inverse-compositional Lucas–Kanade on the
//! images themselves ([`refine`]), kept only where it raises the correlation. Every step is
//! deterministic for a given [`AlignOptions::seed`].

mod features;
mod plane;
mod ransac;
mod refine;
mod warp;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::definitions::{Homography, Rgb};
use features::Steer;
use plane::{Plane, scale_homography};

pub use warp::warp_to_baseline;

/// Longest side of the images the intensity refinement works on.
const WORKING_LONG_SIDE: usize = 1600;
/// Refinement pyramid levels stop halving below this longest side.
const COARSEST_LONG_SIDE: usize = 160;
/// Features are detected at most at this fraction of the smaller photo's resolution (and both
/// photos at the same size): at full resolution sensor noise and JPEG 8×8 block edges make
/// corners that do not move with the skin, and on dark skin, whose texture is faint, they
/// crowded out the real ones (2 of 10 darkest-skin pairs failed with ~5 inliers).
const MAX_FEATURE_FRACTION: f64 = 0.6;
/// Scale of the one retry of the feature stage when it finds few inliers, and the smallest
/// longest side it runs at.
const RETRY_SCALE: f64 = 0.7;
const RETRY_MIN_SIDE: usize = 160;
/// Local contrast normalisation window (Gaussian sigma) as a fraction of the longest side.
const NORMALISE_SIGMA_FRACTION: f32 = 1.0 / 80.0;
/// Fixed descriptor angles tried besides keypoint orientation (degrees): BRIEF tolerates about
/// ±7°, so these cover rotations up to about ±27°.
const HYPOTHESIS_ANGLES_DEG: [f64; 5] = [-20.0, -10.0, 0.0, 10.0, 20.0];
/// RANSAC inliers from keypoint-oriented or upright descriptors that make trying the other
/// angles unnecessary.
const CONVINCING_INLIERS: usize = 150;
/// Photos smaller than this (either side) are not aligned.
const MIN_SIDE: u32 = 64;
/// Largest plausible scale change between the photos (at equal feature resolution) and
/// largest plausible ratio of the warp's principal stretches.
const MAX_SCALE: f64 = 2.0;
const MAX_ANISOTROPY: f64 = 2.0;
/// Overlap below which alignment fails, and below which it is poor.
const FAIL_OVERLAP: f64 = 0.3;
const POOR_OVERLAP: f64 = 0.6;
/// Correlation (of locally normalised images) below which alignment fails / is poor.
const FAIL_CORRELATION: f64 = 0.2;
const POOR_CORRELATION: f64 = 0.4;

/// How [`align`] works; `Default` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct AlignOptions {
    /// Features are detected on images downscaled to this longest side (default 1024), or to
    /// 0.6 of the smaller photo's longest side where that is less.
    pub feature_long_side: u32,
    /// Most keypoints per photo (default 4000).
    pub max_features: usize,
    /// Most RANSAC iterations; fewer when the inlier ratio allows (default 2000).
    pub ransac_iterations: usize,
    /// RANSAC inlier distance in pixels at the feature scale (default 3.0).
    pub ransac_threshold_px: f64,
    /// Refine the homography on the image intensities (default true).
    pub refine: bool,
    /// Fewer RANSAC inliers than this means failed (default 25).
    pub min_inliers: usize,
    /// Seed of every random choice (default 0x5eed).
    pub seed: u64,
}

impl Default for AlignOptions {
    fn default() -> Self {
        AlignOptions {
            feature_long_side: 1024,
            max_features: 4000,
            ransac_iterations: 2000,
            ransac_threshold_px: 3.0,
            refine: true,
            min_inliers: 25,
            seed: 0x5eed,
        }
    }
}

/// How far an alignment can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlignStatus {
    /// Use it.
    Ok,
    /// Usable, but a quality measure is borderline (see the reason).
    Poor,
    /// No usable alignment; the homography must not be used.
    Failed,
}

impl AlignStatus {
    /// The report's spelling (the same as its serde name): `ok`, `poor`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlignStatus::Ok => "ok",
            AlignStatus::Poor => "poor",
            AlignStatus::Failed => "failed",
        }
    }
}

/// The result of [`align`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alignment {
    /// Maps a LATER pixel (x, y) to BASELINE pixel coordinates, full resolution. When the status
    /// is failed this is the best estimate found (or the identity) and means nothing.
    pub later_to_baseline: Homography,
    /// Putative feature matches (ratio test and mutual check passed).
    pub matches: usize,
    /// Matches consistent with the RANSAC homography.
    pub inliers: usize,
    /// Reprojection RMS of the inliers under the final homography, in full-resolution baseline
    /// px (0 when failed).
    pub rms_px: f64,
    /// Fraction of the baseline frame covered by the warped later photo.
    pub overlap: f64,
    /// Zero-normalised cross-correlation of the locally normalised baseline and warped later
    /// photo on the overlap (1 = identical texture, ~0 = unrelated).
    pub correlation: f64,
    pub status: AlignStatus,
    /// Why the status is poor or failed.
    pub reason: Option<String>,
}

impl Alignment {
    fn failed(
        reason: String,
        later_to_baseline: Homography,
        matches: usize,
        inliers: usize,
    ) -> Alignment {
        Alignment {
            later_to_baseline,
            matches,
            inliers,
            // Zero rather than NaN: JSON has no NaN and reports must read back.
            rms_px: 0.0,
            overlap: 0.0,
            correlation: 0.0,
            status: AlignStatus::Failed,
            reason: Some(reason),
        }
    }
}

/// Aligns `later` onto `baseline`. Never panics on odd input: photos that cannot be aligned
/// (too small, unrelated, too little overlap) give status [`AlignStatus::Failed`] with a reason.
pub fn align(baseline: &Rgb, later: &Rgb, opts: &AlignOptions) -> Alignment {
    let (bw, bh) = baseline.dimensions();
    let (lw, lh) = later.dimensions();
    if bw.min(bh) < MIN_SIDE || lw.min(lh) < MIN_SIDE {
        return Alignment::failed(
            format!("photo too small ({bw}x{bh} and {lw}x{lh}; need {MIN_SIDE} px per side)"),
            Homography::IDENTITY,
            0,
            0,
        );
    }
    let (base_gray, later_gray) = rayon::join(|| Plane::luma(baseline), || Plane::luma(later));

    // 1. Features at a common, modest resolution (see `feature_stage`).
    let photo_side = (bw.max(bh).min(lw.max(lh)) as f64 * MAX_FEATURE_FRACTION).round() as usize;
    let feature_side = (opts.feature_long_side as usize)
        .min(photo_side)
        .max(MIN_SIDE as usize);
    let mut stage = feature_stage(&base_gray, &later_gray, feature_side, opts);
    // Few inliers: try once more at a coarser scale, where faint texture stands out more from
    // noise and the pyramid reaches further in scale (the last darkest-skin failures).
    let coarser = (feature_side as f64 * RETRY_SCALE).round() as usize;
    if stage.inliers() < 2 * opts.min_inliers && coarser >= RETRY_MIN_SIDE {
        let retry = feature_stage(&base_gray, &later_gray, coarser, opts);
        if retry.inliers() > stage.inliers() {
            stage = retry;
        }
    }
    let FeatureStage {
        best,
        later_feat_size,
        base_to_feat,
        later_to_feat,
    } = stage;
    let Some(Hypothesis {
        matches,
        src,
        dst,
        fit: Some(fit),
    }) = best
    else {
        let matches = best.map_or(0, |b| b.matches);
        return Alignment::failed(
            format!(
                "too few inliers (0 < {}); {matches} matches",
                opts.min_inliers
            ),
            Homography::IDENTITY,
            matches,
            0,
        );
    };
    let inliers = fit.inliers.len();
    let (Some(feat_to_base), Some(feat_to_later)) =
        (base_to_feat.inverse(), later_to_feat.inverse())
    else {
        return Alignment::failed(
            "degenerate image size".into(),
            Homography::IDENTITY,
            matches,
            inliers,
        );
    };
    let coarse = feat_to_base
        .after(&fit.h)
        .after(&later_to_feat)
        .normalized();
    if inliers < opts.min_inliers {
        return Alignment::failed(
            format!("too few inliers ({inliers} < {})", opts.min_inliers),
            coarse,
            matches,
            inliers,
        );
    }
    // Plausibility is judged at the feature scale, where both photos have the same size, so a
    // mere difference in camera resolution does not count as a scale change.
    if let Some(why) = implausible(&fit.h, later_feat_size.0 as f64, later_feat_size.1 as f64) {
        return Alignment::failed(why, coarse, matches, inliers);
    }

    // 2. Intensity refinement, coarse to fine, on locally normalised images.
    let (h, correlation, refine_note) =
        refine_on_pyramid(&base_gray, &later_gray, coarse, opts.refine);

    // 3. Quality.
    let rms_px = {
        let (lf, bf) = (&feat_to_later, &feat_to_base);
        let sum: f64 = fit
            .inliers
            .iter()
            .map(|&k| {
                let s = lf.apply(src[k].0, src[k].1).unwrap_or((f64::NAN, f64::NAN));
                let d = bf.apply(dst[k].0, dst[k].1).unwrap_or((f64::NAN, f64::NAN));
                ransac::error2(&h, s, d)
            })
            .sum();
        // Finite for any plausible homography; capped so that JSON always holds a number.
        (sum / inliers as f64).sqrt().min(1e9)
    };
    let overlap = overlap_fraction(&h, (bw, bh), (lw, lh));
    let mut failed = Vec::new();
    let mut poor = Vec::new();
    if overlap < FAIL_OVERLAP {
        failed.push(format!("low overlap {overlap:.2}"));
    } else if overlap < POOR_OVERLAP {
        poor.push(format!("low overlap {overlap:.2}"));
    }
    let after = if refine_note { " after refinement" } else { "" };
    if correlation < FAIL_CORRELATION {
        failed.push(format!("low correlation {correlation:.2}{after}"));
    } else if correlation < POOR_CORRELATION {
        poor.push(format!("low correlation {correlation:.2}{after}"));
    }
    if inliers < 2 * opts.min_inliers {
        poor.push(format!(
            "few inliers ({inliers} < {})",
            2 * opts.min_inliers
        ));
    }
    let (status, reason) = if !failed.is_empty() {
        (AlignStatus::Failed, Some(failed.join("; ")))
    } else if !poor.is_empty() {
        (AlignStatus::Poor, Some(poor.join("; ")))
    } else {
        (AlignStatus::Ok, None)
    };
    Alignment {
        later_to_baseline: h,
        matches,
        inliers,
        rms_px,
        overlap,
        correlation,
        status,
        reason,
    }
}

/// The best hypothesis of the feature stage at one feature scale, with that scale's maps.
struct FeatureStage {
    best: Option<Hypothesis>,
    /// Size of the later photo at the feature scale.
    later_feat_size: (usize, usize),
    base_to_feat: Homography,
    later_to_feat: Homography,
}

impl FeatureStage {
    fn inliers(&self) -> usize {
        self.best.as_ref().map_or(0, Hypothesis::inliers)
    }
}

/// Features of both photos shrunk to longest side `side`, matched and fitted by RANSAC. The
/// baseline is described upright and by keypoint orientation; the later photo by keypoint
/// orientation and at a few fixed angles spanning the expected rotation, each matched against
/// the baseline's counterpart. The hypothesis with the most RANSAC inliers wins.
fn feature_stage(
    base_gray: &Plane,
    later_gray: &Plane,
    side: usize,
    opts: &AlignOptions,
) -> FeatureStage {
    let later_steers: Vec<Steer> = std::iter::once(Steer::Oriented)
        .chain(
            HYPOTHESIS_ANGLES_DEG
                .iter()
                .map(|a| Steer::Fixed((*a as f32).to_radians())),
        )
        .collect();
    let base_steers = [Steer::Oriented, Steer::Fixed(0.0)];
    let prepare = |gray: &Plane, steers: &[Steer]| {
        let (small, sx, sy) = gray.shrink_to(side);
        let sigma = small.w.max(small.h) as f32 * NORMALISE_SIGMA_FRACTION;
        let feats =
            features::detect_and_describe(&small.local_normalize(sigma), opts.max_features, steers);
        (feats, (small.w, small.h), scale_homography(sx, sy))
    };
    let ((base_feats, _, base_to_feat), (later_feats, later_feat_size, later_to_feat)) =
        rayon::join(
            || prepare(base_gray, &base_steers),
            || prepare(later_gray, &later_steers),
        );
    let try_hypothesis = |k: usize| -> Hypothesis {
        let (lf, bf) = match later_steers[k] {
            Steer::Oriented => (&later_feats[k], &base_feats[0]),
            Steer::Fixed(_) => (&later_feats[k], &base_feats[1]),
        };
        let pairs = features::match_features(lf, bf);
        let src: Vec<(f64, f64)> = pairs.iter().map(|&(i, _)| (lf[i].x, lf[i].y)).collect();
        let dst: Vec<(f64, f64)> = pairs.iter().map(|&(_, j)| (bf[j].x, bf[j].y)).collect();
        let fit = ransac::ransac(
            &src,
            &dst,
            opts.ransac_iterations,
            opts.ransac_threshold_px,
            opts.seed,
        );
        Hypothesis {
            matches: pairs.len(),
            src,
            dst,
            fit,
        }
    };
    // Keypoint orientation and upright first; the other angles only when neither is convincing
    // (matching is the costliest step).
    let (first, rest): (Vec<usize>, Vec<usize>) = (0..later_steers.len()).partition(|&k| {
        matches!(later_steers[k], Steer::Oriented) || later_steers[k] == Steer::Fixed(0.0)
    });
    let mut tried: Vec<(usize, Hypothesis)> =
        first.par_iter().map(|&k| (k, try_hypothesis(k))).collect();
    if tried.iter().map(|(_, h)| h.inliers()).max().unwrap_or(0) < CONVINCING_INLIERS {
        tried.extend(
            rest.par_iter()
                .map(|&k| (k, try_hypothesis(k)))
                .collect::<Vec<_>>(),
        );
    }
    // Most inliers wins; ties go to the earlier hypothesis, so the choice is deterministic.
    tried.sort_by_key(|(k, _)| *k);
    let best = tried
        .into_iter()
        .map(|(_, h)| h)
        .reduce(|a, b| if b.inliers() > a.inliers() { b } else { a });
    FeatureStage {
        best,
        later_feat_size,
        base_to_feat,
        later_to_feat,
    }
}

/// Matches and RANSAC fit of one descriptor-steering hypothesis.
struct Hypothesis {
    matches: usize,
    src: Vec<(f64, f64)>,
    dst: Vec<(f64, f64)>,
    fit: Option<ransac::Fit>,
}

impl Hypothesis {
    fn inliers(&self) -> usize {
        self.fit.as_ref().map_or(0, |f| f.inliers.len())
    }
}

/// Refines `coarse` (full resolution) on a pyramid of locally normalised images up to
/// [`WORKING_LONG_SIDE`]. Returns the kept homography, its correlation, and whether the
/// refinement was tried.
fn refine_on_pyramid(
    base_gray: &Plane,
    later_gray: &Plane,
    coarse: Homography,
    refine: bool,
) -> (Homography, f64, bool) {
    let (base_w, bsx, bsy) = base_gray.shrink_to(WORKING_LONG_SIDE);
    let s_bw = scale_homography(bsx, bsy);
    // Bring the later photo to about the baseline working pixel density, so neither is aliased.
    let stretch = coarse
        .local_scale(later_gray.w as f64 / 2.0, later_gray.h as f64 / 2.0)
        .clamp(0.1, 10.0);
    let later_long = later_gray.w.max(later_gray.h);
    let target = ((later_long as f64 * bsx.max(bsy) * stretch).round() as usize)
        .clamp(MIN_SIDE as usize, later_long);
    let (later_w, lsx, lsy) = later_gray.shrink_to(target);
    let s_lw = scale_homography(lsx, lsy);
    let (Some(s_bw_inv), Some(s_lw_inv)) = (s_bw.inverse(), s_lw.inverse()) else {
        return (coarse, 0.0, false);
    };
    let to_working = |h: &Homography| s_bw.after(h).after(&s_lw_inv);
    let from_working = |h: &Homography| s_bw_inv.after(h).after(&s_lw).normalized();
    let mut hw = to_working(&coarse);
    let sigma_b = base_w.w.max(base_w.h) as f32 * NORMALISE_SIGMA_FRACTION;
    let sigma_l = sigma_b
        / hw.local_scale(later_w.w as f64 / 2.0, later_w.h as f64 / 2.0)
            .clamp(0.1, 10.0) as f32;
    let (base_n, later_n) = rayon::join(
        || mask_clipped(&base_w, base_w.local_normalize(sigma_b)),
        || mask_clipped(&later_w, later_w.local_normalize(sigma_l)),
    );
    let (corr0, _) = refine::correlation(&base_n, &later_n, &hw);
    if !refine {
        return (coarse, corr0, false);
    }
    // Pyramid: level k is the working image halved k times, with its scale maps.
    let mut levels = vec![(
        base_n.clone(),
        later_n.clone(),
        Homography::IDENTITY,
        Homography::IDENTITY,
    )];
    while let Some((b, l, sb, sl)) = levels.last() {
        if b.w.max(b.h) / 2 < COARSEST_LONG_SIDE || levels.len() >= 5 {
            break;
        }
        let half = |p: &Plane| p.resize(p.w.div_ceil(2), p.h.div_ceil(2));
        let (b2, l2) = rayon::join(|| half(b), || half(l));
        let sb2 = scale_homography(b2.w as f64 / b.w as f64, b2.h as f64 / b.h as f64).after(sb);
        let sl2 = scale_homography(l2.w as f64 / l.w as f64, l2.h as f64 / l.h as f64).after(sl);
        levels.push((b2, l2, sb2, sl2));
    }
    let refined = levels
        .iter()
        .enumerate()
        .rev()
        .try_fold(hw, |hw, (k, (b, l, sb, sl))| {
            let iterations = if k + 1 == levels.len() { 40 } else { 30 };
            let (sb_inv, sl_inv) = (sb.inverse()?, sl.inverse()?);
            let hl = sb.after(&hw).after(&sl_inv);
            let out = refine::refine_level(b, l, &hl, iterations);
            Some(sb_inv.after(&out).after(sl).normalized())
        });
    if let Some(refined) = refined {
        let (corr1, _) = refine::correlation(&base_n, &later_n, &refined);
        let plausible = implausible(&refined, later_w.w as f64, later_w.h as f64).is_none()
            || implausible(&hw, later_w.w as f64, later_w.h as f64).is_some();
        if corr1 > corr0 && plausible {
            hw = refined;
            return (from_working(&hw), corr1, true);
        }
    }
    (from_working(&hw), corr0, true)
}

/// Luma at or above which a pixel counts as clipped.
const CLIPPED_LUMA: f32 = 250.0;

/// Marks `normalized` NaN (no data) within 2 px of clipped pixels of `gray`: the edge of a
/// clipped highlight moves with exposure, not with the skin, and would bias the refinement.
fn mask_clipped(gray: &Plane, mut normalized: Plane) -> Plane {
    let (w, h) = (gray.w, gray.h);
    let clipped: Vec<usize> = (0..w * h)
        .into_par_iter()
        .filter(|&i| gray.data[i] >= CLIPPED_LUMA)
        .collect();
    for i in clipped {
        let (x, y) = (i % w, i / w);
        for yy in y.saturating_sub(2)..(y + 3).min(h) {
            for xx in x.saturating_sub(2)..(x + 3).min(w) {
                normalized.data[yy * w + xx] = f32::NAN;
            }
        }
    }
    normalized
}

/// Why `h` (later → baseline, both at the same feature scale; later is `w` × `h` there) cannot
/// be a photo of the same skin from a similar viewpoint, or `None` when it can.
fn implausible(h: &Homography, w: f64, hgt: f64) -> Option<String> {
    let corners = [
        (0.0, 0.0),
        (w - 1.0, 0.0),
        (w - 1.0, hgt - 1.0),
        (0.0, hgt - 1.0),
    ];
    let m = &h.0;
    if corners
        .iter()
        .any(|&(x, y)| m[2][0] * x + m[2][1] * y + m[2][2] <= 0.0)
    {
        return Some("degenerate homography (photo maps through infinity)".into());
    }
    let quad: Vec<(f64, f64)> = corners.iter().filter_map(|&(x, y)| h.apply(x, y)).collect();
    if quad.len() != 4 {
        return Some("degenerate homography".into());
    }
    // In image axes (y down) the corners run clockwise: every turn has a positive cross product.
    let turns: Vec<f64> = (0..4)
        .map(|i| {
            let (a, b, c) = (quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]);
            (b.0 - a.0) * (c.1 - b.1) - (b.1 - a.1) * (c.0 - b.0)
        })
        .collect();
    if turns.iter().any(|&t| t <= 0.0) {
        return Some("implausible homography (warped frame is mirrored or not convex)".into());
    }
    let area = 0.5
        * (0..4)
            .map(|i| quad[i].0 * quad[(i + 1) % 4].1 - quad[(i + 1) % 4].0 * quad[i].1)
            .sum::<f64>()
            .abs();
    let scale = (area / ((w - 1.0) * (hgt - 1.0))).sqrt();
    if !(1.0 / MAX_SCALE..=MAX_SCALE).contains(&scale) {
        return Some(format!("implausible scale change {scale:.2}"));
    }
    let edges: Vec<f64> = (0..4)
        .map(|i| (quad[(i + 1) % 4].0 - quad[i].0).hypot(quad[(i + 1) % 4].1 - quad[i].1))
        .collect();
    // Opposite edges of very different length: strong perspective or shear.
    for (a, b) in [(edges[0], edges[2]), (edges[1], edges[3])] {
        let ratio = a.max(b) / a.min(b).max(1e-9);
        if ratio > MAX_ANISOTROPY {
            return Some(format!(
                "implausible perspective (opposite edges differ {ratio:.1}x)"
            ));
        }
    }
    let aspect = (edges[0] + edges[2]) / (edges[1] + edges[3]) / ((w - 1.0) / (hgt - 1.0));
    if !(1.0 / MAX_ANISOTROPY..=MAX_ANISOTROPY).contains(&aspect) {
        return Some(format!("implausible anisotropic stretch {aspect:.2}"));
    }
    None
}

/// Fraction of the baseline frame whose pixels come from inside the later photo, measured on a
/// 100 × 100 grid of cell centres.
fn overlap_fraction(h: &Homography, (bw, bh): (u32, u32), (lw, lh): (u32, u32)) -> f64 {
    const N: usize = 100;
    let Some(inv) = h.inverse() else { return 0.0 };
    let mut inside = 0usize;
    for j in 0..N {
        for i in 0..N {
            let x = (i as f64 + 0.5) / N as f64 * bw as f64 - 0.5;
            let y = (j as f64 + 0.5) / N as f64 * bh as f64 - 0.5;
            if let Some((u, v)) = inv.apply(x, y)
                && u >= -0.5
                && v >= -0.5
                && u <= lw as f64 - 0.5
                && v <= lh as f64 - 0.5
            {
                inside += 1;
            }
        }
    }
    inside as f64 / (N * N) as f64
}

#[cfg(test)]
mod tests;
