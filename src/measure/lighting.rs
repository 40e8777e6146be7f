//! Photometric matching: brings a session photo (already warped into the baseline frame) to the
//! baseline's lighting and white balance.
//!
//! Takes the session and baseline [`Rgb`] images and a fit [`Mask`] (skin that is neither line
//! nor scar in both sessions, inside the common region); gives the adjusted session image and
//! the per-channel [`LightingTransform`] `baseline ≈ gain · session + offset`.
//!
//! The fit is one gain per channel (offset 0): the median ratio baseline / session over
//! co-located fit pixels. Exposure and white balance act multiplicatively; a median of ratios
//! is robust to speculars, shadows and hair, and unbiased by noise (a least-squares
//! regression of pixel on pixel would shrink the gain).

use serde::{Deserialize, Serialize};

use crate::definitions::{Mask, Rgb};

/// Fewer fit pixels than this: no fit, identity transform.
pub const MIN_FIT_PIXELS: u64 = 200;
/// The gain is kept within this range so that a degenerate fit cannot wreck a photo.
pub const GAIN_RANGE: (f64, f64) = (0.25, 4.0);

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
    // Exposure and white balance scale each channel: fit one gain per channel as the median
    // ratio of co-located pixels. The pixels are already aligned, so the ratio compares the
    // same skin under two lights; the median shrugs off speculars, shadows and misfits, and
    // unlike a regression it is not biased low by noise in the session's values.
    let mut ratios: [Vec<f32>; 3] = Default::default();
    for y in 0..h {
        for x in 0..w {
            if fit_mask.get_pixel(x, y).0[0] != 255 {
                continue;
            }
            let (s, b) = (session.get_pixel(x, y).0, baseline.get_pixel(x, y).0);
            // Near-black or clipped values carry no ratio.
            if (0..3).all(|c| s[c] >= 8 && s[c] < 250 && b[c] < 250) {
                for c in 0..3 {
                    ratios[c].push(b[c] as f32 / s[c] as f32);
                }
            }
        }
    }
    let n = ratios[0].len() as u64;
    if n < MIN_FIT_PIXELS {
        return (session.clone(), LightingTransform::IDENTITY);
    }
    let mut t = LightingTransform {
        fit_pixels: n,
        ..LightingTransform::IDENTITY
    };
    for (c, values) in ratios.iter_mut().enumerate() {
        let mid = values.len() / 2;
        let (_, median, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
        t.gain[c] = (*median as f64).clamp(GAIN_RANGE.0, GAIN_RANGE.1);
    }
    (t.apply(session), t)
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
        let offset = [0.0, 0.0, 0.0];
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
        for x in 0..10 {
            for y in 0..10 {
                mask.put_pixel(x, y, image::Luma([255]));
            }
        }
        let (out, t) = match_lighting(&session, &base, &mask);
        assert_eq!(t, LightingTransform::IDENTITY);
        assert_eq!(out, session);
    }

    #[test]
    fn flat_colour_is_matched_by_gain() {
        let base = Rgb::from_pixel(40, 40, image::Rgb([120, 100, 90]));
        let session = Rgb::from_pixel(40, 40, image::Rgb([100, 100, 100]));
        let mask = Mask::from_pixel(40, 40, image::Luma([255]));
        let (out, t) = match_lighting(&session, &base, &mask);
        assert_eq!(t.offset, [0.0; 3]);
        assert!(
            (t.gain[0] - 1.2).abs() < 1e-6 && (t.gain[2] - 0.9).abs() < 1e-6,
            "{:?}",
            t.gain
        );
        assert_eq!(out.get_pixel(3, 3).0, [120, 100, 90]);
    }
}
