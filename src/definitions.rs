//! Image, mask and geometry types shared by every stage, named once.

use serde::{Deserialize, Serialize};

/// An 8-bit RGB photo or rendering.
pub type Rgb = image::RgbImage;
/// An 8-bit single-channel image (intensity).
pub type Gray = image::GrayImage;
/// A binary mask: 0 = outside, 255 = inside.
pub type Mask = image::GrayImage;
/// A per-pixel class map: values are `CLASS_*`.
pub type ClassMap = image::GrayImage;

pub const CLASS_BACKGROUND: u8 = 0;
pub const CLASS_LINE: u8 = 1;
pub const CLASS_SCAR: u8 = 2;
/// Not skin (hair, eyes, lips, nostrils, clothes, background): never measured. Only from a
/// model whose manifest lists a `non_skin` class.
pub const CLASS_NON_SKIN: u8 = 3;
/// Class names in model output order.
pub const CLASS_NAMES: [&str; 3] = ["background", "fine_line", "scar"];
/// The manifest's name of the optional non-skin class (any position after [`CLASS_NAMES`]).
pub const NON_SKIN_NAME: &str = "non_skin";

pub const MASK_ON: u8 = 255;

/// A projective transform, row-major 3×3. By convention (DESIGN.md) a homography stored in a
/// report maps a later photo's pixel (x, y) into the baseline frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Homography(pub [[f64; 3]; 3]);

impl Homography {
    pub const IDENTITY: Homography =
        Homography([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);

    /// Maps a point; returns `None` where the point goes to infinity.
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let m = &self.0;
        let w = m[2][0] * x + m[2][1] * y + m[2][2];
        if w.abs() < 1e-12 {
            return None;
        }
        Some((
            (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
            (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
        ))
    }

    /// `self` after `first`: maps p to self(first(p)).
    pub fn after(&self, first: &Homography) -> Homography {
        let (a, b) = (&self.0, &first.0);
        let mut out = [[0.0; 3]; 3];
        for (i, row) in out.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        Homography(out)
    }

    /// The inverse transform, or `None` for a singular matrix.
    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.0;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        if det.abs() < 1e-15 {
            return None;
        }
        let inv = [
            [
                (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det,
                (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det,
                (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det,
            ],
            [
                (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det,
                (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det,
                (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det,
            ],
            [
                (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det,
                (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det,
                (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det,
            ],
        ];
        Some(Homography(inv).normalized())
    }

    /// Scaled so that the bottom-right entry is 1 (when it is not ~0).
    pub fn normalized(&self) -> Homography {
        let s = self.0[2][2];
        if s.abs() < 1e-12 {
            return *self;
        }
        let mut out = self.0;
        out.iter_mut().flatten().for_each(|v| *v /= s);
        Homography(out)
    }

    /// The warp's linear scale at (x, y): √|det J| of its Jacobian there (1 where the point
    /// goes to infinity).
    pub fn local_scale(&self, x: f64, y: f64) -> f64 {
        let m = &self.0;
        let w = m[2][0] * x + m[2][1] * y + m[2][2];
        if w.abs() < 1e-12 {
            return 1.0;
        }
        let (u, v) = (
            (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
            (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
        );
        let j = [
            [(m[0][0] - u * m[2][0]) / w, (m[0][1] - u * m[2][1]) / w],
            [(m[1][0] - v * m[2][0]) / w, (m[1][1] - v * m[2][1]) / w],
        ];
        (j[0][0] * j[1][1] - j[0][1] * j[1][0]).abs().sqrt()
    }

    /// Pure scaling about the origin: maps (x, y) to (sx·x, sy·y).
    pub fn scaling(sx: f64, sy: f64) -> Homography {
        Homography([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])
    }

    /// Mean and max distance between where `self` and `other` send the points of a
    /// `n`×`n` grid spanning a `width`×`height` frame (the accuracy measure of the tests).
    pub fn grid_error(&self, other: &Homography, width: u32, height: u32, n: usize) -> (f64, f64) {
        let (mut sum, mut max, mut count) = (0.0, 0.0f64, 0usize);
        for i in 0..n {
            for j in 0..n {
                let x = (width as f64 - 1.0) * i as f64 / (n - 1) as f64;
                let y = (height as f64 - 1.0) * j as f64 / (n - 1) as f64;
                if let (Some(a), Some(b)) = (self.apply(x, y), other.apply(x, y)) {
                    let d = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
                    sum += d;
                    max = max.max(d);
                    count += 1;
                }
            }
        }
        (sum / count.max(1) as f64, max)
    }
}

/// The four sample indices (clamped to `0..n`) and Catmull-Rom weights for position `f`
/// along an axis of `n` samples: exact at sample positions, and unlike a bilinear blend it
/// keeps an edge's sharpness between them (interpolating logits and photos alike).
pub fn catmull_rom_taps(f: f64, n: usize) -> ([usize; 4], [f32; 4]) {
    let i = f.floor();
    let t = (f - i) as f32;
    let (t2, t3) = (t * t, t * t * t);
    let weights = [
        0.5 * (-t3 + 2.0 * t2 - t),
        0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
        0.5 * (-3.0 * t3 + 4.0 * t2 + t),
        0.5 * (t3 - t2),
    ];
    let last = n as i64 - 1;
    let idx = std::array::from_fn(|k| (i as i64 - 1 + k as i64).clamp(0, last) as usize);
    (idx, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_and_composition_orders() {
        let h = Homography([[1.1, 0.05, 12.0], [-0.03, 0.95, -7.0], [1e-5, -2e-5, 1.0]]);
        let inv = h.inverse().unwrap();
        let (x, y) = h.apply(100.0, 50.0).unwrap();
        let (bx, by) = inv.apply(x, y).unwrap();
        assert!((bx - 100.0).abs() < 1e-9 && (by - 50.0).abs() < 1e-9);
        let shift = Homography([[1.0, 0.0, 5.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
        let scaled_then_shifted = shift.after(&Homography::scaling(2.0, 2.0));
        assert_eq!(scaled_then_shifted.apply(1.0, 1.0), Some((7.0, 2.0)));
        assert!((Homography::scaling(2.0, 2.0).local_scale(7.0, 3.0) - 2.0).abs() < 1e-12);
        let (mean, max) = h.grid_error(&h, 100, 100, 5);
        assert_eq!((mean, max), (0.0, 0.0));
    }
}
