//! Metrics against known truth on small hand-made images.

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SKIN: [u8; 3] = [200, 150, 130];

fn full(w: u32, h: u32) -> Mask {
    Mask::from_pixel(w, h, image::Luma([255]))
}

fn fill(map: &mut ClassMap, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>, class: u8) {
    for y in ys {
        for x in xs.clone() {
            map.put_pixel(x, y, image::Luma([class]));
        }
    }
}

fn flat(w: u32, h: u32) -> Rgb {
    Rgb::from_pixel(w, h, image::Rgb(SKIN))
}

fn scaled(px_per_mm: f64) -> MeasureOptions {
    MeasureOptions {
        px_per_mm: Some(px_per_mm),
        ..Default::default()
    }
}

#[test]
fn rectangle_scar_exact_area() {
    let (w, h) = (100, 80);
    let mut classes = ClassMap::new(w, h);
    fill(&mut classes, 30..50, 20..30, CLASS_SCAR); // 200 px
    let m = measure(&flat(w, h), &classes, &full(w, h), &scaled(10.0), None);
    assert_eq!(m.region_px, 8000);
    assert_eq!(m.scar_area_pct, 2.5);
    assert_eq!(m.scar_area_mm2, Some(2.0)); // 200 px / 10² px per mm²
    assert_eq!(m.scar_count, 1);
    assert_eq!(m.line_area_pct, 0.0);
    assert_eq!(m.line_count, 0);
    let unscaled = measure(
        &flat(w, h),
        &classes,
        &full(w, h),
        &MeasureOptions::default(),
        None,
    );
    assert_eq!(unscaled.scar_area_pct, 2.5);
    assert_eq!(unscaled.scar_area_mm2, None);
}

#[test]
fn scar_count_ignores_small_components_but_keeps_their_area() {
    let (w, h) = (60, 40);
    let mut classes = ClassMap::new(w, h);
    fill(&mut classes, 5..15, 5..10, CLASS_SCAR); // 50 px
    fill(&mut classes, 40..45, 20..22, CLASS_SCAR); // 10 px
    let m = measure(
        &flat(w, h),
        &classes,
        &full(w, h),
        &MeasureOptions::default(),
        None,
    );
    assert_eq!(m.scar_count, 1);
    assert!((m.scar_area_pct - 100.0 * 60.0 / 2400.0).abs() < 1e-12);
}

#[test]
fn horizontal_line_length_and_count() {
    let (w, h) = (260, 40);
    let mut classes = ClassMap::new(w, h);
    fill(&mut classes, 30..230, 18..21, CLASS_LINE); // 200 × 3
    let region = full(w, h);
    let m = measure(
        &flat(w, h),
        &classes,
        &region,
        &MeasureOptions::default(),
        None,
    );
    assert_eq!(m.line_length_unit, "px/MP");
    let region_px = (w * h) as f64;
    assert!((m.line_area_pct - 100.0 * 600.0 / region_px).abs() < 1e-12);
    let length_px = m.line_length * region_px / 1e6;
    assert!(
        (length_px - 200.0).abs() / 200.0 < 0.03,
        "length {length_px}"
    );
    assert_eq!(m.line_count, 1);

    // With 10 px/mm: 20 mm of line on 1.04 cm² of region.
    let s = measure(&flat(w, h), &classes, &region, &scaled(10.0), None);
    assert_eq!(s.line_length_unit, "mm/cm2");
    let want = 20.0 / (region_px / 100.0 / 100.0);
    assert!(
        (s.line_length - want).abs() / want < 0.03,
        "{} vs {want}",
        s.line_length
    );
    assert_eq!(s.line_count, 1);
}

#[test]
fn diagonal_line_length() {
    // A 45° band 4 px wide (measured along x) from x = 20 to 180: true length 160·√2.
    let (w, h) = (220, 220);
    let mut classes = ClassMap::new(w, h);
    for x in 20..180u32 {
        for d in 0..4 {
            classes.put_pixel(x, x + 20 + d, image::Luma([CLASS_LINE]));
        }
    }
    let m = measure(
        &flat(w, h),
        &classes,
        &full(w, h),
        &MeasureOptions::default(),
        None,
    );
    let length_px = m.line_length * (w * h) as f64 / 1e6;
    let truth = 160.0 * std::f64::consts::SQRT_2;
    assert!(
        (length_px - truth).abs() / truth < 0.05,
        "length {length_px} vs {truth}"
    );
    assert_eq!(m.line_count, 1);
}

#[test]
fn sloped_line_length_within_the_chain_code_bias() {
    // 3 px wide (across), along y = x/2 + 20 for x in 20..220: true length 200·√1.25. The
    // 1 / √2 link sum over-reads this orientation by about 7 % (see skeleton_length).
    let (w, h) = (240, 160);
    let mut classes = ClassMap::new(w, h);
    for x in 20..220u32 {
        let yc = x as f64 / 2.0 + 20.0;
        for y in 0..h {
            if (y as f64 - yc).abs() * (1.0f64 / 1.25).sqrt() <= 1.5 {
                classes.put_pixel(x, y, image::Luma([CLASS_LINE]));
            }
        }
    }
    let m = measure(
        &flat(w, h),
        &classes,
        &full(w, h),
        &MeasureOptions::default(),
        None,
    );
    let length_px = m.line_length * (w * h) as f64 / 1e6;
    let truth = 200.0 * 1.25f64.sqrt();
    let bias = length_px / truth - 1.0;
    assert!((0.0..0.09).contains(&bias), "length {length_px} vs {truth}");
    assert_eq!(m.line_count, 1);
}

#[test]
fn short_lines_and_lines_outside_the_region_are_not_counted() {
    let (w, h) = (120, 60);
    let mut classes = ClassMap::new(w, h);
    fill(&mut classes, 10..60, 10..12, CLASS_LINE); // long, inside
    fill(&mut classes, 80..86, 10..12, CLASS_LINE); // 6 px: too short
    fill(&mut classes, 10..60, 50..52, CLASS_LINE); // long, outside the region
    let mut region = full(w, h);
    for y in 40..h {
        for x in 0..w {
            region.put_pixel(x, y, image::Luma([0]));
        }
    }
    let m = measure(
        &flat(w, h),
        &classes,
        &region,
        &MeasureOptions::default(),
        None,
    );
    assert_eq!(m.region_px, 120 * 40);
    assert_eq!(m.line_count, 1);
    assert!((m.line_area_pct - 100.0 * 112.0 / 4800.0).abs() < 1e-12);
}

#[test]
fn redness_and_ita_of_a_uniform_image() {
    let (w, h) = (50, 40);
    let classes = ClassMap::new(w, h);
    let lab = color::srgb_to_lab(SKIN);
    let opts = MeasureOptions::default();
    let m = measure(&flat(w, h), &classes, &full(w, h), &opts, None);
    assert!((m.redness_a - lab[1]).abs() < 1e-4);
    assert!((m.a_median - lab[1]).abs() < 1e-4);
    assert_eq!(m.redness_area_pct, 0.0);
    let ita = (lab[0] - 50.0).atan2(lab[2]).to_degrees();
    assert!((m.ita_deg - ita).abs() < 1e-3, "{} vs {ita}", m.ita_deg);
    // Against a paler baseline (median a* 6 lower) every pixel is red.
    let paler = measure(
        &flat(w, h),
        &classes,
        &full(w, h),
        &opts,
        Some(lab[1] - 6.0),
    );
    assert_eq!(paler.redness_area_pct, 100.0);
}

#[test]
fn redness_area_counts_red_patch() {
    let (w, h) = (50, 40);
    let mut img = flat(w, h);
    for y in 0..10 {
        for x in 0..50 {
            img.put_pixel(x, y, image::Rgb([230, 110, 110])); // 500 px, a* much higher
        }
    }
    let m = measure(
        &img,
        &ClassMap::new(w, h),
        &full(w, h),
        &MeasureOptions::default(),
        None,
    );
    assert_eq!(m.redness_area_pct, 25.0);
    assert!((m.a_median - color::srgb_to_lab(SKIN)[1]).abs() < 1e-4);
}

#[test]
fn roughness_flat_textured_and_lesions_excluded() {
    let (w, h) = (120, 100);
    let region = full(w, h);
    let opts = MeasureOptions::default();
    let flat_m = measure(&flat(w, h), &ClassMap::new(w, h), &region, &opts, None);
    assert!(
        flat_m.roughness < 1e-3,
        "flat roughness {}",
        flat_m.roughness
    );

    // Texture in the band (period 12 px: the fine blur keeps ~73 %, the coarse none): an
    // L* amplitude of A gives a band-pass std of about 0.73·A/√2.
    let wave =
        |x: u32| (20.0 * (2.0 * std::f64::consts::PI * x as f64 / 12.0).sin()).round() as i32;
    let textured = Rgb::from_fn(w, h, |x, _| {
        image::Rgb(SKIN.map(|v| (v as i32 + wave(x)).clamp(0, 255) as u8))
    });
    let amplitude = (color::srgb_to_lab(SKIN.map(|v| v + 20))[0]
        - color::srgb_to_lab(SKIN.map(|v| v - 20))[0])
        / 2.0;
    let tex_m = measure(&textured, &ClassMap::new(w, h), &region, &opts, None);
    let want = 0.73 * amplitude / 2f64.sqrt();
    assert!(
        (tex_m.roughness - want).abs() / want < 0.15,
        "textured roughness {} vs ~{want}",
        tex_m.roughness
    );
    // Pixel noise is mostly below the band: seeded ±20 noise reads far less than the wave.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let noisy = Rgb::from_fn(w, h, |_, _| {
        let d: i32 = rng.random_range(-20..=20);
        image::Rgb(SKIN.map(|v| (v as i32 + d).clamp(0, 255) as u8))
    });
    let noise_m = measure(&noisy, &ClassMap::new(w, h), &region, &opts, None);
    assert!(noise_m.roughness > 0.1 && noise_m.roughness < tex_m.roughness / 2.0);

    // A dark line on flat skin, classed as line, does not make the skin rough.
    let mut lined = flat(w, h);
    let mut classes = ClassMap::new(w, h);
    for y in 48..52 {
        for x in 10..110 {
            lined.put_pixel(x, y, image::Rgb([90, 60, 50]));
        }
    }
    fill(&mut classes, 10..110, 48..52, CLASS_LINE);
    let lined_m = measure(&lined, &classes, &region, &opts, None);
    assert!(
        lined_m.roughness < 1e-3,
        "lined roughness {}",
        lined_m.roughness
    );
}

/// Fine detail reads the finest band: a 4 px wave keeps 46 % of its amplitude there, and
/// defocusing it (Gaussian, sigma 1 px, which keeps 29 % of a 4 px wave) scales the reading
/// by that factor, far outside the range where roughness compares.
#[test]
fn fine_detail_follows_defocus() {
    let (w, h) = (120, 100);
    let region = full(w, h);
    let opts = MeasureOptions::default();
    let wave = |amplitude: f64| {
        Rgb::from_fn(w, h, |x, _| {
            let d = amplitude * (std::f64::consts::FRAC_PI_2 * x as f64).sin();
            image::Rgb(SKIN.map(|v| (v as f64 + d).round().clamp(0.0, 255.0) as u8))
        })
    };
    // Phase 0 samples the wave at 0, ±A: its std is A/√2 as for a continuous sine.
    let sharp = measure(&wave(20.0), &ClassMap::new(w, h), &region, &opts, None);
    let amplitude = (color::srgb_to_lab(SKIN.map(|v| v + 20))[0]
        - color::srgb_to_lab(SKIN.map(|v| v - 20))[0])
        / 2.0;
    let band_gain = |sigma: f64| (-2.0 * (std::f64::consts::PI * sigma / 4.0).powi(2)).exp();
    let want = (band_gain(0.7) - band_gain(1.4)) * amplitude / 2f64.sqrt();
    assert!(
        (sharp.fine_detail - want).abs() / want < 0.15,
        "fine detail {} vs ~{want}",
        sharp.fine_detail
    );
    let kept = band_gain(1.0);
    let soft = measure(
        &wave(20.0 * kept),
        &ClassMap::new(w, h),
        &region,
        &opts,
        None,
    );
    let ratio = fine_detail_ratio(soft.fine_detail, sharp.fine_detail);
    assert!(
        (ratio - kept).abs() / kept < 0.15,
        "ratio {ratio} vs ~{kept}"
    );
    assert!(!focus_comparable(ratio) && !focus_comparable(1.0 / ratio));
    assert!(focus_comparable(fine_detail_ratio(
        sharp.fine_detail,
        sharp.fine_detail
    )));
    // No reference detail (flat skin) gives no verdict against it: ratio 1.
    assert_eq!(fine_detail_ratio(sharp.fine_detail, 0.0), 1.0);
}

#[test]
fn empty_region_measures_zero() {
    let m = measure(
        &flat(20, 20),
        &ClassMap::new(20, 20),
        &Mask::new(20, 20),
        &scaled(5.0),
        None,
    );
    assert_eq!(m.region_px, 0);
    assert_eq!(m.scar_area_mm2, Some(0.0));
    assert!(m.named().iter().all(|(_, v, _)| *v == 0.0));
}

#[test]
fn named_metrics_follow_design_names() {
    let (w, h) = (40, 40);
    let scaled_m = measure(
        &flat(w, h),
        &ClassMap::new(w, h),
        &full(w, h),
        &scaled(8.0),
        None,
    );
    let names: Vec<&str> = scaled_m.named().iter().map(|n| n.0).collect();
    assert_eq!(
        names,
        [
            "line_area_pct",
            "line_length_mm_per_cm2",
            "line_count",
            "scar_area_pct",
            "scar_area_mm2",
            "scar_count",
            "roughness",
            "redness_a",
            "redness_area_pct",
            "ita_deg"
        ]
    );
    let plain = measure(
        &flat(w, h),
        &ClassMap::new(w, h),
        &full(w, h),
        &MeasureOptions::default(),
        None,
    );
    let named = plain.named();
    assert!(named.contains(&("line_length_px_per_mp", 0.0, "px/MP")));
    assert!(!named.iter().any(|n| n.0 == "scar_area_mm2"));
}

#[test]
fn mismatched_sizes_use_the_common_part() {
    let mut classes = ClassMap::new(30, 30);
    fill(&mut classes, 0..10, 0..10, CLASS_SCAR);
    let m = measure(
        &flat(20, 25),
        &classes,
        &full(40, 20),
        &MeasureOptions::default(),
        None,
    );
    assert_eq!(m.region_px, 20 * 20);
    assert_eq!(m.scar_area_pct, 25.0);
}

#[test]
fn blur_keeps_constants_and_matches_a_direct_sum() {
    // Taller than one strip of the in-place row pass (32 rows), the impulse on a strip border.
    let (w, h) = (37, 71);
    let ones = vec![1f32; w * h];
    let b = gaussian_blur(&ones, w, h, 2.0, |v| v);
    // Far from the edges a constant stays constant (zero padding only shows near them).
    assert!((b[11 * w + 18] - 1.0).abs() < 1e-5);
    // An impulse spreads into the separable kernel: compare with the 2-D Gaussian.
    let mut imp = vec![0f32; w * h];
    imp[33 * w + 18] = 1.0;
    let b = gaussian_blur(&imp, w, h, 2.0, |v| v);
    let g = |d: f64| (-d * d / 8.0).exp();
    let norm: f64 = (-6..=6).map(|d| g(d as f64)).sum();
    for (dx, dy) in [(0i32, 0i32), (3, 0), (0, -2), (4, 5), (-2, -4)] {
        let want = g(dx as f64) * g(dy as f64) / (norm * norm);
        let got = b[((33 + dy) as usize) * w + (18 + dx) as usize] as f64;
        assert!((got - want).abs() < 1e-6, "({dx},{dy}): {got} vs {want}");
    }
    assert_eq!(
        transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2),
        [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
}

#[test]
fn medians() {
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(median(&mut []), 0.0);
}
