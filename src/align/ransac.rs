//! Robust homography estimation from point matches: normalised 4-point DLT inside a seeded,
//! adaptive RANSAC, then a least-squares DLT on all inliers.

#![allow(clippy::needless_range_loop)] // matrix code reads best with explicit indices

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::definitions::Homography;

/// A homography with the indices of the correspondences it explains.
#[derive(Clone, Debug)]
pub(crate) struct Fit {
    pub h: Homography,
    pub inliers: Vec<usize>,
}

/// Estimates `h` with `dst ≈ h(src)`. `threshold` is the inlier reprojection distance in `dst`
/// units. Returns `None` when fewer than 4 correspondences or no non-degenerate sample exist.
pub(crate) fn ransac(
    src: &[(f64, f64)],
    dst: &[(f64, f64)],
    iterations: usize,
    threshold: f64,
    seed: u64,
) -> Option<Fit> {
    let n = src.len().min(dst.len());
    if n < 4 {
        return None;
    }
    let t2 = threshold * threshold;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut best: Option<(usize, f64, Homography)> = None;
    let mut needed = iterations;
    let mut i = 0;
    while i < needed.min(iterations) {
        i += 1;
        let mut idx = [0usize; 4];
        for k in 0..4 {
            idx[k] = loop {
                let c = rng.random_range(0..n);
                if !idx[..k].contains(&c) {
                    break c;
                }
            };
        }
        let s: Vec<(f64, f64)> = idx.iter().map(|&k| src[k]).collect();
        let d: Vec<(f64, f64)> = idx.iter().map(|&k| dst[k]).collect();
        if degenerate(&s) || degenerate(&d) {
            continue;
        }
        let Some(h) = fit_dlt(&s, &d) else { continue };
        // The four points must stay on the finite, non-mirrored side of the projection.
        if s.iter()
            .any(|&(x, y)| h.0[2][0] * x + h.0[2][1] * y + h.0[2][2] <= 0.0)
            || !same_orientation(&s, &d)
        {
            continue;
        }
        let (count, cost) = score(&h, src, dst, t2);
        let better = match &best {
            None => true,
            Some((c, e, _)) => count > *c || (count == *c && cost < *e),
        };
        if better {
            best = Some((count, cost, h));
            // Adaptive stopping for 99.9 % confidence of an all-inlier sample.
            let w = count as f64 / n as f64;
            let p_good = w.powi(4);
            needed = if p_good >= 1.0 - 1e-12 {
                0
            } else if p_good <= 1e-12 {
                iterations
            } else {
                ((1.0f64 - 0.999).ln() / (1.0 - p_good).ln()).ceil() as usize
            }
            .max(50);
        }
    }
    let (_, _, mut h) = best?;
    let mut inliers = inliers_of(&h, src, dst, t2);
    // Least squares on the inliers, repeated while it gathers more of them.
    for _ in 0..5 {
        if inliers.len() < 4 {
            break;
        }
        let s: Vec<_> = inliers.iter().map(|&k| src[k]).collect();
        let d: Vec<_> = inliers.iter().map(|&k| dst[k]).collect();
        let Some(refit) = fit_dlt(&s, &d) else { break };
        let again = inliers_of(&refit, src, dst, t2);
        if again.len() < inliers.len() {
            break;
        }
        let grew = again.len() > inliers.len();
        (h, inliers) = (refit, again);
        if !grew {
            break;
        }
    }
    Some(Fit { h, inliers })
}

fn score(h: &Homography, src: &[(f64, f64)], dst: &[(f64, f64)], t2: f64) -> (usize, f64) {
    let mut count = 0;
    let mut cost = 0.0;
    for (s, d) in src.iter().zip(dst) {
        let e = error2(h, *s, *d);
        if e < t2 {
            count += 1;
            cost += e;
        }
    }
    (count, cost)
}

fn inliers_of(h: &Homography, src: &[(f64, f64)], dst: &[(f64, f64)], t2: f64) -> Vec<usize> {
    (0..src.len().min(dst.len()))
        .filter(|&k| error2(h, src[k], dst[k]) < t2)
        .collect()
}

/// Squared transfer error; infinite where the point maps to infinity.
pub(crate) fn error2(h: &Homography, (x, y): (f64, f64), (u, v): (f64, f64)) -> f64 {
    match h.apply(x, y) {
        Some((px, py)) => (px - u).powi(2) + (py - v).powi(2),
        None => f64::INFINITY,
    }
}

fn cross((ax, ay): (f64, f64), (bx, by): (f64, f64), (cx, cy): (f64, f64)) -> f64 {
    (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
}

/// Any three of the four points (nearly) collinear.
fn degenerate(p: &[(f64, f64)]) -> bool {
    let scale = p
        .iter()
        .map(|a| {
            p.iter()
                .map(|b| (a.0 - b.0).hypot(a.1 - b.1))
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    let eps = 1e-3 * scale * scale;
    [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
        .iter()
        .any(|&(i, j, k)| cross(p[i], p[j], p[k]).abs() < eps)
}

/// Every triangle of the sample keeps its orientation (no mirroring).
fn same_orientation(s: &[(f64, f64)], d: &[(f64, f64)]) -> bool {
    [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
        .iter()
        .all(|&(i, j, k)| cross(s[i], s[j], s[k]).signum() == cross(d[i], d[j], d[k]).signum())
}

/// Hartley normalisation: centroid to the origin, mean distance √2.
fn normalizer(p: &[(f64, f64)]) -> Homography {
    let n = p.len() as f64;
    let (cx, cy) = p
        .iter()
        .fold((0.0, 0.0), |a, b| (a.0 + b.0 / n, a.1 + b.1 / n));
    let mean = p.iter().map(|q| (q.0 - cx).hypot(q.1 - cy)).sum::<f64>() / n;
    let s = if mean > 1e-12 {
        std::f64::consts::SQRT_2 / mean
    } else {
        1.0
    };
    Homography([[s, 0.0, -s * cx], [0.0, s, -s * cy], [0.0, 0.0, 1.0]])
}

/// Normalised direct linear transform: the least-squares (algebraic) homography for ≥ 4 pairs,
/// as the eigenvector of AᵀA with the smallest eigenvalue.
pub(crate) fn fit_dlt(src: &[(f64, f64)], dst: &[(f64, f64)]) -> Option<Homography> {
    let (ts, td) = (normalizer(src), normalizer(dst));
    let mut ata = [[0.0f64; 9]; 9];
    for (&s, &d) in src.iter().zip(dst) {
        let (x, y) = ts.apply(s.0, s.1)?;
        let (u, v) = td.apply(d.0, d.1)?;
        let rows = [
            [-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u],
            [0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v],
        ];
        for r in &rows {
            for i in 0..9 {
                for j in i..9 {
                    ata[i][j] += r[i] * r[j];
                }
            }
        }
    }
    for i in 0..9 {
        for j in 0..i {
            ata[i][j] = ata[j][i];
        }
    }
    let v = smallest_eigenvector(ata);
    let hn = Homography([[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]]);
    let h = td.inverse()?.after(&hn).after(&ts);
    if h.0[2][2].abs() < 1e-12 || h.0.iter().flatten().any(|x| !x.is_finite()) {
        return None;
    }
    Some(h.normalized())
}

/// Cyclic Jacobi eigen-decomposition of a symmetric 9×9 matrix; returns the eigenvector of the
/// smallest eigenvalue.
fn smallest_eigenvector(mut a: [[f64; 9]; 9]) -> [f64; 9] {
    let mut v = [[0.0f64; 9]; 9];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _ in 0..100 {
        let off: f64 = (0..9)
            .flat_map(|i| (0..9).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        let diag: f64 = (0..9).map(|i| a[i][i] * a[i][i]).sum();
        if off <= 1e-30 * diag.max(1e-300) {
            break;
        }
        for p in 0..9 {
            for q in p + 1..9 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..9 {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..9 {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let k = (0..9)
        .min_by(|&i, &j| a[i][i].total_cmp(&a[j][j]))
        .unwrap_or(8);
    std::array::from_fn(|i| v[i][k])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_homography_among_outliers() {
        let truth = Homography([[1.02, 0.1, 15.0], [-0.08, 0.97, -9.0], [2e-5, -1e-5, 1.0]]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut src = Vec::new();
        let mut dst = Vec::new();
        for i in 0..300 {
            let p = (rng.random_range(0.0..800.0), rng.random_range(0.0..600.0));
            let q = if i % 3 == 0 {
                (rng.random_range(0.0..800.0), rng.random_range(0.0..600.0))
            } else {
                let q = truth.apply(p.0, p.1).unwrap();
                (
                    q.0 + rng.random_range(-0.5..0.5),
                    q.1 + rng.random_range(-0.5..0.5),
                )
            };
            src.push(p);
            dst.push(q);
        }
        let fit = ransac(&src, &dst, 2000, 3.0, 7).unwrap();
        // Two hundred true inliers; a random outlier may land within the threshold by chance.
        assert!(
            (200..=203).contains(&fit.inliers.len()),
            "{}",
            fit.inliers.len()
        );
        let (mean, max) = fit.h.grid_error(&truth, 800, 600, 10);
        assert!(mean < 0.1 && max < 0.3, "{mean} {max}");
    }
}
