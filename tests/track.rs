//! `skintrack track` on the fixture series, through the real binary: the outputs exist,
//! parse, hold every session, and the measured areas and changes agree with the truth.

mod common;

use std::ffi::OsStr;

use skintrack::report::Report;

/// How far a measured scar area may be from the truth. The shipped model draws each scar with
/// a rim of 1-2 px too many (held-out scar IoU 0.87): on this series +5,200 to +7,700 px at
/// any scar area, so +15% at baseline and up to +21% once treatment has shrunk the scars. Its
/// scar logit is left uncalibrated so as not to lose more real scars (training/calibrate.py).
const SCAR_AREA_TOLERANCE: f64 = 0.25;

fn metric<'a>(report: &'a Report, name: &str) -> &'a skintrack::report::MetricSeries {
    report
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

#[test]
fn track_measures_the_fixture_series_against_truth() {
    let dir = common::fixture_series();
    let truth = common::truth(&dir);
    let out = tempfile::tempdir().unwrap();
    let printed = common::json_report(
        [
            OsStr::new("track"),
            dir.as_os_str(),
            "--px-per-mm".as_ref(),
            "20".as_ref(),
        ],
        out.path(),
    );

    // --json prints the same report that report.json holds.
    let text = std::fs::read_to_string(out.path().join("report.json")).unwrap();
    let report: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_value(&printed).unwrap(),
        serde_json::to_value(&report).unwrap()
    );
    // The decision rule the shipped manifest applies to the logits is on record.
    assert_eq!(report.model.scar_core_margin, Some(3.0));
    assert_eq!(report.model.line_bridge_margin, Some(5.0));
    assert_eq!(report.model.class_bias.as_ref().map(Vec::len), Some(4));
    assert_eq!(report.sessions.len(), truth.sessions.len());
    for (s, t) in report.sessions.iter().zip(&truth.sessions) {
        assert_eq!(s.input, t.photo, "sessions in date order, by file name");
        assert_eq!(
            s.date.as_deref(),
            Some(t.date.format("%Y-%m-%d").to_string().as_str())
        );
        assert!(out.path().join(&s.overlay).exists());
    }
    assert!(
        report.sessions[1..]
            .iter()
            .all(|s| s.alignment.as_ref().is_some_and(|a| a.status == "ok"))
    );
    // The scars shrink under treatment but none appears or vanishes.
    for s in &report.sessions[1..] {
        let turnover = s
            .scar_turnover
            .as_ref()
            .expect("a later session's turnover");
        assert!(turnover.is_empty(), "session {}: {turnover:?}", s.index);
    }

    // Focus: session 2 was rendered with 0.79 px of defocus against the baseline's 0.04 px, the
    // others within 0.22 px. Only session 2's roughness is marked as not comparable, as softer.
    for (s, t) in report.sessions.iter().zip(&truth.sessions).skip(1) {
        let focus = s
            .focus
            .as_ref()
            .expect("a later session has a focus reading");
        let blur = t.lighting.blur_sigma_px;
        let base_blur = truth.sessions[0].lighting.blur_sigma_px;
        eprintln!(
            "session {}: blur {blur:.2} px vs {base_blur:.2}: fine detail {:.3}",
            s.index, focus.fine_detail_ratio
        );
        let much_softer = blur * blur - base_blur * base_blur > 0.3;
        assert_eq!(
            focus.roughness_comparable, !much_softer,
            "session {}",
            s.index
        );
        if much_softer {
            assert!(focus.fine_detail_ratio < 0.8, "{}", focus.fine_detail_ratio);
        }
    }
    assert!(
        !report.sessions[2]
            .focus
            .as_ref()
            .unwrap()
            .roughness_comparable
    );
    // ... and so its roughness and fine lines stay out of their trends, not out of the
    // others.
    let trend_sessions = |name: &str| metric(&report, name).trend.as_ref().unwrap().sessions;
    for reads_focus in [
        "roughness",
        "line_area_pct",
        "line_length_mm_per_cm2",
        "line_count",
    ] {
        assert_eq!(
            trend_sessions(reads_focus),
            truth.sessions.len() - 1,
            "{reads_focus}"
        );
    }
    assert_eq!(trend_sessions("scar_area_pct"), truth.sessions.len());
    // Trends against the truth: the scars shrink by 37 %, a clear trend beyond noise; the fine
    // lines fade but keep their length (+1.5 %), so their density's trend, however steady, is
    // not read as improving: it moves less than the noise floor over the series.
    let trend = |name: &str| metric(&report, name).trend.clone().unwrap();
    assert!(trend("scar_area_pct").clear_beyond_noise());
    assert!(trend("scar_area_pct").slope_per_30_days < 0.0);
    let density = trend("line_length_mm_per_cm2");
    assert_eq!(density.within_noise, Some(true), "{density:?}");
    assert!(!density.clear_beyond_noise());
    let true_length_change =
        truth.sessions.last().unwrap().line_length_px / truth.sessions[0].line_length_px - 1.0;
    assert!(true_length_change.abs() < 0.02, "{true_length_change}");
    let reading_focus: Vec<&str> = report
        .metrics
        .iter()
        .filter(|m| m.reads_focus)
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        reading_focus,
        [
            "line_area_pct",
            "line_length_mm_per_cm2",
            "line_count",
            "roughness"
        ]
    );

    // Areas: the lesions lie inside the common region, so region share × region = true area.
    let region_px = report.common_region.pixels as f64;
    let scar = metric(&report, "scar_area_pct");
    let line = metric(&report, "line_area_pct");
    for (i, t) in truth.sessions.iter().enumerate() {
        let scar_px = scar.values[i].value / 100.0 * region_px;
        let line_px = line.values[i].value / 100.0 * region_px;
        let scar_err = (scar_px - t.scar_area_px as f64) / t.scar_area_px as f64;
        let line_err = (line_px - t.line_area_px as f64) / t.line_area_px as f64;
        eprintln!(
            "session {i}: scar {scar_px:.0} px vs {} ({:+.1}%), line {line_px:.0} px vs {} ({:+.1}%)",
            t.scar_area_px,
            scar_err * 100.0,
            t.line_area_px,
            line_err * 100.0
        );
        assert!(
            scar_err.abs() < SCAR_AREA_TOLERANCE,
            "session {i}: scar area off by {:.1}%",
            scar_err * 100.0
        );
        assert!(
            line_err.abs() < 0.20,
            "session {i}: line area off by {:.1}%",
            line_err * 100.0
        );
    }
    // Changes against baseline: the true sign, within 10 percentage points. Except the
    // fine-line area of the session the focus check flags (session 2, 0.79 px of defocus): a
    // softer photo's fine lines read wider (~17 % over the truth, against 3-12 % in the sharp
    // sessions; model 2.1.0 reads its change 10.3 points short), so the report marks that
    // change "focus differs" instead of giving it a verdict.
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    // Without an ROI or a card the lighting is matched on the measured skin itself, and the
    // recovery readout says what that cannot see.
    assert!(
        report.sessions[1..]
            .iter()
            .all(|s| s.lighting.as_ref().unwrap().source == "plain_skin")
    );
    assert_eq!(html.matches("data-lighting=\"plain_skin\"").count(), 1);
    for (metric_series, true_areas) in [
        (
            scar,
            truth
                .sessions
                .iter()
                .map(|s| s.scar_area_px as f64)
                .collect::<Vec<_>>(),
        ),
        (
            line,
            truth
                .sessions
                .iter()
                .map(|s| s.line_area_px as f64)
                .collect::<Vec<_>>(),
        ),
    ] {
        for i in 1..true_areas.len() {
            let true_pct = (true_areas[i] - true_areas[0]) / true_areas[0] * 100.0;
            let measured = metric_series.values[i].delta_pct.unwrap();
            eprintln!(
                "{} session {i}: change {measured:+.1}% vs true {true_pct:+.1}%",
                metric_series.name
            );
            assert_eq!(
                measured.signum(),
                true_pct.signum(),
                "{} session {i}",
                metric_series.name
            );
            let sharp_alike = report.sessions[i]
                .focus
                .as_ref()
                .is_none_or(|f| f.roughness_comparable);
            let cell = format!(
                "data-metric=\"{}\" data-session=\"{i}\" data-ref=\"baseline\"",
                metric_series.name
            );
            let cell = &html[html.find(&cell).expect("a change cell")..];
            let cell = &cell[..cell.find("</td>").unwrap()];
            if skintrack::measure::reads_focus(&metric_series.name) && !sharp_alike {
                assert!(cell.contains(">focus differs<"), "{cell}");
                continue;
            }
            assert!(!cell.contains("focus differs"), "{cell}");
            assert!(
                (measured - true_pct).abs() < 10.0,
                "{} session {i}: {measured:.1} vs {true_pct:.1}",
                metric_series.name
            );
        }
    }
    let mm2 = metric(&report, "scar_area_mm2");
    let true_mm2 = truth.sessions[0].scar_area_mm2;
    assert!((mm2.values[0].value - true_mm2).abs() / true_mm2 < SCAR_AREA_TOLERANCE);

    // The scars' true shrinking by the last session is beyond the measured noise, in % of the
    // region and in mm² alike: the mm² floor is the % one converted over this region at 20 px/mm.
    let last = truth.sessions.len() - 1;
    let true_drop =
        1.0 - truth.sessions[last].scar_area_px as f64 / truth.sessions[0].scar_area_px as f64;
    assert!(
        true_drop > 0.2,
        "the fixture's scars shrink by {true_drop:.2}"
    );
    assert_eq!(scar.values[last].within_noise, Some(false));
    assert_eq!(mm2.values[last].within_noise, Some(false));
    let (pct_floor, mm2_floor) = (
        scar.noise_floor.as_ref().unwrap(),
        mm2.noise_floor.as_ref().unwrap(),
    );
    let converted = pct_floor.absolute / 100.0 * region_px / (20.0 * 20.0);
    assert!((mm2_floor.absolute - converted).abs() < 1e-9 * converted.max(1.0));
    assert_eq!(mm2_floor.relative_pct, pct_floor.relative_pct);

    // The fixture's fine lines fade (they thin: the true line area falls 26 %) but none appear or
    // vanish, so the line count must not move beyond its noise floor. Without bridging
    // (`line_bridge_margin`) the fading lines break into pieces and the count rises by 2.
    let true_counts: Vec<usize> = truth.sessions.iter().map(|s| s.line_count).collect();
    assert!(true_counts.iter().all(|&c| c == true_counts[0]));
    assert!(line.values[last].value < line.values[0].value * 0.85);
    let count = metric(&report, "line_count");
    for v in &count.values[1..] {
        eprintln!(
            "line count session {}: {} ({:+})",
            v.session, v.value, v.delta
        );
        assert_eq!(
            v.within_noise,
            Some(true),
            "line count, session {}",
            v.session
        );
    }

    // metrics.csv: tidy, one row per session × metric.
    let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "series,session,date,metric,value,unit,delta,delta_pct,within_noise"
    );
    assert_eq!(lines.count(), report.sessions.len() * report.metrics.len());

    // report.html: self-contained, one chart per metric, every session's image embedded.
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );
    assert!(html.matches("<svg").count() >= report.metrics.len());
    assert!(html.matches("data:image/").count() >= report.sessions.len());
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn the_same_photo_twice_is_zero_change() {
    let dir = common::fixture_series();
    let truth = common::truth(&dir);
    let photo = dir.join(&truth.sessions[0].photo);
    let out = tempfile::tempdir().unwrap();
    let report = common::json_report(
        [OsStr::new("compare"), photo.as_os_str(), photo.as_os_str()],
        out.path(),
    );
    for m in &report.metrics {
        assert!(
            m.values[1].delta.abs() < 1e-6,
            "{}: {}",
            m.name,
            m.values[1].delta
        );
        // No change is within any noise floor, and the readout says the skin is as it was.
        if m.noise_floor.is_some() {
            assert_eq!(m.values[1].within_noise, Some(true), "{}", m.name);
        }
    }
    assert_eq!(report.sessions[1].redness_recovered, Some(true));
    let focus = report.sessions[1].focus.as_ref().unwrap();
    assert_eq!(focus.fine_detail_ratio, 1.0);
    assert!(focus.roughness_comparable);
}

/// A series.csv chooses the sessions, their dates (over the photos' own), the baseline's scale
/// and per-session labels and notes; all of it reaches report.json.
#[test]
fn a_series_file_sets_dates_scale_and_notes() {
    let fixture = common::fixture_series();
    let truth = common::truth(&fixture);
    let dir = tempfile::tempdir().unwrap();
    for s in &truth.sessions[..2] {
        std::fs::copy(fixture.join(&s.photo), dir.path().join(&s.photo)).unwrap();
    }
    // Rows out of order; the dates differ from the ones in the file names.
    let csv = format!(
        "date,photo,px_per_mm,label,notes\n\
         2025-03-01,{},,session 2,\"depth 1.0 mm, 2 passes\"\n\
         2025-01-15,{},20,baseline,\n",
        truth.sessions[1].photo, truth.sessions[0].photo
    );
    std::fs::write(dir.path().join("series.csv"), csv).unwrap();
    let out = tempfile::tempdir().unwrap();
    let series = dir.path().join("series.csv");
    let report = common::json_report([OsStr::new("track"), series.as_os_str()], out.path());
    assert_eq!(report.scale.px_per_mm, Some(20.0));
    assert_eq!(report.scale.source, "series_file");
    let s = &report.sessions;
    assert_eq!(s[0].input, truth.sessions[0].photo);
    assert_eq!(s[0].date.as_deref(), Some("2025-01-15"));
    assert_eq!(s[1].date.as_deref(), Some("2025-03-01"));
    assert!(s.iter().all(|s| s.date_source == "series_file"));
    assert_eq!(s[0].label.as_deref(), Some("baseline"));
    assert_eq!(s[0].notes, None);
    assert_eq!(s[1].notes.as_deref(), Some("depth 1.0 mm, 2 passes"));
    // The scale from the file is used like --px-per-mm: scar area in mm² against the truth.
    let mm2 = metric(&report, "scar_area_mm2");
    for i in 0..2 {
        let true_mm2 = truth.sessions[i].scar_area_mm2;
        let err = (mm2.values[i].value - true_mm2) / true_mm2;
        assert!(
            err.abs() < SCAR_AREA_TOLERANCE,
            "session {i}: scar mm² off by {err:.3}"
        );
    }
}

/// A two-session synthetic series (1200×900 at 12 px/mm) with an 8 mm calibration target.
fn series_with_target(seed: u64, unchanged: bool) -> tempfile::TempDir {
    use skintrack::synth::{SynthOptions, generate, write_series};
    let dir = tempfile::tempdir().unwrap();
    let opts = SynthOptions {
        seed,
        sessions: 2,
        width: 1200,
        height: 900,
        px_per_mm: 12.0,
        target_mm: Some(8.0),
        unchanged,
        ..Default::default()
    };
    write_series(&generate(&opts), dir.path()).unwrap();
    dir
}

/// A calibration target in the frame gives the scale when none is given, and is not measured.
#[test]
fn a_calibration_target_gives_the_scale() {
    let dir = series_with_target(31, false);
    let truth = common::truth(dir.path());
    let out = tempfile::tempdir().unwrap();
    let report = common::json_report(
        [
            OsStr::new("track"),
            dir.path().as_os_str(),
            "--target-mm".as_ref(),
            "8".as_ref(),
        ],
        out.path(),
    );
    assert_eq!(report.scale.source, "calibration_target");
    let ppm = report.scale.px_per_mm.unwrap();
    assert!((ppm - 12.0).abs() / 12.0 < 0.01, "px/mm {ppm}");
    let target = report.scale.target.as_ref().unwrap();
    // Placed in the middle of the lesion-free band at the left edge (18 % of the width).
    assert!(
        (target.centre[0] - 0.09 * 1200.0).abs() < 2.0,
        "{:?}",
        target.centre
    );
    assert!(
        (target.centre[1] - 449.5).abs() < 2.0,
        "{:?}",
        target.centre
    );
    // The black disc is not a scar: areas in mm² agree with the truth.
    let mm2 = metric(&report, "scar_area_mm2");
    for (i, t) in truth.sessions.iter().enumerate() {
        let err = (mm2.values[i].value - t.scar_area_mm2) / t.scar_area_mm2;
        eprintln!(
            "session {i}: scar {:.2} mm² vs {:.2}",
            mm2.values[i].value, t.scar_area_mm2
        );
        assert!(
            err.abs() < SCAR_AREA_TOLERANCE,
            "session {i}: scar mm² off by {err:.3}"
        );
    }
}

/// A calibration target's white label is a neutral reference: each session's white balance is
/// matched on it, so redness spread over all of the measured skin (no ROI, no card) is seen,
/// through a white-balance change that the label sees too and corrects. The later photo gets
/// a cool cast everywhere (R × 0.95, B × 1.05), and its skin, away from the label, is
/// reddened (R × 1.10, G and B × 0.96); the same photo with the cast alone stays within noise.
#[test]
fn the_calibration_label_is_the_lighting_reference_so_even_redness_is_seen() {
    let dir = series_with_target(32, true);
    let truth = common::truth(dir.path());
    let baseline = dir.path().join(&truth.sessions[0].photo);
    let later = image::open(dir.path().join(&truth.sessions[1].photo))
        .unwrap()
        .to_rgb8();
    let target = skintrack::calibration::find_target(&later, 8.0).expect("target in the photo");
    let label_reach = target.exclusion_radius_px();
    let edit = |redden: bool| {
        let mut image = later.clone();
        for (x, y, p) in image.enumerate_pixels_mut() {
            let [mut r, mut g, mut b] = p.0.map(f64::from);
            (r, b) = (r * 0.95, b * 1.05);
            let on_label =
                (x as f64 - target.centre.0).hypot(y as f64 - target.centre.1) <= label_reach;
            if redden && !on_label {
                (r, g, b) = (r * 1.10, g * 0.96, b * 0.96);
            }
            p.0 = [r, g, b].map(|v| v.round().clamp(0.0, 255.0) as u8);
        }
        let path = dir
            .path()
            .join(if redden { "reddened.png" } else { "cast.png" });
        image.save(&path).unwrap();
        path
    };
    let compare = |later: &std::path::Path| {
        let out = tempfile::tempdir().unwrap();
        let report = common::json_report(
            [
                OsStr::new("compare"),
                baseline.as_os_str(),
                later.as_os_str(),
                "--target-mm".as_ref(),
                "8".as_ref(),
            ],
            out.path(),
        );
        let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
        (report, html)
    };

    let (report, html) = compare(&edit(true));
    let lighting = report.sessions[1].lighting.as_ref().unwrap();
    assert_eq!(lighting.source, "calibration_label");
    let redness = metric(&report, "redness_a").values[1].clone();
    eprintln!("reddened: redness_a change {:+.2}", redness.delta);
    assert!(redness.delta > 3.0, "{redness:?}");
    assert_eq!(redness.within_noise, Some(false));
    assert_eq!(report.sessions[1].redness_recovered, Some(false));
    assert!(html.contains(" · on the calibration label<"));
    assert!(!html.contains("data-lighting=\"plain_skin\""));

    let (cast, _) = compare(&edit(false));
    let redness = metric(&cast, "redness_a").values[1].clone();
    eprintln!("cast only: redness_a change {:+.2}", redness.delta);
    assert_eq!(redness.within_noise, Some(true), "{redness:?}");
    assert_eq!(cast.sessions[1].redness_recovered, Some(true));
}

/// With `--roi` (the treated area) the colour of each later session is matched on the skin
/// outside it, so an even reddening of the treated area is measured, not taken for a change of
/// light (matched on the treated skin itself, it would be matched away and the skin read
/// "recovered"). The later photo's left 40 % is reddened (R × 1.10, G and B × 0.96); the ROI
/// lies inside that part. The same pair without the reddening stays within noise.
#[test]
fn redness_inside_the_roi_is_measured_against_untreated_skin_outside_it() {
    let fixture = common::fixture_series();
    let truth = common::truth(&fixture);
    let dir = tempfile::tempdir().unwrap();
    let baseline = fixture.join(&truth.sessions[0].photo);
    let later = fixture.join(&truth.sessions[1].photo);
    let reddened = dir.path().join("reddened.png");
    let mut image = image::open(&later).unwrap().to_rgb8();
    let red_width = image.width() * 2 / 5;
    for (x, _, p) in image.enumerate_pixels_mut() {
        if x < red_width {
            let [r, g, b] = p.0.map(f64::from);
            p.0 = [r * 1.10, g * 0.96, b * 0.96].map(|v| v.round().min(255.0) as u8);
        }
    }
    image.save(&reddened).unwrap();

    let redness_of = |later: &std::path::Path| {
        let out = tempfile::tempdir().unwrap();
        let report = common::json_report(
            [
                OsStr::new("compare"),
                baseline.as_os_str(),
                later.as_os_str(),
                "--px-per-mm".as_ref(),
                "20".as_ref(),
                "--roi".as_ref(),
                "200,300,360,600".as_ref(),
            ],
            out.path(),
        );
        let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
        (report, html)
    };
    let (report, html) = redness_of(&reddened);
    let lighting = report.sessions[1].lighting.as_ref().unwrap();
    assert_eq!(lighting.source, "skin_outside_roi");
    let redness = metric(&report, "redness_a").values[1].clone();
    eprintln!("reddened: redness_a change {:+.2}", redness.delta);
    assert!(redness.delta > 3.0, "{redness:?}");
    assert_eq!(redness.within_noise, Some(false));
    assert_eq!(report.sessions[1].redness_recovered, Some(false));
    assert!(html.contains("Not yet recovered"));
    assert!(!html.contains("data-lighting=\"plain_skin\""));
    assert!(html.contains(" · on skin outside the ROI<"));

    let (unchanged, _) = redness_of(&later);
    let redness = metric(&unchanged, "redness_a").values[1].clone();
    eprintln!("as taken: redness_a change {:+.2}", redness.delta);
    assert_eq!(redness.within_noise, Some(true), "{redness:?}");
    assert_eq!(unchanged.sessions[1].redness_recovered, Some(true));
}

/// A scar pasted into one photo of a pair, from elsewhere in the same photo onto plain skin, as
/// many times as it takes to cover more than scar area's noise floor (fewer would read within
/// noise, and the report rightly raises no flag for them): the later session names them as
/// regions the baseline does not have (their area in mm² near the pasted scars' true area), or,
/// pasted into the baseline, as the baseline's that the later session does not have. (Unpasted, the series has neither:
/// `track_measures_the_fixture_series_against_truth`.)
#[test]
fn a_scar_in_one_photo_only_is_named_in_the_report() {
    use imageproc::region_labelling::{Connectivity, connected_components};
    use skintrack::definitions::CLASS_SCAR;
    use skintrack::measure::scar_turnover::TurnoverRegion;
    use skintrack::report::{APPEARED_COLOUR, VANISHED_COLOUR};

    let dir = common::fixture_series();
    let truth = common::truth(&dir);
    let session = |i: usize| &truth.sessions[i];
    let [baseline_photo, later_photo] = [0, 1].map(|i| dir.join(&session(i).photo));

    // The largest true scar of session 1, and a lesion-free square of plain skin to paste it to.
    let classes = image::open(dir.join(&session(1).classes))
        .unwrap()
        .to_luma8();
    let scars = image::GrayImage::from_fn(classes.width(), classes.height(), |x, y| {
        image::Luma([u8::from(classes.get_pixel(x, y).0[0] == CLASS_SCAR) * 255])
    });
    let labels = connected_components(&scars, Connectivity::Eight, image::Luma([0u8]));
    let mut sizes = std::collections::HashMap::<u32, u64>::new();
    for l in labels.iter().filter(|&&l| l > 0) {
        *sizes.entry(*l).or_default() += 1;
    }
    let bbox = |label: u32| {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for (x, y, l) in labels.enumerate_pixels() {
            if l.0[0] == label {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
        (x0, y0, x1, y1)
    };
    // A patch around the scar, 8 px wide of plain skin, that holds nothing else.
    let margin = 8;
    let clean = |label: u32, (x0, y0, x1, y1): (u32, u32, u32, u32)| {
        x0 >= margin
            && y0 >= margin
            && x1 + margin < classes.width()
            && y1 + margin < classes.height()
            && (y0 - margin..=y1 + margin).all(|y| {
                (x0 - margin..=x1 + margin).all(|x| {
                    labels.get_pixel(x, y).0[0] == label || classes.get_pixel(x, y).0[0] == 0
                })
            })
    };
    let mut by_size: Vec<(u32, u64)> = sizes.into_iter().collect();
    by_size.sort_by_key(|&(l, s)| (std::cmp::Reverse(s), l));
    let (scar_px, (x0, y0, x1, y1)) = by_size
        .iter()
        .map(|&(l, s)| (s, bbox(l), l))
        .find(|&(_, b, l)| clean(l, b))
        .map(|(s, b, _)| (s, b))
        .expect("a scar with plain skin around it");
    let (sx, sy) = (x0 - margin, y0 - margin);
    let (w, h) = (x1 - x0 + 1 + 2 * margin, y1 - y0 + 1 + 2 * margin);
    let plain_around = |tx: u32, ty: u32| {
        let reach = 40;
        (ty.saturating_sub(reach)..(ty + h + reach).min(classes.height())).all(|y| {
            (tx.saturating_sub(reach)..(tx + w + reach).min(classes.width()))
                .all(|x| classes.get_pixel(x, y).0[0] == 0)
        })
    };
    // How many copies: together 1.5 times the floor's half-width at the baseline's scar area.
    let frame_px = f64::from(classes.width() * classes.height());
    let floor = skintrack::series::noise_floor("scar_area_pct", None, 0).unwrap();
    let baseline_scar_pct = 100.0 * session(0).scar_area_px as f64 / frame_px;
    let copy_pct = 100.0 * scar_px as f64 / frame_px;
    let copies = (1.5 * floor.half_width(baseline_scar_pct) / copy_pct).ceil() as usize;
    let edge = 150;
    let mut places: Vec<(u32, u32)> = Vec::new();
    for ty in (edge..classes.height() - h - edge).step_by(10) {
        for tx in (edge..classes.width() - w - edge).step_by(10) {
            let apart =
                |&(px, py): &(u32, u32)| tx.abs_diff(px) > w + 20 || ty.abs_diff(py) > h + 20;
            if places.len() < copies && plain_around(tx, ty) && places.iter().all(apart) {
                places.push((tx, ty));
            }
        }
    }
    assert_eq!(places.len(), copies, "plain skin for {copies} pasted scars");
    // Pasted with a feathered edge and brought to the light of where it goes (the frame has a
    // lighting gradient): a hard-edged square would be a seam the model reads as part of it.
    let own_scar = image::GrayImage::from_fn(w, h, |x, y| {
        image::Luma([u8::from(labels.get_pixel(sx + x, sy + y).0[0] != 0) * 255])
    });
    let distance = imageproc::distance_transform::distance_transform(
        &own_scar,
        imageproc::distance_transform::Norm::L2,
    );
    let alpha = |x: u32, y: u32| {
        let d = distance.get_pixel(x, y).0[0] as f64;
        ((margin as f64 - d) / (margin as f64 - 3.0)).clamp(0.0, 1.0)
    };
    let paste = |from: &std::path::Path, to: &std::path::Path| {
        let mut photo = image::open(from).unwrap().to_rgb8();
        let source = image::open(&later_photo).unwrap().to_rgb8();
        // Per channel, the plain skin at the patch's rim there against here.
        let rim_mean = |img: &image::RgbImage, ox: u32, oy: u32, c: usize| {
            let values: Vec<f64> = (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .filter(|&(x, y)| distance.get_pixel(x, y).0[0] as u32 >= margin - 2)
                .map(|(x, y)| img.get_pixel(ox + x, oy + y).0[c] as f64)
                .collect();
            values.iter().sum::<f64>() / values.len() as f64
        };
        for &(tx, ty) in &places {
            let gain: [f64; 3] =
                std::array::from_fn(|c| rim_mean(&photo, tx, ty, c) / rim_mean(&source, sx, sy, c));
            for y in 0..h {
                for x in 0..w {
                    let a = alpha(x, y);
                    let (from_px, to_px) = (
                        source.get_pixel(sx + x, sy + y).0,
                        photo.get_pixel(tx + x, ty + y).0,
                    );
                    let mixed = std::array::from_fn(|c| {
                        (a * from_px[c] as f64 * gain[c] + (1.0 - a) * to_px[c] as f64)
                            .round()
                            .clamp(0.0, 255.0) as u8
                    });
                    photo.put_pixel(tx + x, ty + y, image::Rgb(mixed));
                }
            }
        }
        photo.save(to).unwrap();
    };

    let pair = |pasted_into_later: bool| {
        let tmp = tempfile::tempdir().unwrap();
        let names = [0, 1].map(|i| tmp.path().join(&session(i).photo));
        std::fs::copy(&baseline_photo, &names[0]).unwrap();
        std::fs::copy(&later_photo, &names[1]).unwrap();
        let target = if pasted_into_later { 1 } else { 0 };
        let original = [&baseline_photo, &later_photo][target];
        paste(original, &names[target]);
        let out = tmp.path().join("out");
        let report = common::json_report(
            [
                OsStr::new("track"),
                tmp.path().as_os_str(),
                "--px-per-mm".as_ref(),
                "20".as_ref(),
            ],
            &out,
        );
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        let overlay = image::open(out.join(&report.sessions[1].overlay))
            .unwrap()
            .to_rgb8();
        (
            report.sessions[1].scar_turnover.clone().unwrap(),
            html,
            overlay,
        )
    };
    // The pasted patches' centres in their photo, and how far a located region may lie from one:
    // a third of its radius (the model reads each copy a little differently, under its own
    // light, and a lobe more or less moves the region's box; copies lie two radii apart).
    let pasted: Vec<(f64, f64)> = places
        .iter()
        .map(|&(tx, ty)| (tx as f64 + w as f64 / 2.0, ty as f64 + h as f64 / 2.0))
        .collect();
    let near = |region: &TurnoverRegion, (x, y): (f64, f64)| {
        (region.centre[0] - x).hypot(region.centre[1] - y) < region.radius_px / 3.0
    };
    // Every centre has a region of the right kind located at it.
    let located = |regions: &[TurnoverRegion], appeared: bool, centres: &[(f64, f64)]| {
        centres
            .iter()
            .all(|&c| regions.iter().any(|r| r.appeared == appeared && near(r, c)))
    };
    // The session's overlay rings the regions in `colour`: (pixels within reach of a ring, of
    // the colour at least `min_per_region` near each region, and none far from all of them).
    let ringed = |overlay: &image::RgbImage, regions: &[TurnoverRegion], colour: [u8; 3]| {
        let mut near_each = vec![0usize; regions.len()];
        let mut outside = 0;
        for (x, y, p) in overlay.enumerate_pixels() {
            if p.0 != colour {
                continue;
            }
            let mut any = false;
            for (count, region) in near_each.iter_mut().zip(regions) {
                let [cx, cy] = region.centre;
                if (x as f64 - cx).hypot(y as f64 - cy) <= region.radius_px + 20.0 {
                    *count += 1;
                    any = true;
                }
            }
            outside += usize::from(!any);
        }
        (near_each.into_iter().min().unwrap_or(0), outside)
    };

    // Session 1's pixels are 1/|det| of a baseline pixel's area (its view is a little closer).
    let h_later = session(1).later_to_baseline.0;
    let det = (h_later[0][0] * h_later[1][1] - h_later[0][1] * h_later[1][0]).abs();
    let true_mm2 = |px: f64| px / (truth.px_per_mm * truth.px_per_mm);

    let (appeared, html, overlay) = pair(true);
    eprintln!("{copies} pasted into the later photo: {appeared:?}");
    assert!(appeared.needs_check(), "beyond the floor: {appeared:?}");
    assert_eq!(
        (appeared.appeared_regions, appeared.vanished_regions),
        (copies, 0)
    );
    let expected = true_mm2(copies as f64 * scar_px as f64 * det);
    let measured = appeared.appeared_area_mm2.unwrap();
    assert!(
        (measured / expected - 1.0).abs() < SCAR_AREA_TOLERANCE,
        "{measured} mm² against {expected} mm²"
    );
    let named = match copies {
        1 => "1 scar region not seen at baseline".to_string(),
        n => format!("{n} scar regions not seen at baseline"),
    };
    assert!(html.contains(&named), "the page names them: {named}");
    // Located where they were pasted (session 1's pixels mapped into the baseline frame), and
    // ringed.
    let mapped: Vec<(f64, f64)> = pasted
        .iter()
        .map(|&(x, y)| {
            (
                h_later[0][0] * x + h_later[0][1] * y + h_later[0][2],
                h_later[1][0] * x + h_later[1][1] * y + h_later[1][2],
            )
        })
        .collect();
    assert!(
        located(&appeared.regions, true, &mapped),
        "{:?} against {mapped:?}",
        appeared.regions
    );
    let (inside, outside) = ringed(&overlay, &appeared.regions, APPEARED_COLOUR);
    assert!(
        inside > 100 && outside == 0,
        "ring pixels {inside} at the least ringed region, elsewhere {outside}"
    );

    let (vanished, _, overlay) = pair(false);
    eprintln!("{copies} pasted into the baseline: {vanished:?}");
    assert!(vanished.needs_check(), "beyond the floor: {vanished:?}");
    assert_eq!(
        (vanished.appeared_regions, vanished.vanished_regions),
        (0, copies)
    );
    // In the baseline the scars are at the baseline's own scale, and where they were pasted.
    let expected = true_mm2(copies as f64 * scar_px as f64);
    let measured = vanished.vanished_area_mm2.unwrap();
    assert!(
        (measured / expected - 1.0).abs() < SCAR_AREA_TOLERANCE,
        "{measured} mm² against {expected} mm²"
    );
    assert!(
        located(&vanished.regions, false, &pasted),
        "{:?} against {pasted:?}",
        vanished.regions
    );
    // (White is not the ring's alone, so only the amber ring is checked for absence elsewhere.)
    let (inside, _) = ringed(&overlay, &vanished.regions, VANISHED_COLOUR);
    assert!(
        inside > 100,
        "ring pixels {inside} at the least ringed region"
    );
}
