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
        *out = srgb_to_linear(v as f64);
    }
    lut
});

/// sRGB code value (0–255, not rounded) → linear light in 0..1.
pub fn srgb_to_linear(v: f64) -> f64 {
    let c = (v / 255.0).clamp(0.0, 1.0);
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light in 0..1 → sRGB code value (0–255, not rounded).
pub fn linear_to_srgb(l: f64) -> f64 {
    let l = l.clamp(0.0, 1.0);
    let c = if l <= 0.003_130_8 {
        12.92 * l
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    };
    c * 255.0
}

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

/// Entries of the f(t) table on 0..=1 used for whole images.
const F_TABLE_SIZE: usize = 8192;

/// f(t) sampled on 0..=1 (XYZ / white never exceeds 1 for sRGB input), read with linear
/// interpolation: three cube roots per pixel would dominate the conversion of a photo, and the
/// interpolation error is below 1e-3 in L*, a*, b*.
static F_TABLE: LazyLock<Vec<f32>> = LazyLock::new(|| {
    (0..=F_TABLE_SIZE)
        .map(|i| lab_f(i as f64 / F_TABLE_SIZE as f64) as f32)
        .collect()
});

/// [`LINEAR`] as `f32`.
static LINEAR_F32: LazyLock<[f32; 256]> = LazyLock::new(|| LINEAR.map(|v| v as f32));

fn lab_f_fast(table: &[f32], t: f32) -> f32 {
    let pos = t.clamp(0.0, 1.0) * F_TABLE_SIZE as f32;
    let i = (pos as usize).min(F_TABLE_SIZE - 1);
    let frac = pos - i as f32;
    table[i] + frac * (table[i + 1] - table[i])
}

/// Converts the top-left `width × height` part of `image` (clipped to the image) to CIELAB
/// planes, in parallel over rows. Agrees with [`srgb_to_lab`] to within 1e-3.
pub fn image_to_lab(image: &Rgb, width: u32, height: u32) -> LabPlanes {
    let (w, h) = (
        width.min(image.width()) as usize,
        height.min(image.height()) as usize,
    );
    let n = w * h;
    let (mut l, mut a, mut b) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    if w == 0 {
        return LabPlanes {
            width: 0,
            height: h as u32,
            l,
            a,
            b,
        };
    }
    let (table, lin) = (&*F_TABLE, &*LINEAR_F32);
    // Matrix rows divided by the white point: XYZ / white directly.
    let m: [[f32; 3]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| (RGB_TO_XYZ[i][j] / WHITE[i]) as f32));
    let stride = image.width() as usize * 3;
    let raw = image.as_raw();
    l.par_chunks_mut(w)
        .zip(a.par_chunks_mut(w))
        .zip(b.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, ((lr, ar), br))| {
            let row = &raw[y * stride..y * stride + 3 * w];
            for (x, px) in row.chunks_exact(3).enumerate() {
                let c = [
                    lin[px[0] as usize],
                    lin[px[1] as usize],
                    lin[px[2] as usize],
                ];
                let f: [f32; 3] = std::array::from_fn(|i| {
                    lab_f_fast(table, m[i][0] * c[0] + m[i][1] * c[1] + m[i][2] * c[2])
                });
                lr[x] = 116.0 * f[1] - 16.0;
                ar[x] = 500.0 * (f[0] - f[1]);
                br[x] = 200.0 * (f[1] - f[2]);
            }
        });
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
        // Every 8-bit grey and a spread of colours, incl. the dark end where f(t) is linear.
        let img = Rgb::from_fn(256, 64, |x, y| {
            image::Rgb([x as u8, (x as u8).wrapping_mul(y as u8 | 1), (y * 4) as u8])
        });
        let lab = image_to_lab(&img, 300, 64);
        assert_eq!((lab.width, lab.height), (256, 64));
        let mut worst = 0.0f64;
        for (x, y, p) in img.enumerate_pixels() {
            let want = srgb_to_lab(p.0);
            let i = (y * 256 + x) as usize;
            for (plane, w) in [&lab.l, &lab.a, &lab.b].iter().zip(want) {
                worst = worst.max((plane[i] as f64 - w).abs());
            }
        }
        assert!(worst < 1e-3, "worst deviation {worst}");
    }
}
