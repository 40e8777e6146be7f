//! Intensity-based refinement of a homography: inverse-compositional Lucas–Kanade (Baker &
//! Matthews 2004) on locally normalised gray images, with a per-iteration gain/bias fit and
//! Huber weights, only on the overlap; plus the zero-normalised cross-correlation that scores
//! an alignment.
//!
//! All homographies here map LATER level pixels to BASELINE level pixels.

#![allow(clippy::needless_range_loop)] // matrix code reads best with explicit indices

use rayon::prelude::*;

use super::plane::Plane;
use crate::definitions::Homography;

/// Sampled pixels per evaluation: a stride keeps the cost bounded at high resolution.
const MAX_SAMPLES: usize = 400_000;

fn stride_for(w: usize, h: usize) -> usize {
    (((w * h) as f64 / MAX_SAMPLES as f64).sqrt().ceil() as usize).max(1)
}

/// Sampled rows of the baseline frame (skipping the 1-px border where gradients are undefined).
fn sample_rows(w: usize, h: usize) -> (Vec<usize>, usize) {
    let stride = stride_for(w, h);
    ((1..h.saturating_sub(1)).step_by(stride).collect(), stride)
}

/// Zero-normalised cross-correlation of `base` and `later` warped by `later_to_base`, over the
/// baseline pixels whose source lies inside `later`. Returns `(correlation, samples)`.
pub(crate) fn correlation(base: &Plane, later: &Plane, later_to_base: &Homography) -> (f64, usize) {
    let Some(to_later) = later_to_base.inverse() else {
        return (0.0, 0);
    };
    let (rows, stride) = sample_rows(base.w, base.h);
    let sums: Vec<[f64; 6]> = rows
        .par_iter()
        .map(|&y| {
            let mut s = [0.0f64; 6];
            for x in (1..base.w.saturating_sub(1)).step_by(stride) {
                let Some((u, v)) = to_later.apply(x as f64, y as f64) else {
                    continue;
                };
                let Some(i) = later.bilinear(u as f32, v as f32) else {
                    continue;
                };
                let (t, i) = (base.at(x, y) as f64, i as f64);
                if t.is_nan() || i.is_nan() {
                    continue; // clipped (see `mask_clipped`)
                }
                s[0] += 1.0;
                s[1] += t;
                s[2] += i;
                s[3] += t * t;
                s[4] += i * i;
                s[5] += t * i;
            }
            s
        })
        .collect();
    // Summed in row order so that the result does not depend on thread scheduling.
    let s = sums.iter().fold([0.0; 6], |mut a, r| {
        a.iter_mut().zip(r).for_each(|(a, r)| *a += r);
        a
    });
    let n = s[0];
    if n < 16.0 {
        return (0.0, n as usize);
    }
    let cov = s[5] - s[1] * s[2] / n;
    let vt = s[3] - s[1] * s[1] / n;
    let vi = s[4] - s[2] * s[2] / n;
    if vt <= 1e-12 || vi <= 1e-12 {
        return (0.0, n as usize);
    }
    (cov / (vt * vi).sqrt(), n as usize)
}

/// Refines `later_to_base` (level coordinates) by at most `iterations` Gauss–Newton steps.
pub(crate) fn refine_level(
    base: &Plane,
    later: &Plane,
    later_to_base: &Homography,
    iterations: usize,
) -> Homography {
    let (w, h) = (base.w, base.h);
    let Some(mut to_later) = later_to_base.inverse() else {
        return *later_to_base;
    };
    if w < 8 || h < 8 {
        return *later_to_base;
    }
    // Warp parameters live in centred coordinates of about unit extent, so the normal
    // equations are well conditioned.
    let (cx, cy, sc) = (
        0.5 * (w as f64 - 1.0),
        0.5 * (h as f64 - 1.0),
        0.5 * w.max(h) as f64,
    );
    let norm = Homography([
        [1.0 / sc, 0.0, -cx / sc],
        [0.0, 1.0 / sc, -cy / sc],
        [0.0, 0.0, 1.0],
    ]);
    let Some(denorm) = norm.inverse() else {
        return *later_to_base;
    };
    let (rows, stride) = sample_rows(w, h);
    let mut huber = f64::INFINITY;
    for _ in 0..iterations {
        // Pass 1: warped later intensities and their regression onto the template (gain, bias).
        let warped: Vec<Vec<f32>> = rows
            .par_iter()
            .map(|&y| {
                (1..w - 1)
                    .step_by(stride)
                    .map(|x| match to_later.apply(x as f64, y as f64) {
                        Some((u, v)) => later.bilinear(u as f32, v as f32).unwrap_or(f32::NAN),
                        None => f32::NAN,
                    })
                    .collect()
            })
            .collect();
        let mut m = [0.0f64; 5];
        for (row, &y) in warped.iter().zip(&rows) {
            for (k, &i) in row.iter().enumerate() {
                if i.is_nan() {
                    continue;
                }
                let (t, i) = (base.at(1 + k * stride, y) as f64, i as f64);
                if t.is_nan() {
                    continue;
                }
                m[0] += 1.0;
                m[1] += i;
                m[2] += t;
                m[3] += i * i;
                m[4] += i * t;
            }
        }
        if m[0] < 64.0 {
            break;
        }
        let var_i = m[3] - m[1] * m[1] / m[0];
        let gain = if var_i > 1e-9 {
            ((m[4] - m[1] * m[2] / m[0]) / var_i).clamp(0.2, 5.0)
        } else {
            1.0
        };
        let bias = (m[2] - gain * m[1]) / m[0];
        // Pass 2: weighted normal equations of the inverse-compositional step.
        let sums: Vec<[f64; 46]> = warped
            .par_iter()
            .zip(&rows)
            .map(|(row, &y)| {
                let mut s = [0.0f64; 46];
                let yn = (y as f64 - cy) / sc;
                for (k, &i) in row.iter().enumerate() {
                    if i.is_nan() {
                        continue;
                    }
                    let x = 1 + k * stride;
                    let t = base.at(x, y) as f64;
                    let r = gain * i as f64 + bias - t;
                    let wgt = if r.abs() <= huber {
                        1.0
                    } else {
                        huber / r.abs()
                    };
                    // Template gradient per unit of the centred coordinates.
                    let gx = 0.5 * (base.at(x + 1, y) - base.at(x - 1, y)) as f64 * sc;
                    let gy = 0.5 * (base.at(x, y + 1) - base.at(x, y - 1)) as f64 * sc;
                    if t.is_nan() || gx.is_nan() || gy.is_nan() {
                        continue; // clipped (see `mask_clipped` in the parent module)
                    }
                    let xn = (x as f64 - cx) / sc;
                    let sd = [
                        gx * xn,
                        gx * yn,
                        gx,
                        gy * xn,
                        gy * yn,
                        gy,
                        -(gx * xn + gy * yn) * xn,
                        -(gx * xn + gy * yn) * yn,
                    ];
                    let mut n = 0;
                    for a in 0..8 {
                        for b in a..8 {
                            s[n] += wgt * sd[a] * sd[b];
                            n += 1;
                        }
                        s[36 + a] += wgt * sd[a] * r;
                    }
                    s[44] += r * r;
                    s[45] += 1.0;
                }
                s
            })
            .collect();
        let s = sums.iter().fold([0.0f64; 46], |mut a, r| {
            a.iter_mut().zip(r).for_each(|(a, r)| *a += r);
            a
        });
        let mut hess = [[0.0f64; 8]; 8];
        let mut n = 0;
        for a in 0..8 {
            for b in a..8 {
                hess[a][b] = s[n];
                hess[b][a] = s[n];
                n += 1;
            }
        }
        let rhs: [f64; 8] = std::array::from_fn(|a| s[36 + a]);
        huber = 1.5 * (s[44] / s[45].max(1.0)).sqrt();
        let Some(dp) = solve(hess, rhs) else { break };
        let step = Homography([
            [1.0 + dp[0], dp[1], dp[2]],
            [dp[3], 1.0 + dp[4], dp[5]],
            [dp[6], dp[7], 1.0],
        ]);
        let Some(step_inv) = denorm.after(&step).after(&norm).inverse() else {
            break;
        };
        to_later = to_later.after(&step_inv).normalized();
        // Converged when the step moves no frame corner by more than a hundredth of a pixel.
        let moved = [
            (0.0, 0.0),
            (w as f64 - 1.0, 0.0),
            (0.0, h as f64 - 1.0),
            (w as f64 - 1.0, h as f64 - 1.0),
        ]
        .iter()
        .map(|&(x, y)| {
            step_inv
                .apply(x, y)
                .map_or(f64::INFINITY, |(u, v)| (u - x).hypot(v - y))
        })
        .fold(0.0, f64::max);
        if moved < 0.01 {
            break;
        }
    }
    to_later.inverse().unwrap_or(*later_to_base)
}

/// Solves `a·x = b` by Gaussian elimination with partial pivoting; `None` if (nearly) singular.
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return None;
    }
    for col in 0..N {
        let pivot = (col..N).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 * scale {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..N {
            let f = a[row][col] / a[col][col];
            for k in col..N {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; N];
    for row in (0..N).rev() {
        let tail: f64 = (row + 1..N).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}
