//! How each later session's camera differs from the baseline: its view (a homography onto
//! the baseline frame) and its exposure, white balance, shading and noise.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::definitions::Homography;

/// The photometric changes a session's camera applied (exposure and white balance act on
/// linear light; the gradient is added to the encoded 0..1 values; noise is in 8-bit levels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lighting {
    /// Overall gain on linear light (1 = unchanged).
    pub exposure: f64,
    /// Gain per channel (R, G, B) on linear light.
    pub white_balance: [f64; 3],
    /// Additive brightness change from the frame centre to its edge along `gradient_angle_deg`
    /// (fraction of full scale).
    pub gradient_amplitude: f64,
    /// Direction in which the gradient brightens, degrees (0 = +x, 90 = +y).
    pub gradient_angle_deg: f64,
    /// Standard deviation of the added Gaussian noise, 8-bit levels.
    pub noise_sigma: f64,
    /// Standard deviation of the camera's slight defocus (Gaussian blur), pixels. Labels
    /// are not blurred.
    #[serde(default)]
    pub blur_sigma_px: f64,
}

impl Lighting {
    /// Baseline lighting: unchanged except for sensor noise and focus.
    pub(super) fn baseline(rng: &mut ChaCha8Rng) -> Lighting {
        Lighting {
            exposure: 1.0,
            white_balance: [1.0; 3],
            gradient_amplitude: 0.0,
            gradient_angle_deg: 0.0,
            noise_sigma: rng.random_range(1.5..2.5),
            blur_sigma_px: rng.random_range(0.0..0.8),
        }
    }

    pub(super) fn draw(rng: &mut ChaCha8Rng) -> Lighting {
        Lighting {
            exposure: rng.random_range(0.85..1.15),
            white_balance: [0; 3].map(|_| rng.random_range(0.94..1.06)),
            gradient_amplitude: rng.random_range(0.0..0.05),
            gradient_angle_deg: rng.random_range(0.0..360.0),
            noise_sigma: rng.random_range(1.5..2.5),
            blur_sigma_px: rng.random_range(0.0..0.8),
        }
    }
}

/// Share of the baseline frame that `later_to_baseline` sees, on a 48×36 grid.
pub(super) fn coverage(later_to_baseline: &Homography, width: u32, height: u32) -> f64 {
    let Some(inv) = later_to_baseline.inverse() else {
        return 0.0;
    };
    let (w, h) = (width as f64, height as f64);
    let (nx, ny) = (48, 36);
    let mut seen = 0;
    for j in 0..ny {
        for i in 0..nx {
            let (x, y) = (
                (i as f64 + 0.5) / nx as f64 * w - 0.5,
                (j as f64 + 0.5) / ny as f64 * h - 0.5,
            );
            if inv.apply(x, y).is_some_and(|(u, v)| in_frame(u, v, w, h)) {
                seen += 1;
            }
        }
    }
    seen as f64 / (nx * ny) as f64
}

fn in_frame(u: f64, v: f64, w: f64, h: f64) -> bool {
    u >= -0.5 && v >= -0.5 && u <= w - 0.5 && v <= h - 0.5
}

/// Whether every point (baseline frame) is seen by the session, 1 px inside its frame.
pub(super) fn sees_all(
    later_to_baseline: &Homography,
    width: u32,
    height: u32,
    pts: &[[f64; 2]],
) -> bool {
    let Some(inv) = later_to_baseline.inverse() else {
        return false;
    };
    let (w, h) = (width as f64 - 1.0, height as f64 - 1.0);
    pts.iter().all(|p| {
        inv.apply(p[0], p[1])
            .is_some_and(|(u, v)| u >= 1.0 && v >= 1.0 && u <= w - 1.0 && v <= h - 1.0)
    })
}

/// A random hand-held re-take about the frame centre (rotation up to ±8°, scale 0.92–1.08,
/// shift up to ±4% of the width, slight perspective) that keeps every point of `must_see` in
/// view and sees at least 70% of the baseline frame. Ranges shrink if draws keep failing;
/// the identity is the last resort.
pub(super) fn draw_view(
    rng: &mut ChaCha8Rng,
    width: u32,
    height: u32,
    must_see: &[[f64; 2]],
) -> Homography {
    let (w, h) = (width as f64, height as f64);
    let (cx, cy) = (0.5 * (w - 1.0), 0.5 * (h - 1.0));
    let persp = 2e-5 * 1600.0 / w.max(1.0);
    let mut range = 1.0;
    for attempt in 0..60 {
        if attempt > 0 && attempt % 12 == 0 {
            range *= 0.6;
        }
        let theta = rng.random_range(-8.0..8.0f64).to_radians() * range;
        let s = 1.0 + rng.random_range(-0.08..0.08) * range;
        let (tx, ty) = (
            rng.random_range(-0.04..0.04) * w * range,
            rng.random_range(-0.04..0.04) * w * range,
        );
        let (p0, p1) = (
            rng.random_range(-persp..persp) * range,
            rng.random_range(-persp..persp) * range,
        );
        let (c, sn) = (theta.cos(), theta.sin());
        // In coordinates centred on the frame centre, then moved back.
        let a = Homography([[s * c, -s * sn, tx], [s * sn, s * c, ty], [p0, p1, 1.0]]);
        let to_centre = Homography([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]]);
        let from_centre = Homography([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]]);
        let hmg = from_centre.after(&a.after(&to_centre)).normalized();
        if sees_all(&hmg, width, height, must_see) && coverage(&hmg, width, height) >= 0.7 {
            return hmg;
        }
    }
    Homography::IDENTITY
}
