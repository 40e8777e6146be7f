//! Keypoints and binary descriptors (ORB-like): Shi–Tomasi corners with non-maximum
//! suppression and grid bucketing on a small scale pyramid, intensity-centroid orientation,
//! rotation-steered BRIEF (rBRIEF) with a fixed, seeded test pattern, and brute-force Hamming
//! matching with Lowe's ratio test and a mutual cross-check.
//!
//! Own detector rather than imageproc's `oriented_fast`: that one has no non-maximum
//! suppression (clusters of near-identical corners confuse the ratio test), runs on one thread
//! and panics on images smaller than its border.

use std::f32::consts::TAU;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::plane::Plane;

/// Radius of the orientation and descriptor patch, in pixels of the keypoint's level.
const PATCH_RADIUS: usize = 15;
/// Keypoints keep this far from the level's border.
const BORDER: usize = PATCH_RADIUS + 3;
/// Scale step between pyramid levels (ORB uses 1.2; the photos differ by little in scale).
const LEVEL_SCALE: f64 = 1.25;
const LEVELS: usize = 4;
/// Number of discrete orientations the test pattern is precomputed for.
const ANGLE_BINS: usize = 32;
/// Lowe ratio and the largest Hamming distance (of 256 bits) accepted as a match.
const RATIO: f32 = 0.8;
const MAX_DISTANCE: u32 = 80;

/// A keypoint in level-0 coordinates, with its 256-bit descriptor.
#[derive(Clone, Debug)]
pub(crate) struct Feature {
    pub x: f64,
    pub y: f64,
    pub descriptor: [u64; 4],
}

/// How descriptors are steered: by each keypoint's own orientation (rotation invariant, but
/// the intensity-centroid angle is noisy on low-contrast skin), or all by one fixed angle
/// (exact for a known global rotation; several fixed angles cover a bounded rotation range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Steer {
    Oriented,
    /// Radians, image axes (x right, y down).
    Fixed(f32),
}

/// Test point pairs at one rotation, whole-pixel offsets.
type PointPairs = Vec<[(i32, i32); 2]>;

/// The rBRIEF test pattern: 256 point pairs drawn once from an isotropic Gaussian.
struct Pattern {
    pairs: Vec<[(f32, f32); 2]>,
    /// The pairs rotated to each of `ANGLE_BINS` orientations.
    rotated: Vec<Vec<[(i32, i32); 2]>>,
}

impl Pattern {
    fn new() -> Pattern {
        // A fixed seed: the pattern is part of the descriptor's definition, not a tunable.
        let mut rng = ChaCha8Rng::seed_from_u64(0x0b_1e_f0);
        let limit = 13.0f32;
        let mut draw = || loop {
            // Box–Muller, sigma = patch / 5 as in the BRIEF paper.
            let (u, v): (f32, f32) = (rng.random::<f32>().max(1e-7), rng.random::<f32>());
            let r = (-2.0 * u.ln()).sqrt() * (31.0 / 5.0);
            let p = (r * (TAU * v).cos(), r * (TAU * v).sin());
            if p.0.hypot(p.1) <= limit {
                return p;
            }
        };
        let pairs: Vec<[(f32, f32); 2]> = (0..256).map(|_| [draw(), draw()]).collect();
        let mut pattern = Pattern {
            pairs,
            rotated: Vec::new(),
        };
        pattern.rotated = (0..ANGLE_BINS)
            .map(|k| pattern.at_angle(TAU * k as f32 / ANGLE_BINS as f32))
            .collect();
        pattern
    }

    /// The pairs rotated by `a` radians, rounded to whole pixels.
    fn at_angle(&self, a: f32) -> Vec<[(i32, i32); 2]> {
        let (s, c) = a.sin_cos();
        let rot = |(x, y): (f32, f32)| {
            (
                (c * x - s * y).round() as i32,
                (s * x + c * y).round() as i32,
            )
        };
        self.pairs.iter().map(|[p, q]| [rot(*p), rot(*q)]).collect()
    }
}

/// Detects up to `max_features` keypoints over a small scale pyramid of `image` (a locally
/// normalised gray image) and describes them once per entry of `steers`: the result holds one
/// feature list per steer, all with the same keypoints in the same order.
pub(crate) fn detect_and_describe(
    image: &Plane,
    max_features: usize,
    steers: &[Steer],
) -> Vec<Vec<Feature>> {
    let pattern = Pattern::new();
    // Per steer: its fixed rotated pattern, or None for per-keypoint orientation.
    let fixed: Vec<Option<PointPairs>> = steers
        .iter()
        .map(|s| match s {
            Steer::Oriented => None,
            Steer::Fixed(a) => Some(pattern.at_angle(*a)),
        })
        .collect();
    let weights: Vec<f64> = (0..LEVELS)
        .map(|k| LEVEL_SCALE.powi(-2 * k as i32))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut out = vec![Vec::new(); steers.len()];
    let mut level = image.clone();
    let (mut sx, mut sy) = (1.0, 1.0);
    for (k, weight) in weights.iter().enumerate() {
        if k > 0 {
            let s = LEVEL_SCALE.powi(-(k as i32));
            let nw = (image.w as f64 * s).round() as usize;
            let nh = (image.h as f64 * s).round() as usize;
            if nw < 2 * BORDER + 8 || nh < 2 * BORDER + 8 {
                break;
            }
            level = image.resize(nw, nh);
            (sx, sy) = (nw as f64 / image.w as f64, nh as f64 / image.h as f64);
        }
        let budget = ((max_features as f64) * weight / total).round() as usize;
        let smooth = level.blur(2.0);
        let points = detect(&level, budget);
        let described: Vec<Vec<Feature>> = points
            .par_iter()
            .map(|&(x, y)| {
                let (fx, fy) = ((x as f64 + 0.5) / sx - 0.5, (y as f64 + 0.5) / sy - 0.5);
                let own_bin = || {
                    let angle = orientation(&smooth, x, y);
                    ((angle / TAU * ANGLE_BINS as f32).round() as i64).rem_euclid(ANGLE_BINS as i64)
                        as usize
                };
                fixed
                    .iter()
                    .map(|f| {
                        let pairs = match f {
                            Some(p) => p,
                            None => &pattern.rotated[own_bin()],
                        };
                        Feature {
                            x: fx,
                            y: fy,
                            descriptor: describe(&smooth, x, y, pairs),
                        }
                    })
                    .collect()
            })
            .collect();
        for per_point in described {
            for (list, f) in out.iter_mut().zip(per_point) {
                list.push(f);
            }
        }
    }
    out
}

/// Shi–Tomasi corners: 3×3 non-maximum suppression, at most `budget`, spread over a grid.
fn detect(image: &Plane, budget: usize) -> Vec<(usize, usize)> {
    let (w, h) = (image.w, image.h);
    if w < 2 * BORDER + 3 || h < 2 * BORDER + 3 || budget == 0 {
        return Vec::new();
    }
    let smooth = image.blur(1.0);
    // Structure tensor products of central-difference gradients, then integrated.
    let mut gxx = Plane::new(w, h);
    let mut gyy = Plane::new(w, h);
    let mut gxy = Plane::new(w, h);
    gxx.data
        .par_chunks_mut(w)
        .zip(gyy.data.par_chunks_mut(w))
        .zip(gxy.data.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, ((xx, yy), xy))| {
            if y == 0 || y + 1 >= h {
                return;
            }
            for x in 1..w - 1 {
                let dx = 0.5 * (smooth.at(x + 1, y) - smooth.at(x - 1, y));
                let dy = 0.5 * (smooth.at(x, y + 1) - smooth.at(x, y - 1));
                xx[x] = dx * dx;
                yy[x] = dy * dy;
                xy[x] = dx * dy;
            }
        });
    let (a, c, b) = (gxx.blur(1.5), gyy.blur(1.5), gxy.blur(1.5));
    let score: Vec<f32> = (0..w * h)
        .into_par_iter()
        .map(|i| {
            let (a, b, c) = (a.data[i], b.data[i], c.data[i]);
            0.5 * (a + c) - (0.25 * (a - c) * (a - c) + b * b).sqrt()
        })
        .collect();
    let best = score.par_iter().cloned().reduce(|| 0.0, f32::max);
    let floor = best * 0.01;
    // Non-maximum suppression; ties go to the earlier pixel, so the result is deterministic.
    let mut candidates: Vec<(f32, usize, usize)> = (BORDER..h - BORDER)
        .into_par_iter()
        .flat_map_iter(|y| {
            let score = &score;
            (BORDER..w - BORDER).filter_map(move |x| {
                let s = score[y * w + x];
                if s <= floor {
                    return None;
                }
                for dy in -1isize..=1 {
                    for dx in -1isize..=1 {
                        if dx == 0 && dy == 0 {
                            continue;
                        }
                        let n = score[(y as isize + dy) as usize * w + (x as isize + dx) as usize];
                        let later = dy > 0 || (dy == 0 && dx > 0);
                        if n > s || (n == s && !later) {
                            return None;
                        }
                    }
                }
                Some((s, x, y))
            })
        })
        .collect();
    candidates.sort_by(|p, q| q.0.total_cmp(&p.0).then((p.2, p.1).cmp(&(q.2, q.1))));
    // Grid bucketing: at most twice the fair share per cell, so texture-poor areas still count.
    let cells_x = ((w as f64 / 48.0).ceil() as usize).max(1);
    let cells_y = ((h as f64 / 48.0).ceil() as usize).max(1);
    let cap = (2 * budget).div_ceil(cells_x * cells_y).max(1);
    let mut used = vec![0usize; cells_x * cells_y];
    let mut out = Vec::with_capacity(budget);
    for (_, x, y) in candidates {
        let cell = (y * cells_y / h) * cells_x + x * cells_x / w;
        if used[cell] < cap {
            used[cell] += 1;
            out.push((x, y));
            if out.len() == budget {
                break;
            }
        }
    }
    out
}

/// Intensity-centroid angle (radians, image axes: x right, y down) over a disc.
fn orientation(image: &Plane, x: usize, y: usize) -> f32 {
    let r = PATCH_RADIUS as isize;
    let (mut m10, mut m01) = (0.0f32, 0.0f32);
    for dy in -r..=r {
        let half = (((r * r - dy * dy) as f32).sqrt()) as isize;
        let row = (y as isize + dy) as usize * image.w;
        for dx in -half..=half {
            let v = image.data[row + (x as isize + dx) as usize];
            m10 += dx as f32 * v;
            m01 += dy as f32 * v;
        }
    }
    m01.atan2(m10)
}

fn describe(image: &Plane, x: usize, y: usize, pairs: &[[(i32, i32); 2]]) -> [u64; 4] {
    let at = |(dx, dy): (i32, i32)| {
        image.data[(y as i32 + dy) as usize * image.w + (x as i32 + dx) as usize]
    };
    let mut d = [0u64; 4];
    for (i, [p, q]) in pairs.iter().enumerate() {
        if at(*p) < at(*q) {
            d[i / 64] |= 1 << (i % 64);
        }
    }
    d
}

#[inline]
fn hamming(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

/// Best and second-best train match of each query in `queries` (whose first index is
/// `first`), and for each train descriptor its best query among these.
#[allow(clippy::type_complexity)]
fn scan(
    queries: &[[u64; 4]],
    first: usize,
    train: &[[u64; 4]],
) -> (Vec<(usize, u32, u32)>, Vec<(u32, usize)>) {
    let mut reverse = vec![(u32::MAX, usize::MAX); train.len()];
    let forward = queries
        .iter()
        .enumerate()
        .map(|(k, q)| {
            let (mut best, mut d1, mut d2) = (usize::MAX, u32::MAX, u32::MAX);
            for (j, (t, rev)) in train.iter().zip(reverse.iter_mut()).enumerate() {
                let d = hamming(q, t);
                if d < d1 {
                    (d2, d1, best) = (d1, d, j);
                } else if d < d2 {
                    d2 = d;
                }
                if d < rev.0 {
                    *rev = (d, first + k);
                }
            }
            (best, d1, d2)
        })
        .collect();
    (forward, reverse)
}

/// For each query its best match, best and second-best distance; and for each train feature
/// its best query. One pass over all pairs serves both directions.
#[allow(clippy::type_complexity)]
fn nearest_both(queries: &[Feature], train: &[Feature]) -> (Vec<(usize, u32, u32)>, Vec<usize>) {
    const CHUNK: usize = 64;
    let q: Vec<[u64; 4]> = queries.iter().map(|f| f.descriptor).collect();
    let t: Vec<[u64; 4]> = train.iter().map(|f| f.descriptor).collect();
    let chunks: Vec<(Vec<(usize, u32, u32)>, Vec<(u32, usize)>)> = q
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, qs)| scan(qs, c * CHUNK, &t))
        .collect();
    // Merged in chunk order with strict comparison: ties go to the lower index, as in one pass.
    let mut reverse = vec![(u32::MAX, usize::MAX); train.len()];
    let mut forward = Vec::with_capacity(queries.len());
    for (f, r) in chunks {
        forward.extend(f);
        for (acc, cand) in reverse.iter_mut().zip(r) {
            if cand.0 < acc.0 {
                *acc = cand;
            }
        }
    }
    (forward, reverse.into_iter().map(|(_, i)| i).collect())
}

/// Putative matches `(index in a, index in b)` that pass the ratio test and are mutual.
pub(crate) fn match_features(a: &[Feature], b: &[Feature]) -> Vec<(usize, usize)> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let (ab, ba) = nearest_both(a, b);
    ab.iter()
        .enumerate()
        .filter_map(|(i, &(j, d1, d2))| {
            let distinct = d2 == u32::MAX || (d1 as f32) < RATIO * d2 as f32;
            (j != usize::MAX && d1 <= MAX_DISTANCE && distinct && ba[j] == i).then_some((i, j))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_nearest_in_both_directions() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let q: Vec<[u64; 4]> = (0..100)
            .map(|_| std::array::from_fn(|_| rng.random()))
            .collect();
        let t: Vec<[u64; 4]> = (0..150)
            .map(|_| std::array::from_fn(|_| rng.random()))
            .collect();
        let (forward, reverse) = scan(&q, 7, &t);
        for (k, &(best, d1, d2)) in forward.iter().enumerate() {
            let d: Vec<u32> = t.iter().map(|x| hamming(&q[k], x)).collect();
            let mut sorted = d.clone();
            sorted.sort_unstable();
            assert_eq!((d[best], d1, d2), (sorted[0], sorted[0], sorted[1]));
        }
        for (j, &(d, i)) in reverse.iter().enumerate() {
            let best = (0..q.len()).map(|k| hamming(&q[k], &t[j])).min().unwrap();
            assert_eq!((d, hamming(&q[i - 7], &t[j])), (best, best));
        }
        assert_eq!(hamming(&[u64::MAX; 4], &[0; 4]), 256);
    }
}
