//! Resampling later photos into the baseline frame.

use rayon::prelude::*;

use crate::definitions::{Homography, MASK_ON, Mask, Rgb, catmull_rom_taps};

/// Warps `later` into the baseline frame (`width` × `height`), interpolating with Catmull-Rom
/// weights ([`catmull_rom_taps`]; samples past the border are clamped to it).
///
/// Not bilinearly: halfway between pixels a bilinear blend averages two neighbours, which
/// softens every later session's finest texture where the baseline (read on its own grid)
/// keeps it, so roughness read lower in later sessions: a false "smoother".
///
/// The mask is 255 where the warped pixel's source lies inside `later` (within the pixel centres
/// of its border, so every sample is a true interpolation), 0 elsewhere; pixels outside the mask
/// are black. A singular homography gives an all-zero mask.
pub fn warp_to_baseline(
    later: &Rgb,
    later_to_baseline: &Homography,
    width: u32,
    height: u32,
) -> (Rgb, Mask) {
    let mut out = Rgb::new(width, height);
    let mut mask = Mask::new(width, height);
    let (lw, lh) = (later.width(), later.height());
    let Some(to_later) = later_to_baseline.inverse() else {
        return (out, mask);
    };
    if lw == 0 || lh == 0 || width == 0 {
        return (out, mask);
    }
    let src = later.as_raw();
    let stride = lw as usize * 3;
    out.par_chunks_mut(width as usize * 3)
        .zip(mask.par_chunks_mut(width as usize))
        .enumerate()
        .for_each(|(y, (row, mrow))| {
            for x in 0..width as usize {
                let Some((u, v)) = to_later.apply(x as f64, y as f64) else {
                    continue;
                };
                if !(u >= 0.0 && v >= 0.0 && u <= (lw - 1) as f64 && v <= (lh - 1) as f64) {
                    continue;
                }
                let (xs, wx) = catmull_rom_taps(u, lw as usize);
                let (ys, wy) = catmull_rom_taps(v, lh as usize);
                // Pixel-major: the three channels of a tap share its load and weight.
                let mut value = [0.0f32; 3];
                for (&yy, &wyy) in ys.iter().zip(&wy) {
                    let line = &src[yy * stride..];
                    let mut across = [0.0f32; 3];
                    for (&xx, &wxx) in xs.iter().zip(&wx) {
                        let p = &line[xx * 3..xx * 3 + 3];
                        for (sum, &sample) in across.iter_mut().zip(p) {
                            *sum += wxx * sample as f32;
                        }
                    }
                    for (total, sum) in value.iter_mut().zip(across) {
                        *total += wyy * sum;
                    }
                }
                for (out, total) in row[x * 3..x * 3 + 3].iter_mut().zip(value) {
                    *out = total.round().clamp(0.0, 255.0) as u8;
                }
                mrow[x] = MASK_ON;
            }
        });
    (out, mask)
}
