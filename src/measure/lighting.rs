//! Photometric matching: brings a session photo (already warped into the baseline frame) to the
//! baseline's lighting and white balance.
//!
//! Takes the session and baseline [`Rgb`] images and a fit [`Mask`] (skin that is neither line
//! nor scar in both sessions, inside the common region); gives the adjusted session image and
//! the per-channel [`LightingTransform`] `baseline ≈ gain · session + offset`.
//!
//! The fit matches quantiles (10th to 90th percentile, every 5 %) of the two images' values
//! over the fit mask by least squares. Matching distributions rather than regressing pixel on
//! pixel keeps the gain unbiased by texture and small misregistration (noise in the regressor
//! would shrink a least-squares gain), and the trimmed tails make it robust to speculars,
//! shadows and hair.

use serde::{Deserialize, Serialize};

use crate::definitions::{Mask, Rgb};

/// Fewer fit pixels than this: no fit, identity transform.
pub const MIN_FIT_PIXELS: u64 = 1000;
/// The gain is kept within this range so that a degenerate fit cannot wreck a photo.
pub const GAIN_RANGE: (f64, f64) = (0.25, 4.0);
/// The quantiles matched, in percent.
const QUANTILES_PCT: std::ops::RangeInclusive<u32> = 10..=90;
const QUANTILE_STEP_PCT: usize = 5;

/// Per channel (R, G, B) linear map on 0–255 values: matched = gain · value + offset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LightingTransform {
    pub gain: [f64; 3],
    pub offset: [f64; 3],
    /// Pixels the fit used; 0 when it fell back to identity.
    pub fit_pixels: u64,
}

impl LightingTransform {
    pub const IDENTITY: LightingTransform = LightingTransform {
        gain: [1.0; 3],
        offset: [0.0; 3],
        fit_pixels: 0,
    };

    /// Applies the transform to `image`, rounding and clamping to 0..255.
    pub fn apply(&self, image: &Rgb) -> Rgb {
        let luts: [[u8; 256]; 3] = std::array::from_fn(|c| {
            std::array::from_fn(|v| {
                (self.gain[c] * v as f64 + self.offset[c])
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
        });
        let mut out = image.clone();
        for px in out.pixels_mut() {
            for c in 0..3 {
                px.0[c] = luts[c][px.0[c] as usize];
            }
        }
        out
    }
}

/// Fits per channel `baseline ≈ gain · session + offset` over the pixels where `fit_mask` is
/// 255 (see the module doc for the method) and applies it to the whole session image.
///
/// Images and mask may differ in size; only their common top-left part is fitted. With fewer
/// than [`MIN_FIT_PIXELS`] fit pixels the transform is the identity (and `fit_pixels` 0).
/// Returns the adjusted image (clamped to 0..255) and the transform.
pub fn match_lighting(session: &Rgb, baseline: &Rgb, fit_mask: &Mask) -> (Rgb, LightingTransform) {
    let w = session.width().min(baseline.width()).min(fit_mask.width());
    let h = session
        .height()
        .min(baseline.height())
        .min(fit_mask.height());
    let mut hist_s = [[0u64; 256]; 3];
    let mut hist_b = [[0u64; 256]; 3];
    let mut n = 0u64;
    for y in 0..h {
        for x in 0..w {
            if fit_mask.get_pixel(x, y).0[0] != 255 {
                continue;
            }
            n += 1;
            let (s, b) = (session.get_pixel(x, y).0, baseline.get_pixel(x, y).0);
            for c in 0..3 {
                hist_s[c][s[c] as usize] += 1;
                hist_b[c][b[c] as usize] += 1;
            }
        }
    }
    if n < MIN_FIT_PIXELS {
        return (session.clone(), LightingTransform::IDENTITY);
    }
    let mut t = LightingTransform {
        fit_pixels: n,
        ..LightingTransform::IDENTITY
    };
    for c in 0..3 {
        let (gain, offset) = fit_quantiles(&hist_s[c], &hist_b[c], n);
        t.gain[c] = gain;
        t.offset[c] = offset;
    }
    (t.apply(session), t)
}

/// Least-squares line through matched quantile pairs (session → baseline) of one channel.
fn fit_quantiles(hist_s: &[u64; 256], hist_b: &[u64; 256], n: u64) -> (f64, f64) {
    let pairs: Vec<(f64, f64)> = QUANTILES_PCT
        .step_by(QUANTILE_STEP_PCT)
        .map(|p| {
            let q = p as f64 / 100.0;
            (quantile(hist_s, n, q), quantile(hist_b, n, q))
        })
        .collect();
    let k = pairs.len() as f64;
    let ms = pairs.iter().map(|p| p.0).sum::<f64>() / k;
    let mb = pairs.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = pairs.iter().map(|p| (p.0 - ms).powi(2)).sum();
    let sxy: f64 = pairs.iter().map(|p| (p.0 - ms) * (p.1 - mb)).sum();
    // A flat channel says nothing about gain: keep 1 and match the level only.
    let gain = if sxx < 1e-6 {
        1.0
    } else {
        (sxy / sxx).clamp(GAIN_RANGE.0, GAIN_RANGE.1)
    };
    (gain, mb - gain * ms)
}

/// The `q` quantile of 8-bit values with histogram `hist` (total `n` > 0), each level spread
/// uniformly over ±0.5 so that the answer is continuous rather than whole levels.
fn quantile(hist: &[u64; 256], n: u64, q: f64) -> f64 {
    let target = q * n as f64;
    let mut before = 0.0;
    for (v, &count) in hist.iter().enumerate() {
        let c = count as f64;
        if c > 0.0 && before + c >= target {
            return v as f64 - 0.5 + (target - before) / c;
        }
        before += c;
    }
    255.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A skin-like baseline: smooth gradients plus seeded texture, values roughly 60..210.
    fn baseline(w: u32, h: u32) -> Rgb {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        Rgb::from_fn(w, h, |x, y| {
            let g = 60.0 + 100.0 * x as f64 / w as f64 + 30.0 * y as f64 / h as f64;
            let mut px = [0u8; 3];
            for (c, v) in px.iter_mut().enumerate() {
                let noise: f64 = rng.random_range(-15.0..15.0);
                *v = (g + noise - 10.0 * c as f64).round().clamp(0.0, 255.0) as u8;
            }
            image::Rgb(px)
        })
    }

    #[test]
    fn recovers_known_gain_and_offset_and_ignores_masked_change() {
        let (w, h) = (200, 150);
        let base = baseline(w, h);
        let gain = [1.2, 0.9, 1.05];
        let offset = [-5.0, 3.0, 0.0];
        // The session is the baseline seen under other light: baseline = gain · session + offset.
        let mut session = Rgb::from_fn(w, h, |x, y| {
            let b = base.get_pixel(x, y).0;
            image::Rgb(std::array::from_fn(|c| {
                ((b[c] as f64 - offset[c]) / gain[c])
                    .round()
                    .clamp(0.0, 255.0) as u8
            }))
        });
        // A patch whose colour really changed, excluded from the fit.
        let mut mask = Mask::from_pixel(w, h, image::Luma([255]));
        for y in 20..90 {
            for x in 30..150 {
                session.put_pixel(x, y, image::Rgb([250, 20, 20]));
                mask.put_pixel(x, y, image::Luma([0]));
            }
        }
        let (matched, t) = match_lighting(&session, &base, &mask);
        assert_eq!(t.fit_pixels, (w * h - 70 * 120) as u64);
        for c in 0..3 {
            assert!(
                (t.gain[c] - gain[c]).abs() / gain[c] < 0.02,
                "gain {:?}",
                t.gain
            );
            assert!(
                (t.offset[c] - offset[c]).abs() <= 1.0,
                "offset {:?}",
                t.offset
            );
        }
        // Outside the patch the matched image is the baseline to within rounding.
        let mut err = 0.0;
        let mut count = 0.0;
        for (x, y, p) in matched.enumerate_pixels() {
            if mask.get_pixel(x, y).0[0] == 255 {
                for c in 0..3 {
                    err += (p.0[c] as f64 - base.get_pixel(x, y).0[c] as f64).abs();
                    count += 1.0;
                }
            }
        }
        assert!(err / count < 1.0, "mean abs error {}", err / count);
    }

    #[test]
    fn too_few_pixels_is_identity() {
        let base = baseline(50, 50);
        let session = Rgb::from_pixel(50, 50, image::Rgb([10, 10, 10]));
        let mut mask = Mask::new(50, 50);
        for x in 0..30 {
            for y in 0..30 {
                mask.put_pixel(x, y, image::Luma([255]));
            }
        }
        let (out, t) = match_lighting(&session, &base, &mask);
        assert_eq!(t, LightingTransform::IDENTITY);
        assert_eq!(out, session);
    }

    #[test]
    fn flat_channel_matches_level_only() {
        let base = Rgb::from_pixel(40, 40, image::Rgb([120, 100, 90]));
        let session = Rgb::from_pixel(40, 40, image::Rgb([100, 100, 100]));
        let mask = Mask::from_pixel(40, 40, image::Luma([255]));
        let (out, t) = match_lighting(&session, &base, &mask);
        assert_eq!(t.gain, [1.0; 3]);
        assert_eq!(out.get_pixel(3, 3).0, [120, 100, 90]);
    }

    #[test]
    fn interpolated_quantiles() {
        let mut hist = [0u64; 256];
        hist[10] = 50;
        hist[20] = 50;
        assert!((quantile(&hist, 100, 0.25) - 10.0).abs() < 1e-12);
        assert!((quantile(&hist, 100, 0.75) - 20.0).abs() < 1e-12);
    }
}
