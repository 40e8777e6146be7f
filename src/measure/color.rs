//! Colour conversion: 8-bit sRGB → CIELAB (D65, 2° observer), per pixel or per image.
//!
//! Takes [`Rgb`] images or single pixels; gives L* (0–100), a*, b* as `f32` planes. The sRGB
//! transfer curve is undone through a 256-entry table, so a whole photo converts in a few ms.

use std::sync::LazyLock;

use rayon::prelude::*;

use crate::definitions::Rgb;

/// sRGB (IEC 61966-2-1) linear RGB → XYZ, with the D65 white of the same primaries. Its rows
/// sum to the white point below, so sRGB white maps to exactly a* = b* = 0.
const RGB_TO_XYZ: [[f64; 3]; 3] = [
    [0.412_390_8, 0.357_584_3, 0.180_480_8],
    [0.212_639_0, 0.715_168_7, 0.072_192_3],
    [0.019_330_8, 0.119_194_8, 0.950_532_2],
];
const WHITE: [f64; 3] = [
    RGB_TO_XYZ[0][0] + RGB_TO_XYZ[0][1] + RGB_TO_XYZ[0][2],
    RGB_TO_XYZ[1][0] + RGB_TO_XYZ[1][1] + RGB_TO_XYZ[1][2],
    RGB_TO_XYZ[2][0] + RGB_TO_XYZ[2][1] + RGB_TO_XYZ[2][2],
];

/// 8-bit sRGB code value → linear light in 0..1.
static LINEAR: LazyLock<[f64; 256]> = LazyLock::new(|| {
    let mut lut = [0.0; 256];
    for (v, out) in lut.iter_mut().enumerate() {
        let c = v as f64 / 255.0;
        *out = if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        };
    }
    lut
});

/// CIELAB companding function f(t).
fn lab_f(t: f64) -> f64 {
    const EPS: f64 = 216.0 / 24389.0;
    const KAPPA: f64 = 24389.0 / 27.0;
    if t > EPS {
        t.cbrt()
    } else {
        (KAPPA * t + 16.0) / 116.0
    }
}

/// Converts one 8-bit sRGB pixel to CIELAB `[L*, a*, b*]` (D65).
pub fn srgb_to_lab(rgb: [u8; 3]) -> [f64; 3] {
    let lin = rgb.map(|v| LINEAR[v as usize]);
    let xyz: [f64; 3] =
        std::array::from_fn(|i| (0..3).map(|j| RGB_TO_XYZ[i][j] * lin[j]).sum::<f64>());
    let f: [f64; 3] = std::array::from_fn(|i| lab_f(xyz[i] / WHITE[i]));
    [
        116.0 * f[1] - 16.0,
        500.0 * (f[0] - f[1]),
        200.0 * (f[1] - f[2]),
    ]
}

/// CIELAB planes of an image, row-major, each `width × height` long.
#[derive(Clone, Debug)]
pub struct LabPlanes {
    pub width: u32,
    pub height: u32,
    pub l: Vec<f32>,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

/// Converts the top-left `width × height` part of `image` (which must be at least that large)
/// to CIELAB planes, in parallel over rows.
pub fn image_to_lab(image: &Rgb, width: u32, height: u32) -> LabPlanes {
    let (w, h) = (
        width.min(image.width()) as usize,
        height.min(image.height()) as usize,
    );
    let n = w * h;
    let (mut l, mut a, mut b) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    if w > 0 {
        l.par_chunks_mut(w)
            .zip(a.par_chunks_mut(w))
            .zip(b.par_chunks_mut(w))
            .enumerate()
            .for_each(|(y, ((lr, ar), br))| {
                for x in 0..w {
                    let p = image.get_pixel(x as u32, y as u32).0;
                    let lab = srgb_to_lab(p);
                    lr[x] = lab[0] as f32;
                    ar[x] = lab[1] as f32;
                    br[x] = lab[2] as f32;
                }
            });
    }
    LabPlanes {
        width: w as u32,
        height: h as u32,
        l,
        a,
        b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: [f64; 3], want: [f64; 3], tol: f64) {
        for i in 0..3 {
            assert!(
                (got[i] - want[i]).abs() < tol,
                "got {got:?}, want {want:?} (tol {tol})"
            );
        }
    }

    #[test]
    fn known_srgb_values() {
        // Reference values from the CIE formulas with the sRGB/D65 matrices (e.g. Lindbloom).
        close(srgb_to_lab([255, 255, 255]), [100.0, 0.0, 0.0], 1e-6);
        close(srgb_to_lab([0, 0, 0]), [0.0, 0.0, 0.0], 1e-9);
        close(srgb_to_lab([255, 0, 0]), [53.24, 80.09, 67.20], 0.02);
        close(srgb_to_lab([0, 255, 0]), [87.73, -86.18, 83.18], 0.02);
        close(srgb_to_lab([0, 0, 255]), [32.30, 79.19, -107.86], 0.02);
        // Mid grey: neutral, L* 53.59.
        close(srgb_to_lab([128, 128, 128]), [53.59, 0.0, 0.0], 0.01);
    }

    #[test]
    fn image_planes_match_pixels() {
        let img = Rgb::from_fn(5, 3, |x, y| image::Rgb([x as u8 * 40, y as u8 * 90, 200]));
        let lab = image_to_lab(&img, 5, 3);
        let want = srgb_to_lab([160, 180, 200]);
        let i = 2 * 5 + 4;
        assert!((lab.l[i] as f64 - want[0]).abs() < 1e-4);
        assert!((lab.a[i] as f64 - want[1]).abs() < 1e-4);
        assert!((lab.b[i] as f64 - want[2]).abs() < 1e-4);
    }
}
