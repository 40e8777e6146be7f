//! Known-truth tests: a procedural skin-like texture rendered through an exact homography.

use image::Rgb as RgbPixel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::definitions::MASK_ON;

/// Skin-like texture defined at every real point: smooth value noise, dark dots (pores,
/// freckles) and a few dark curves (lines), so any warp can be rendered exactly.
struct Texture {
    seed: u64,
    dots: Vec<Vec<(f64, f64, f64, f64)>>, // per 32-px cell: x, y, radius, depth
    curves: Vec<(f64, f64, f64, f64, f64)>, // y = a + b·x + c·sin(x/l + phase)
}

const CELL: f64 = 32.0;
const ORIGIN: f64 = -400.0;
const CELLS: usize = 60;

impl Texture {
    fn new(seed: u64) -> Texture {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut dots = vec![Vec::new(); CELLS * CELLS];
        for _ in 0..6000 {
            let (x, y) = (
                ORIGIN + rng.random_range(0.0..CELL * CELLS as f64),
                ORIGIN + rng.random_range(0.0..CELL * CELLS as f64),
            );
            let cell = ((y - ORIGIN) / CELL) as usize * CELLS + ((x - ORIGIN) / CELL) as usize;
            dots[cell].push((
                x,
                y,
                rng.random_range(1.2..3.5),
                rng.random_range(0.15..0.5),
            ));
        }
        let curves = (0..6)
            .map(|_| {
                (
                    rng.random_range(-100.0..700.0),
                    rng.random_range(-0.4..0.4),
                    rng.random_range(5.0..30.0),
                    rng.random_range(40.0..150.0),
                    rng.random_range(0.0..6.3),
                )
            })
            .collect();
        Texture { seed, dots, curves }
    }

    fn lattice(&self, ix: i64, iy: i64, octave: u64) -> f64 {
        let mut z = self.seed
            ^ (ix as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (iy as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ octave << 56;
        // splitmix64 finaliser
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn noise(&self, x: f64, y: f64) -> f64 {
        let mut total = 0.0;
        for (octave, (spacing, amp)) in [(64.0, 0.5), (24.0, 0.25), (9.0, 0.15), (4.0, 0.1)]
            .iter()
            .enumerate()
        {
            let (fx, fy) = (x / spacing, y / spacing);
            let (ix, iy) = (fx.floor(), fy.floor());
            let s = |t: f64| t * t * (3.0 - 2.0 * t);
            let (tx, ty) = (s(fx - ix), s(fy - iy));
            let (ix, iy) = (ix as i64, iy as i64);
            let o = octave as u64;
            let top = self.lattice(ix, iy, o) * (1.0 - tx) + self.lattice(ix + 1, iy, o) * tx;
            let bot =
                self.lattice(ix, iy + 1, o) * (1.0 - tx) + self.lattice(ix + 1, iy + 1, o) * tx;
            total += amp * (top * (1.0 - ty) + bot * ty);
        }
        total
    }

    /// Reflectance-like RGB in 0..1.
    fn at(&self, x: f64, y: f64) -> [f64; 3] {
        let mut dark = 0.0;
        let (cx, cy) = (((x - ORIGIN) / CELL) as i64, ((y - ORIGIN) / CELL) as i64);
        for j in cy - 1..=cy + 1 {
            for i in cx - 1..=cx + 1 {
                if i < 0 || j < 0 || i >= CELLS as i64 || j >= CELLS as i64 {
                    continue;
                }
                for &(dx, dy, r, depth) in &self.dots[j as usize * CELLS + i as usize] {
                    let d2 = (x - dx).powi(2) + (y - dy).powi(2);
                    dark += depth * (-d2 / (2.0 * r * r)).exp();
                }
            }
        }
        for &(a, b, c, l, phase) in &self.curves {
            let d = y - (a + b * x + c * (x / l + phase).sin());
            dark += 0.3 * (-d * d / (2.0 * 1.5 * 1.5)).exp();
        }
        let base = 0.75 + 0.35 * (self.noise(x, y) - 0.5);
        let v = (base - dark).clamp(0.0, 1.0);
        [0.92 * v, 0.68 * v, 0.58 * v]
    }

    /// Renders a `w` × `h` photo whose pixel (x, y) shows texture point `to_texture(x, y)`,
    /// with per-channel gain, a lighting gradient, an offset and noise.
    fn render(&self, w: u32, h: u32, to_texture: &Homography, look: Look) -> Rgb {
        let Look {
            gain,
            gradient,
            noise,
            seed,
        } = look;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut img = Rgb::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let (tx, ty) = to_texture.apply(x as f64, y as f64).unwrap();
                let c = self.at(tx, ty);
                let light = 1.0 + gradient * (x as f64 / w as f64 - 0.5);
                let px: [u8; 3] = std::array::from_fn(|k| {
                    let n = if noise > 0.0 {
                        noise * (rng.random::<f64>() + rng.random::<f64>() - 1.0) * 2.45
                    } else {
                        0.0
                    };
                    (255.0 * c[k] * gain[k] * light + 6.0 + n)
                        .round()
                        .clamp(0.0, 255.0) as u8
                });
                img.put_pixel(x, y, RgbPixel(px));
            }
        }
        img
    }
}

/// Camera and lighting of one rendering: per-channel gain, left-to-right lighting gradient,
/// noise amplitude (grey levels, about one sigma) and noise seed.
#[derive(Clone, Copy)]
struct Look {
    gain: [f64; 3],
    gradient: f64,
    noise: f64,
    seed: u64,
}

fn look(gain: [f64; 3], gradient: f64, noise: f64, seed: u64) -> Look {
    Look {
        gain,
        gradient,
        noise,
        seed,
    }
}

const W: u32 = 800;
const H: u32 = 600;

/// Rotation 8°, scale 1.05 about the centre, a shift and a little perspective: later → baseline.
fn truth() -> Homography {
    let (cx, cy) = (W as f64 / 2.0, H as f64 / 2.0);
    let (s, c) = (
        8.0f64.to_radians().sin() * 1.05,
        8.0f64.to_radians().cos() * 1.05,
    );
    let centre = Homography([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]]);
    let rs = Homography([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]);
    let perspective = Homography([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [4e-5, -3e-5, 1.0]]);
    let back = Homography([
        [1.0, 0.0, cx + 25.0],
        [0.0, 1.0, cy - 18.0],
        [0.0, 0.0, 1.0],
    ]);
    back.after(&perspective)
        .after(&rs)
        .after(&centre)
        .normalized()
}

fn baseline(tex: &Texture) -> Rgb {
    tex.render(
        W,
        H,
        &Homography::IDENTITY,
        look([1.0, 1.0, 1.0], 0.0, 2.0, 1),
    )
}

#[test]
fn recovers_a_known_homography_despite_lighting_change() {
    let tex = Texture::new(11);
    let base = baseline(&tex);
    // Darker, warmer, with a 30 % lighting gradient across the frame and more noise.
    let later = tex.render(W, H, &truth(), look([0.8, 0.75, 0.7], 0.3, 3.0, 2));
    let t0 = std::time::Instant::now();
    let a = align(&base, &later, &AlignOptions::default());
    let elapsed = t0.elapsed();
    let (mean, max) = a.later_to_baseline.grid_error(&truth(), W, H, 10);
    let (coarse_mean, coarse_max) = {
        let c = align(
            &base,
            &later,
            &AlignOptions {
                refine: false,
                ..Default::default()
            },
        );
        c.later_to_baseline.grid_error(&truth(), W, H, 10)
    };
    eprintln!(
        "known homography: mean {mean:.3} px, max {max:.3} px (features only: {coarse_mean:.3} / {coarse_max:.3}); \
         {a:?}; {elapsed:?}"
    );
    assert!(mean < 0.5 && max < 1.5, "grid error mean {mean} max {max}");
    assert_eq!(a.status, AlignStatus::Ok, "{:?}", a.reason);
    assert!(a.inliers >= 50 && a.rms_px < 2.0, "{a:?}");
    assert!(a.correlation > 0.6, "{}", a.correlation);
    let want_overlap = overlap_fraction(&truth(), (W, H), (W, H));
    assert!(
        (a.overlap - want_overlap).abs() < 0.01,
        "{} vs {want_overlap}",
        a.overlap
    );
}

#[test]
fn identical_photos_align_to_identity() {
    let base = baseline(&Texture::new(5));
    let a = align(&base, &base, &AlignOptions::default());
    let (mean, max) = a
        .later_to_baseline
        .grid_error(&Homography::IDENTITY, W, H, 10);
    eprintln!("identity: mean {mean:.4} max {max:.4}; {a:?}");
    assert!(max < 0.05, "mean {mean} max {max}");
    assert_eq!(a.status, AlignStatus::Ok);
    assert!(a.correlation > 0.99 && (a.overlap - 1.0).abs() < 1e-9);
}

#[test]
fn unrelated_photos_fail_with_a_reason() {
    let base = baseline(&Texture::new(21));
    let other = Texture::new(22).render(
        W,
        H,
        &Homography::IDENTITY,
        look([0.9, 0.9, 0.9], 0.1, 2.0, 3),
    );
    let a = align(&base, &other, &AlignOptions::default());
    eprintln!("unrelated: {a:?}");
    assert_eq!(a.status, AlignStatus::Failed);
    assert!(a.reason.as_deref().is_some_and(|r| !r.is_empty()));
    // Failed alignments still serialise to valid JSON and read back.
    let json = serde_json::to_string(&a).unwrap();
    assert!(json.contains(r#""status":"failed""#), "{json}");
    let back: Alignment = serde_json::from_str(&json).unwrap();
    assert_eq!((back.status, back.inliers), (a.status, a.inliers));
}

#[test]
fn alignment_is_deterministic() {
    let tex = Texture::new(31);
    let base = baseline(&tex);
    let later = tex.render(W, H, &truth(), look([0.9, 0.85, 0.8], 0.2, 3.0, 4));
    let opts = AlignOptions::default();
    let (a, b) = (align(&base, &later, &opts), align(&base, &later, &opts));
    assert_eq!(a.later_to_baseline, b.later_to_baseline);
    assert_eq!((a.matches, a.inliers), (b.matches, b.inliers));
    assert_eq!(a.correlation.to_bits(), b.correlation.to_bits());
}

#[test]
fn tiny_or_blank_photos_fail_without_panicking() {
    let tiny = Rgb::new(20, 20);
    assert_eq!(
        align(&tiny, &tiny, &AlignOptions::default()).status,
        AlignStatus::Failed
    );
    let blank = Rgb::from_pixel(300, 200, RgbPixel([128, 100, 90]));
    let a = align(&blank, &blank, &AlignOptions::default());
    assert_eq!(a.status, AlignStatus::Failed);
    assert!(a.reason.is_some());
}

#[test]
fn warp_shifts_pixels_and_masks_the_covered_part() {
    let later =
        Texture::new(41).render(200, 150, &Homography::IDENTITY, look([1.0; 3], 0.0, 0.0, 0));
    let shift = Homography([[1.0, 0.0, 30.0], [0.0, 1.0, 20.0], [0.0, 0.0, 1.0]]);
    let (warped, mask) = warp_to_baseline(&later, &shift, 200, 150);
    let covered = mask.pixels().filter(|p| p.0[0] == MASK_ON).count();
    assert_eq!(covered, 170 * 130);
    assert_eq!(mask.get_pixel(29, 19).0[0], 0);
    assert_eq!(mask.get_pixel(30, 20).0[0], MASK_ON);
    assert_eq!(warped.get_pixel(100, 80), later.get_pixel(70, 60));
    assert_eq!(warped.get_pixel(10, 10).0, [0, 0, 0]);
    // Under the truth warp the mask covers what the overlap measure says (up to the border).
    let (_, mask) = warp_to_baseline(&later, &truth(), 200, 150);
    let frac = mask.pixels().filter(|p| p.0[0] == MASK_ON).count() as f64 / (200.0 * 150.0);
    let want = overlap_fraction(&truth(), (200, 150), (200, 150));
    assert!((frac - want).abs() < 0.02, "{frac} vs {want}");
}

/// Fine texture (a 6 px period stripe) warped half a pixel off the grid keeps its contrast:
/// a bilinear blend would keep cos(π/6) = 87 % of it, Catmull-Rom weights keep 97 %.
#[test]
fn warp_between_pixels_keeps_fine_texture() {
    let stripe = |x: f64| 128.0 + 60.0 * (std::f64::consts::TAU * x / 6.0).sin();
    let later = Rgb::from_fn(120, 90, |x, _| {
        let v = stripe(x as f64).round() as u8;
        RgbPixel([v, v, v])
    });
    let half = Homography([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]]);
    let (warped, mask) = warp_to_baseline(&later, &half, 120, 90);
    let spread = |values: &[f64]| {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt()
    };
    let inside = |x: u32, y: u32| (10..110).contains(&x) && (10..80).contains(&y);
    let kept: Vec<f64> = warped
        .enumerate_pixels()
        .filter(|(x, y, _)| inside(*x, *y) && mask.get_pixel(*x, *y).0[0] == MASK_ON)
        .map(|(_, _, p)| p.0[0] as f64)
        .collect();
    let original: Vec<f64> = (10..110).map(|x| stripe(x as f64)).collect();
    let ratio = spread(&kept) / spread(&original);
    assert!(
        (0.95..1.01).contains(&ratio),
        "texture contrast kept: {ratio:.3}"
    );
}

#[test]
fn half_overlap_is_poor_and_different_resolution_is_fine() {
    let tex = Texture::new(51);
    let base = baseline(&tex);
    // Same camera, moved by 55 % of the frame width: overlap 0.44 (0.45 × 0.98).
    let shift = Homography([[1.0, 0.0, 440.0], [0.0, 1.0, 10.0], [0.0, 0.0, 1.0]]);
    let later = tex.render(W, H, &shift, look([0.9, 0.9, 0.95], 0.1, 2.0, 5));
    let a = align(&base, &later, &AlignOptions::default());
    let (mean, max) = a.later_to_baseline.grid_error(&shift, W, H, 10);
    eprintln!("half overlap: mean {mean:.3} max {max:.3}; {a:?}");
    assert_eq!(a.status, AlignStatus::Poor, "{a:?}");
    assert!(
        a.reason
            .as_deref()
            .is_some_and(|r| r.contains("low overlap 0.44")),
        "{:?}",
        a.reason
    );
    assert!(mean < 0.5, "{mean}");
    // A lower-resolution camera (600 × 450) seeing the truth's field of view.
    let to_base = truth().after(&Homography::scaling(W as f64 / 600.0, H as f64 / 450.0));
    let small = tex.render(600, 450, &to_base, look([1.1, 1.0, 0.9], -0.2, 2.0, 6));
    let b = align(&base, &small, &AlignOptions::default());
    let (mean, max) = b.later_to_baseline.grid_error(&to_base, 600, 450, 10);
    eprintln!("lower resolution: mean {mean:.3} max {max:.3}; {b:?}");
    assert_eq!(b.status, AlignStatus::Ok, "{b:?}");
    assert!(mean < 0.5 && max < 1.5, "mean {mean} max {max}");
}
