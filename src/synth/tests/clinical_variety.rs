//! The clinical variety: extra lesion kinds are labelled, look-alikes are skin, and the plain
//! world stays as it was.

use super::super::clinical::{LOOK_ACNE, LOOK_HAIR, LOOK_NONE, LOOK_PIGMENT, LOOK_SHINE};
use super::super::*;
use super::small;
use crate::definitions::{CLASS_BACKGROUND, CLASS_SCAR};

fn clinical(seed: u64) -> SynthOptions {
    SynthOptions {
        seed,
        sessions: 1,
        width: 512,
        height: 512,
        px_per_mm: 20.0,
        clinical: true,
        ..Default::default()
    }
}

/// Mean sRGB of the pixels where `pick` holds.
fn mean_rgb(img: &Rgb, pick: impl Fn(usize) -> bool) -> Option<[f64; 3]> {
    let (mut sum, mut n) = ([0.0; 3], 0usize);
    for (i, p) in img.pixels().enumerate() {
        if pick(i) {
            for (s, &v) in sum.iter_mut().zip(&p.0) {
                *s += v as f64;
            }
            n += 1;
        }
    }
    (n > 200).then(|| sum.map(|s| s / n as f64))
}

#[test]
fn clinical_worlds_keep_the_plain_lesions_and_add_to_them() {
    for seed in 1..6 {
        let plain = SynthOptions {
            clinical: false,
            ..clinical(seed)
        };
        let (pw, prgb, pita) = draw_world(&plain);
        let (cw, crgb, cita) = draw_world(&clinical(seed));
        assert_eq!((prgb, pita), (crgb, cita));
        assert!(pw.look_alikes.is_none() && cw.look_alikes.is_some());
        assert!(cw.lines.len() >= pw.lines.len() && cw.scars.len() >= pw.scars.len());
        for (a, b) in pw.lines.iter().zip(&cw.lines) {
            assert_eq!(a.pts, b.pts);
        }
        for (a, b) in pw.scars.iter().zip(&cw.scars) {
            assert_eq!((a.centre, a.radius), (b.centre, b.radius));
        }
    }
    // Same options, same output.
    let (a, b) = (generate(&clinical(3)), generate(&clinical(3)));
    assert_eq!(a.sessions[0].image, b.sessions[0].image);
    assert_eq!(a.sessions[0].look_alikes, b.sessions[0].look_alikes);
}

#[test]
fn stretch_marks_are_long_scars() {
    // Some seed in the first 60 draws a group of stretch marks.
    let (world, _, _) = (1..60)
        .map(|seed| draw_world(&clinical(seed)))
        .find(|(w, _, _)| w.scars.iter().filter(|s| s.elong >= 4.0).count() >= 2)
        .expect("a world with stretch marks");
    for s in world.scars.iter().filter(|s| s.elong >= 4.0) {
        // Along its axis the label reaches elong times further than across it.
        let [ax, ay] = s.axis;
        let reach = |dir: [f64; 2]| {
            (0..2000)
                .map(|i| i as f64 * 0.5)
                .take_while(|&t| {
                    s.contains(1.0, s.centre[0] + t * dir[0], s.centre[1] + t * dir[1])
                })
                .last()
                .unwrap_or(0.0)
        };
        let (along, across) = (reach([ax, ay]), reach([-ay, ax]));
        assert!(
            along > 3.0 * across && across >= 0.5 * s.radius,
            "along {along} across {across} elong {}",
            s.elong
        );
    }
}

#[test]
fn look_alikes_are_labelled_skin_and_look_like_themselves() {
    let mut seen = [false; 5];
    for seed in 1..16 {
        let series = generate(&clinical(seed));
        let s = &series.sessions[0];
        let looks = s
            .look_alikes
            .as_ref()
            .expect("clinical sessions have a look-alike map");
        let (codes, classes) = (looks.as_raw(), s.classes.as_raw());
        for &c in codes {
            seen[c as usize] = true;
        }
        // Look-alikes are skin: wherever no line or scar lies under them, the label is 0, and
        // the lesion areas are still exact mask counts.
        assert_eq!(
            s.scar_area_px,
            classes.iter().filter(|&&v| v == CLASS_SCAR).count() as u64
        );
        let plain = |i: usize| classes[i] == CLASS_BACKGROUND && codes[i] == LOOK_NONE;
        let Some(skin) = mean_rgb(&s.image, plain) else {
            continue;
        };
        let of = |code: u8| {
            mean_rgb(&s.image, |i| {
                classes[i] == CLASS_BACKGROUND && codes[i] == code
            })
        };
        // Redness: red relative to green, as a* does.
        let redness = |c: [f64; 3]| c[0] / c[1].max(1.0);
        if let Some(acne) = of(LOOK_ACNE) {
            assert!(
                redness(acne) > redness(skin) + 0.03,
                "seed {seed}: {acne:?} vs {skin:?}"
            );
        }
        if let Some(pigment) = of(LOOK_PIGMENT) {
            assert!(
                pigment[2] < skin[2] - 3.0,
                "seed {seed}: {pigment:?} vs {skin:?}"
            );
        }
        if let Some(shine) = of(LOOK_SHINE) {
            let sum = |c: [f64; 3]| c.iter().sum::<f64>();
            assert!(sum(shine) > sum(skin), "seed {seed}: {shine:?} vs {skin:?}");
        }
        if let Some(hair) = of(LOOK_HAIR) {
            let diff: f64 = (0..3).map(|k| (hair[k] - skin[k]).abs()).sum();
            assert!(diff > 20.0, "seed {seed}: {hair:?} vs {skin:?}");
        }
    }
    assert_eq!(seen, [true; 5], "every look-alike kind shows in 15 worlds");
}

#[test]
fn plain_series_have_no_look_alike_map_and_write_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = generate(&small(3, 1));
    assert!(plain.sessions[0].look_alikes.is_none());
    write_series(&plain, dir.path()).expect("written");
    let text = std::fs::read_to_string(dir.path().join("truth.json")).expect("truth");
    assert!(!text.contains("look_alikes"));
    let out = dir.path().join("clinical");
    write_series(&generate(&clinical(2)), &out).expect("written");
    let truth: Truth =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).expect("truth"))
            .expect("parses");
    let name = truth.sessions[0].look_alikes.as_ref().expect("listed");
    let map = image::open(out.join(name))
        .expect("look-alike map")
        .to_luma8();
    assert_eq!(map.dimensions(), (512, 512));
    assert!(truth.options.clinical);
}
