//! Alignment under the conditions of issue 3: rotation up to ±20°, scale 0.75–1.33, camera
//! tilt up to ~10°, translation up to 20 % of the width, overlap down to 60 %, with exposure,
//! white-balance, lighting-gradient, blur, noise and JPEG-70 changes; on synthetic skin (light
//! and dark) and on real photos from `../shared/realdata/` (skipped when absent).
//!
//! Pairs are cut from one larger source image: the baseline is its centre, the later photo a
//! view of it through a known homography, so both are fully textured and the truth is exact.

mod common;

use common::realdata;

use image::codecs::jpeg::JpegEncoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skintrack::align::{self, AlignOptions, AlignStatus, Alignment};
use skintrack::definitions::{Homography, Rgb};
use skintrack::synth::{SynthOptions, generate};

/// Size of the photos of a pair.
const W: u32 = 640;
const H: u32 = 480;

/// A pair with its truth (later pixel → baseline pixel).
struct Pair {
    baseline: Rgb,
    later: Rgb,
    truth: Homography,
    label: String,
}

fn translate(dx: f64, dy: f64) -> Homography {
    Homography([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
}

/// A random view within the envelope, as later → baseline (both `w` × `h`), with the
/// baseline's overlap ≥ 0.6. Perspective comes from a camera tilt about an in-plane axis with
/// focal length `w`.
fn draw_view(rng: &mut ChaCha8Rng, w: f64, h: f64) -> Homography {
    loop {
        let angle = rng.random_range(-20.0f64..20.0).to_radians();
        let scale = (rng.random_range(0.75f64.ln()..1.33f64.ln())).exp();
        let tilt = rng.random_range(0.0f64..10.0).to_radians();
        let axis = rng.random_range(0.0..std::f64::consts::TAU);
        let (tx, ty) = (
            rng.random_range(-0.2..0.2) * w,
            rng.random_range(-0.2..0.2) * h,
        );
        // Tilt: K·R·K⁻¹ with R a rotation by `tilt` about the in-plane axis (cos a, sin a, 0).
        let (ax, ay) = (axis.cos(), axis.sin());
        let (c, s) = (tilt.cos(), tilt.sin());
        let r = [
            [c + ax * ax * (1.0 - c), ax * ay * (1.0 - c), ay * s],
            [ax * ay * (1.0 - c), c + ay * ay * (1.0 - c), -ax * s],
            [-ay * s, ax * s, c],
        ];
        let f = w;
        let k = Homography([[f, 0.0, 0.0], [0.0, f, 0.0], [0.0, 0.0, 1.0]]);
        let k_inv = Homography([[1.0 / f, 0.0, 0.0], [0.0, 1.0 / f, 0.0], [0.0, 0.0, 1.0]]);
        let tilt_h = k.after(&Homography(r)).after(&k_inv);
        let (sn, cs) = angle.sin_cos();
        let similarity = Homography([
            [scale * cs, -scale * sn, tx],
            [scale * sn, scale * cs, ty],
            [0.0, 0.0, 1.0],
        ]);
        let (cx, cy) = (0.5 * (w - 1.0), 0.5 * (h - 1.0));
        let h_view = translate(cx, cy)
            .after(&similarity)
            .after(&tilt_h)
            .after(&translate(-cx, -cy))
            .normalized();
        if overlap(&h_view, w, h) >= 0.6 {
            return h_view;
        }
    }
}

/// Fraction of the baseline frame seen by the later photo (same size `w` × `h`).
fn overlap(later_to_baseline: &Homography, w: f64, h: f64) -> f64 {
    let Some(inv) = later_to_baseline.inverse() else {
        return 0.0;
    };
    let n = 60;
    let mut inside = 0;
    for j in 0..n {
        for i in 0..n {
            let (x, y) = (
                (i as f64 + 0.5) / n as f64 * w,
                (j as f64 + 0.5) / n as f64 * h,
            );
            if let Some((u, v)) = inv.apply(x, y)
                && (0.0..w).contains(&u)
                && (0.0..h).contains(&v)
            {
                inside += 1;
            }
        }
    }
    inside as f64 / (n * n) as f64
}

/// Whether the later view (`w` × `h` through `later_to_source`) stays inside the source.
fn inside_source(later_to_source: &Homography, w: f64, h: f64, sw: f64, sh: f64) -> bool {
    [
        (0.0, 0.0),
        (w - 1.0, 0.0),
        (0.0, h - 1.0),
        (w - 1.0, h - 1.0),
    ]
    .iter()
    .all(|&(x, y)| {
        later_to_source
            .apply(x, y)
            .is_some_and(|(u, v)| u >= 0.0 && v >= 0.0 && u <= sw - 1.0 && v <= sh - 1.0)
    })
}

/// The camera changes of a later visit: blur, exposure, white balance, gradient, noise, JPEG 70.
fn degrade(img: &Rgb, rng: &mut ChaCha8Rng) -> Rgb {
    let sigma = rng.random_range(0.4f32..1.0);
    let blurred = image::imageops::blur(img, sigma);
    let exposure = rng.random_range(0.6..1.4);
    let wb = [
        rng.random_range(0.85..1.15),
        1.0,
        rng.random_range(0.85..1.15),
    ];
    let amp = rng.random_range(0.1..0.25);
    let dir = rng.random_range(0.0..std::f64::consts::TAU);
    let noise = rng.random_range(1.5..4.0);
    let (w, h) = img.dimensions();
    let mut out = Rgb::new(w, h);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (nx, ny) = (x as f64 / w as f64 - 0.5, y as f64 / h as f64 - 0.5);
        let shade = 1.0 + 2.0 * amp * (nx * dir.cos() + ny * dir.sin());
        let src = blurred.get_pixel(x, y);
        for c in 0..3 {
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let n = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * noise;
            let v = src[c] as f64 * exposure * wb[c] * shade + n;
            p[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    jpeg(&out, 70)
}

fn jpeg(img: &Rgb, quality: u8) -> Rgb {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .expect("JPEG encodes");
    image::load_from_memory(&bytes)
        .expect("JPEG decodes")
        .to_rgb8()
}

/// Pairs cut from `source`: baseline = its centre `w` × `h`, later = a random view.
fn pairs_from(source: &Rgb, w: u32, h: u32, count: usize, seed: u64, label: &str) -> Vec<Pair> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (sw, sh) = (source.width() as f64, source.height() as f64);
    let off = (
        ((sw - w as f64) / 2.0).floor(),
        ((sh - h as f64) / 2.0).floor(),
    );
    let baseline_to_source = translate(off.0, off.1);
    let source_to_baseline = translate(-off.0, -off.1);
    let (baseline, _) = align::warp_to_baseline(source, &source_to_baseline, w, h);
    let baseline = jpeg(&baseline, 90);
    let mut out = Vec::new();
    while out.len() < count {
        let truth = draw_view(&mut rng, w as f64, h as f64);
        let later_to_source = baseline_to_source.after(&truth);
        if !inside_source(&later_to_source, w as f64, h as f64, sw, sh) {
            continue;
        }
        let Some(source_to_later) = later_to_source.inverse() else {
            continue;
        };
        let (later, _) = align::warp_to_baseline(source, &source_to_later, w, h);
        let later = degrade(&later, &mut rng);
        out.push(Pair {
            baseline: baseline.clone(),
            later,
            truth,
            label: format!(
                "{label} #{} ({})",
                out.len(),
                describe(&truth, w as f64, h as f64)
            ),
        });
    }
    out
}

/// Rotation, scale and overlap of a view, for messages.
fn describe(t: &Homography, w: f64, h: f64) -> String {
    let (cx, cy) = (0.5 * w, 0.5 * h);
    let (Some(c), Some(r)) = (t.apply(cx, cy), t.apply(cx + 10.0, cy)) else {
        return "degenerate".into();
    };
    let (dx, dy) = (r.0 - c.0, r.1 - c.1);
    format!(
        "rot {:.1}°, scale {:.2}, overlap {:.2}",
        dy.atan2(dx).to_degrees(),
        dx.hypot(dy) / 10.0,
        overlap(t, w, h)
    )
}

/// Synthetic skin of series `seed`, large enough to cut every view from; with its ITA.
fn synthetic_source(seed: u64) -> (Rgb, f64) {
    let series = generate(&SynthOptions {
        seed,
        sessions: 1,
        width: 1280,
        height: 1080,
        px_per_mm: 20.0,
        ..SynthOptions::default()
    });
    (series.sessions[0].image.clone(), series.skin_ita_deg)
}

struct Outcome {
    label: String,
    found: Alignment,
    mean: f64,
    max: f64,
}

fn run(pairs: &[Pair]) -> Vec<Outcome> {
    pairs
        .iter()
        .map(|p| {
            let start = std::time::Instant::now();
            let found = align::align(&p.baseline, &p.later, &AlignOptions::default());
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if std::env::var_os("ALIGN_DEBUG").is_some() {
                let coarse = align::align(
                    &p.baseline,
                    &p.later,
                    &AlignOptions {
                        refine: false,
                        ..AlignOptions::default()
                    },
                );
                let (m, x) = coarse.later_to_baseline.grid_error(
                    &p.truth,
                    p.later.width(),
                    p.later.height(),
                    10,
                );
                eprintln!(
                    "   coarse: mean {m:.3} max {x:.3} corr {:.3}",
                    coarse.correlation
                );
            }
            let (mean, max) =
                found
                    .later_to_baseline
                    .grid_error(&p.truth, p.later.width(), p.later.height(), 10);
            eprintln!(
                "{}: {:?} mean {mean:.3} max {max:.3} inliers {} corr {:.2} overlap {:.2} {:?} \
                 {ms:.0} ms",
                p.label,
                found.status,
                found.inliers,
                found.correlation,
                found.overlap,
                found.reason
            );
            Outcome {
                label: p.label.clone(),
                found,
                mean,
                max,
            }
        })
        .collect()
}

/// Issue 3's success target: share of pairs not failed.
const MIN_SUCCESS: f64 = 0.98;

fn success_rate(outcomes: &[Outcome]) -> f64 {
    let ok = outcomes
        .iter()
        .filter(|o| o.found.status != AlignStatus::Failed)
        .count();
    ok as f64 / outcomes.len().max(1) as f64
}

/// Asserts the targets: ≥ 98 % succeed, mean grid error ≤ 0.3 px over the successes,
/// and per success mean ≤ `pair_mean` and worst grid point ≤ `pair_max` (the 0.3 and
/// 1.0 px where the texture allows).
fn assert_targets(outcomes: &[Outcome], (pair_mean, pair_max): (f64, f64)) {
    let ok: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.found.status != AlignStatus::Failed)
        .collect();
    let rate = success_rate(outcomes);
    let mean = ok.iter().map(|o| o.mean).sum::<f64>() / ok.len().max(1) as f64;
    let worst_mean = ok.iter().map(|o| o.mean).fold(0.0, f64::max);
    let worst = ok.iter().map(|o| o.max).fold(0.0, f64::max);
    eprintln!(
        "{} pairs: success {:.1} %, mean grid error {mean:.3} px (worst pair {worst_mean:.3}), \
         worst point {worst:.3} px",
        outcomes.len(),
        100.0 * rate
    );
    assert!(rate >= MIN_SUCCESS, "success rate {rate:.3}");
    assert!(mean <= 0.3, "mean grid error {mean:.3} px");
    for o in &ok {
        assert!(
            o.mean <= pair_mean && o.max <= pair_max,
            "{}: mean {:.3} px, max {:.3} px",
            o.label,
            o.mean,
            o.max
        );
    }
}

/// Series seeds with light and dark skin (checked below against their ITA).
/// The per-pair targets: mean grid error and worst grid point, px.
const TARGET: (f64, f64) = (0.3, 1.0);
/// Whole-face photos have large smooth, sometimes clipped cheeks and hair: there the worst
/// grid point (often extrapolated beyond the textured skin) is allowed 2 px.
const FACE_LIMITS: (f64, f64) = (0.4, 2.0);

/// Pairs per synthetic seed: 100 in all, so that the 98 % target allows one failure per tone.
const PAIRS_PER_SEED: usize = 25;
const LIGHT_SEEDS: [u64; 2] = [2, 4];
const DARK_SEEDS: [u64; 2] = [7, 12];

#[test]
fn synthetic_pairs_within_the_envelope_align_sub_pixel() {
    let mut light = Vec::new();
    let mut dark = Vec::new();
    for (k, &seed) in LIGHT_SEEDS.iter().chain(&DARK_SEEDS).enumerate() {
        let (source, ita) = synthetic_source(seed);
        eprintln!("seed {seed}: ITA {ita:.1}°");
        let group = if k < LIGHT_SEEDS.len() {
            assert!(
                ita > 28.0,
                "seed {seed} should be light skin (ITA {ita:.1})"
            );
            &mut light
        } else {
            assert!(
                ita < -30.0,
                "seed {seed} should be dark skin (ITA {ita:.1})"
            );
            &mut dark
        };
        group.extend(pairs_from(
            &source,
            W,
            H,
            PAIRS_PER_SEED,
            100 + seed,
            &format!("synth {seed}"),
        ));
    }
    let (light, dark) = (run(&light), run(&dark));
    let (light_rate, dark_rate) = (success_rate(&light), success_rate(&dark));
    eprintln!(
        "light skin: {:.1} % of {} pairs aligned; dark skin: {:.1} % of {}",
        100.0 * light_rate,
        light.len(),
        100.0 * dark_rate,
        dark.len()
    );
    // Each tone on its own, so that light skin cannot carry dark skin's failures.
    assert!(
        light_rate >= MIN_SUCCESS,
        "light skin success {light_rate:.3}"
    );
    assert!(dark_rate >= MIN_SUCCESS, "dark skin success {dark_rate:.3}");
    let all: Vec<Outcome> = light.into_iter().chain(dark).collect();
    assert_targets(&all, TARGET);
}

#[test]
fn unrelated_synthetic_skin_is_never_accepted() {
    let seeds = [1u64, 2, 3, 4, 5];
    let sources: Vec<Rgb> = seeds.iter().map(|&s| synthetic_source(s).0).collect();
    let mut pairs = Vec::new();
    for i in 0..seeds.len() {
        for d in [1, 2] {
            let j = (i + d) % seeds.len();
            let a = &pairs_from(&sources[i], W, H, 1, 7 + i as u64, "a")[0];
            let b = &pairs_from(&sources[j], W, H, 1, 70 + j as u64 + d as u64, "b")[0];
            pairs.push(Pair {
                baseline: a.baseline.clone(),
                later: b.later.clone(),
                truth: Homography::IDENTITY,
                label: format!("unrelated {} vs {}", seeds[i], seeds[j]),
            });
        }
    }
    let accepted: Vec<_> = run(&pairs)
        .into_iter()
        .filter(|o| o.found.status != AlignStatus::Failed)
        .map(|o| o.label)
        .collect();
    assert!(
        accepted.is_empty(),
        "accepted unrelated pairs: {accepted:?}"
    );
}

/// `n` photos of `dir`, every `step`-th in name order (far apart in the list, so that
/// they show different people), enlarged 1.5× so that every view of the envelope fits.
fn photos_in(dir: &std::path::Path, n: usize, step: usize) -> Vec<Rgb> {
    let paths = skintrack::inputs::list_photos(dir).unwrap_or_default();
    paths
        .iter()
        .step_by(step.max(1))
        .filter_map(|p| image::open(p).ok())
        .take(n)
        .map(|i| {
            let (w, h) = (i.width() * 3 / 2, i.height() * 3 / 2);
            image::imageops::resize(&i.to_rgb8(), w, h, image::imageops::FilterType::CatmullRom)
        })
        .collect()
}

/// Pair size cut from the (enlarged, 960 × 960) real photos.
const REAL_W: u32 = 480;
const REAL_H: u32 = 360;

#[test]
fn real_skin_photos_align_sub_pixel() {
    let Some(dir) = realdata() else { return };
    let scars = photos_in(&dir.join("scarcare_scar_types/atrophic"), 3, 7);
    let faces = photos_in(&dir.join("acne04_roboflow_voc/images"), 3, 23);
    assert!(
        scars.len() == 3 && faces.len() == 3,
        "too few real photos found in {}",
        dir.display()
    );
    let cut = |photos: &[Rgb], kind: &str, seed: u64| -> Vec<Pair> {
        photos
            .iter()
            .enumerate()
            .flat_map(|(k, p)| {
                pairs_from(
                    p,
                    REAL_W,
                    REAL_H,
                    4,
                    seed + k as u64,
                    &format!("{kind} {k}"),
                )
            })
            .collect()
    };
    assert_targets(&run(&cut(&scars, "scar close-up", 500)), TARGET);
    assert_targets(&run(&cut(&faces, "face", 503)), FACE_LIMITS);
}

#[test]
fn real_photos_of_different_people_are_never_accepted() {
    let Some(dir) = realdata() else { return };
    let faces = photos_in(&dir.join("acne04_roboflow_voc/images"), 6, 13);
    let scars = photos_in(&dir.join("scarcare_scar_types/atrophic"), 4, 5);
    let mut pairs = Vec::new();
    for group in [&faces, &scars] {
        for i in 0..group.len() {
            let j = (i + 1) % group.len();
            if i == j {
                continue;
            }
            let a = &pairs_from(&group[i], REAL_W, REAL_H, 1, 900 + i as u64, "a")[0];
            let b = &pairs_from(&group[j], REAL_W, REAL_H, 1, 950 + j as u64, "b")[0];
            pairs.push(Pair {
                baseline: a.baseline.clone(),
                later: b.later.clone(),
                truth: Homography::IDENTITY,
                label: format!("different photos {i} vs {j}"),
            });
        }
    }
    assert!(
        pairs.len() >= 6,
        "too few real photos found in {}",
        dir.display()
    );
    let accepted: Vec<_> = run(&pairs)
        .into_iter()
        .filter(|o| o.found.status != AlignStatus::Failed)
        .map(|o| o.label)
        .collect();
    assert!(
        accepted.is_empty(),
        "accepted unrelated pairs: {accepted:?}"
    );
}
