//! Single-channel `f32` images and the few filters the align stage needs: luma, centre-aligned
//! resizing, fast Gaussian blur, local contrast normalisation and bilinear sampling.
//!
//! Pixel centres sit at integer coordinates (DESIGN.md), so resizing from `w` to `nw` pixels maps
//! `x` to `(x + 0.5)·nw/w − 0.5`; [`scale_homography`] is that map as a matrix.

use rayon::prelude::*;

use crate::definitions::{Homography, Rgb};

/// A row-major single-channel `f32` image.
#[derive(Clone, Debug)]
pub(crate) struct Plane {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(w: usize, h: usize) -> Plane {
        Plane {
            w,
            h,
            data: vec![0.0; w * h],
        }
    }

    /// Rec. 601 luma in 0..255.
    pub fn luma(img: &Rgb) -> Plane {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let raw = img.as_raw();
        let mut out = Plane::new(w, h);
        out.data
            .par_chunks_mut(w.max(1))
            .enumerate()
            .for_each(|(y, row)| {
                let src = &raw[y * w * 3..(y + 1) * w * 3];
                for (o, p) in row.iter_mut().zip(src.chunks_exact(3)) {
                    *o = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
                }
            });
        out
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.w + x]
    }

    /// Bilinear sample; `None` outside `[0, w−1] × [0, h−1]`.
    #[inline]
    pub fn bilinear(&self, x: f32, y: f32) -> Option<f32> {
        if !(x >= 0.0 && y >= 0.0 && x <= (self.w - 1) as f32 && y <= (self.h - 1) as f32) {
            return None;
        }
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let r0 = y0 * self.w;
        let r1 = y1 * self.w;
        let top = self.data[r0 + x0] + fx * (self.data[r0 + x1] - self.data[r0 + x0]);
        let bot = self.data[r1 + x0] + fx * (self.data[r1 + x1] - self.data[r1 + x0]);
        Some(top + fy * (bot - top))
    }

    fn transpose(&self) -> Plane {
        let mut out = Plane::new(self.h, self.w);
        let (w, h) = (self.w, self.h);
        out.data
            .par_chunks_mut(h.max(1))
            .enumerate()
            .for_each(|(x, row)| {
                for (y, o) in row.iter_mut().enumerate() {
                    *o = self.data[y * w + x];
                }
            });
        out
    }

    fn map_rows(&self, f: &(dyn Fn(&[f32], &mut Vec<f32>) + Sync)) -> Plane {
        let out: Vec<Vec<f32>> = self
            .data
            .par_chunks(self.w.max(1))
            .map(|row| {
                let mut o = Vec::new();
                f(row, &mut o);
                o
            })
            .collect();
        let w = out.first().map_or(0, Vec::len);
        Plane {
            w,
            h: out.len(),
            data: out.concat(),
        }
    }

    /// Resamples to `nw × nh` with a tent filter widened on downscaling (anti-aliased), pixel
    /// centres aligned.
    pub fn resize(&self, nw: usize, nh: usize) -> Plane {
        if nw == self.w && nh == self.h {
            return self.clone();
        }
        let horizontal = resize_weights(self.w, nw);
        let vertical = resize_weights(self.h, nh);
        let rows =
            self.map_rows(&|row: &[f32], out: &mut Vec<f32>| resample_row(row, &horizontal, out));
        rows.transpose()
            .map_rows(&|col: &[f32], out: &mut Vec<f32>| resample_row(col, &vertical, out))
            .transpose()
    }

    /// Resized so that the longer side is at most `long_side` (never enlarged). Returns the
    /// plane and its scale factors `(sx, sy)` relative to `self`.
    pub fn shrink_to(&self, long_side: usize) -> (Plane, f64, f64) {
        let long = self.w.max(self.h);
        if long <= long_side || long == 0 {
            return (self.clone(), 1.0, 1.0);
        }
        let s = long_side as f64 / long as f64;
        let nw = ((self.w as f64 * s).round() as usize).max(1);
        let nh = ((self.h as f64 * s).round() as usize).max(1);
        (
            self.resize(nw, nh),
            nw as f64 / self.w as f64,
            nh as f64 / self.h as f64,
        )
    }

    /// Gaussian blur of standard deviation `sigma`, approximated by three box passes (cost
    /// independent of sigma); edges replicate.
    pub fn blur(&self, sigma: f32) -> Plane {
        // Three boxes of width b have variance 3(b² − 1)/12 = σ².
        let r = ((((4.0 * sigma * sigma + 1.0).sqrt() - 1.0) / 2.0).round() as usize).max(1);
        let (w, h) = (self.w, self.h);
        if w == 0 || h == 0 {
            return self.clone();
        }
        let mut rows = Plane::new(w, h);
        rows.data
            .par_chunks_mut(w)
            .zip(self.data.par_chunks(w))
            .for_each(|(out, row)| {
                let (mut a, mut b) = (row.to_vec(), vec![0.0; w]);
                for _ in 0..3 {
                    box_row(&a, &mut b, r);
                    std::mem::swap(&mut a, &mut b);
                }
                out.copy_from_slice(&a);
            });
        // Columns in bands of adjacent pixels, so the inner loops run along memory.
        const BAND: usize = 64;
        let bands: Vec<Vec<f32>> = (0..w.div_ceil(BAND))
            .into_par_iter()
            .map(|band| {
                let (x0, bw) = (band * BAND, BAND.min(w - band * BAND));
                let mut a = Vec::with_capacity(bw * h);
                for y in 0..h {
                    a.extend_from_slice(&rows.data[y * w + x0..y * w + x0 + bw]);
                }
                let mut b = vec![0.0; bw * h];
                for _ in 0..3 {
                    box_columns(&a, &mut b, bw, h, r);
                    std::mem::swap(&mut a, &mut b);
                }
                a
            })
            .collect();
        let mut out = Plane::new(w, h);
        out.data.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            for (band, data) in bands.iter().enumerate() {
                let (x0, bw) = (band * BAND, BAND.min(w - band * BAND));
                row[x0..x0 + bw].copy_from_slice(&data[y * bw..(y + 1) * bw]);
            }
        });
        out
    }

    /// Local contrast normalisation: `(I − G∗I) / sqrt(G∗(I − G∗I)² + eps²)`, clamped to ±4.
    /// Removes exposure, white balance and smooth lighting gradients; what remains is texture.
    pub fn local_normalize(&self, sigma: f32) -> Plane {
        const EPS: f32 = 2.0; // grey levels: keeps flat, noisy areas from being amplified
        let mean = self.blur(sigma);
        let mut diff = self.clone();
        diff.data
            .par_iter_mut()
            .zip(&mean.data)
            .for_each(|(d, m)| *d -= m);
        let mut sq = diff.clone();
        sq.data.par_iter_mut().for_each(|v| *v *= *v);
        let var = sq.blur(sigma);
        diff.data.par_iter_mut().zip(&var.data).for_each(|(d, v)| {
            *d = (*d / (v + EPS * EPS).sqrt()).clamp(-4.0, 4.0);
        });
        diff
    }
}

fn resample_row(row: &[f32], weights: &[(usize, Vec<f32>)], out: &mut Vec<f32>) {
    out.extend(weights.iter().map(|(start, ws)| {
        ws.iter()
            .zip(&row[*start..])
            .map(|(w, v)| w * v)
            .sum::<f32>()
    }));
}

/// Running box mean of radius `r` along a row, edges replicated.
fn box_row(src: &[f32], dst: &mut [f32], r: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    let last = n - 1;
    let norm = 1.0 / (2 * r + 1) as f32;
    let mut acc: f32 = (0..=2 * r)
        .map(|k| src[k.saturating_sub(r).min(last)])
        .sum();
    for (i, d) in dst.iter_mut().enumerate() {
        *d = acc * norm;
        acc += src[(i + r + 1).min(last)] - src[i.saturating_sub(r)];
    }
}

/// Running box mean of radius `r` down the columns of a `bw`-wide band of `h` rows.
fn box_columns(src: &[f32], dst: &mut [f32], bw: usize, h: usize, r: usize) {
    let last = h - 1;
    let norm = 1.0 / (2 * r + 1) as f32;
    let mut acc = vec![0.0f32; bw];
    for k in 0..=2 * r {
        let y = k.saturating_sub(r).min(last);
        acc.iter_mut()
            .zip(&src[y * bw..(y + 1) * bw])
            .for_each(|(a, v)| *a += v);
    }
    for y in 0..h {
        dst[y * bw..(y + 1) * bw]
            .iter_mut()
            .zip(&acc)
            .for_each(|(d, a)| *d = a * norm);
        let (add, sub) = ((y + r + 1).min(last), y.saturating_sub(r));
        let (add, sub) = (
            &src[add * bw..(add + 1) * bw],
            &src[sub * bw..(sub + 1) * bw],
        );
        for ((a, p), m) in acc.iter_mut().zip(add).zip(sub) {
            *a += p - m;
        }
    }
}

/// For each output index: first input index and the normalised tent weights from there.
fn resize_weights(n: usize, nn: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = nn as f64 / n as f64;
    let support = (1.0 / scale).max(1.0);
    (0..nn)
        .map(|o| {
            let c = (o as f64 + 0.5) / scale - 0.5;
            let lo = ((c - support).ceil().max(0.0) as usize).min(n - 1);
            let hi = ((c + support).floor().max(0.0) as usize).min(n - 1);
            let mut ws: Vec<f32> = (lo..=hi)
                .map(|i| (1.0 - (i as f64 - c).abs() / support).max(0.0) as f32)
                .collect();
            let total: f32 = ws.iter().sum();
            if total > 0.0 {
                ws.iter_mut().for_each(|w| *w /= total);
            } else {
                ws.iter_mut().for_each(|w| *w = 0.0);
                ws[0] = 1.0;
            }
            (lo, ws)
        })
        .collect()
}

/// The map from a frame's pixel coordinates to those of the same frame resized by `(sx, sy)`.
pub(crate) fn scale_homography(sx: f64, sy: f64) -> Homography {
    Homography([
        [sx, 0.0, 0.5 * sx - 0.5],
        [0.0, sy, 0.5 * sy - 0.5],
        [0.0, 0.0, 1.0],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Plane {
        let mut p = Plane::new(w, h);
        for y in 0..h {
            for x in 0..w {
                p.data[y * w + x] = 2.0 * x as f32 + 3.0 * y as f32;
            }
        }
        p
    }

    #[test]
    fn resize_keeps_pixel_centres_aligned() {
        // A linear ramp stays the same linear function of the scaled coordinates, up to the
        // small centroid error of a sampled tent (< 0.05 px here).
        let p = ramp(100, 60);
        let (q, sx, sy) = p.shrink_to(40);
        assert_eq!((q.w, q.h), (40, 24));
        let back = scale_homography(sx, sy).inverse().unwrap();
        for &(x, y) in &[(10usize, 8usize), (20, 12), (30, 15)] {
            let (fx, fy) = back.apply(x as f64, y as f64).unwrap();
            let want = 2.0 * fx + 3.0 * fy;
            assert!(
                (q.at(x, y) as f64 - want).abs() < 0.05 * 3.0,
                "{} vs {want}",
                q.at(x, y)
            );
        }
    }

    #[test]
    fn blur_preserves_mean_and_normalisation_removes_gain() {
        let p = ramp(50, 40);
        let b = p.blur(3.0);
        // Away from the edges a linear ramp is unchanged by a symmetric blur.
        assert!((b.at(25, 20) - p.at(25, 20)).abs() < 1e-3);
        let mut tex = Plane::new(64, 64);
        for (i, v) in tex.data.iter_mut().enumerate() {
            *v = 100.0 + 40.0 * ((i % 7) as f32 - 3.0) + 30.0 * ((i / 64 % 5) as f32 - 2.0);
        }
        let mut brighter = tex.clone();
        brighter.data.iter_mut().for_each(|v| *v = 1.5 * *v + 20.0);
        let (a, c) = (tex.local_normalize(4.0), brighter.local_normalize(4.0));
        let worst = a
            .data
            .iter()
            .zip(&c.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.05, "{worst}");
    }
}
