//! Resampling later photos into the baseline frame.

use rayon::prelude::*;

use crate::definitions::{Homography, MASK_ON, Mask, Rgb};

/// Warps `later` into the baseline frame (`width` × `height`) with bilinear interpolation.
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
                let (x0, y0) = (u as usize, v as usize);
                let (x1, y1) = ((x0 + 1).min(lw as usize - 1), (y0 + 1).min(lh as usize - 1));
                let (fx, fy) = (u - x0 as f64, v - y0 as f64);
                for c in 0..3 {
                    let p = |xx: usize, yy: usize| src[yy * stride + xx * 3 + c] as f64;
                    let top = p(x0, y0) + fx * (p(x1, y0) - p(x0, y0));
                    let bot = p(x0, y1) + fx * (p(x1, y1) - p(x0, y1));
                    row[x * 3 + c] = (top + fy * (bot - top)).round().clamp(0.0, 255.0) as u8;
                }
                mrow[x] = MASK_ON;
            }
        });
    (out, mask)
}
