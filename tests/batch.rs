//! `skintrack batch` through the real binary: a generated clinic tree with broken inputs, the
//! database and summary it leaves, agreement with `track`, re-runs, and manifest errors.

mod batch_support;

use std::path::Path;

use batch_support::*;
use skintrack::report::Report;

fn report(path: &Path) -> Report {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_clinic_tree_is_processed_and_broken_inputs_are_recorded_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let clinic = clinic(&dir.path().join("clinic"));
    let out = dir.path().join("out");
    let run = batch(&clinic.root, &out, &["--px-per-mm", "10"]);
    // Some inputs could not be used: the documented exit code 3, and the run went on.
    assert_eq!(run.status.code(), Some(3), "{}", stderr(&run));

    let conn = db(&out);
    let failed = rows(
        &conn,
        "SELECT series_key, photo, stage, error FROM photos WHERE status = 'failed' \
         ORDER BY series_key, photo",
    );
    let expect = [
        ("p01/cheek", "2026-06-01_cut.jpg", "load", "truncated JPEG"),
        (
            "p01/forehead",
            "2026-03-01_zero.jpg",
            "load",
            "empty file (0 bytes)",
        ),
        (
            "p01/forehead",
            "notes.jpg",
            "load",
            "not a recognised image format",
        ),
        (
            "p02/forehead",
            "2026-04-01_other.jpg",
            "align",
            "cannot align onto baseline",
        ),
        ("p03/cheek", "2026-01-05_s0.jpg", "load", "truncated JPEG"),
    ];
    assert_eq!(failed.len(), expect.len(), "{failed:?}");
    for (row, (series, photo, stage, reason)) in failed.iter().zip(expect) {
        assert_eq!(row[0], format!("Text({series:?})"));
        assert!(row[1].ends_with(&format!("{photo}\")")), "{row:?}");
        assert_eq!(row[2], format!("Text({stage:?})"));
        assert!(row[3].contains(reason), "{row:?} should say {reason}");
    }
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM series WHERE status = 'ok'"),
        4,
        "every series still has its report"
    );

    // The series whose first photo is broken: the next photo is the baseline, and it says so.
    let note: String = conn
        .query_row("SELECT note FROM series WHERE key = 'p03/cheek'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        note.contains("baseline is p03/cheek/2026-02-16_s1.jpg") && note.contains("2026-01-05_s0"),
        "{note}"
    );

    // The series' own report carries the same news, and lists what was left out.
    // (The photo the baseline note names is not listed again.)
    let p03 = report(&out.join("p03/cheek/report.json"));
    assert_eq!(p03.notes, std::slice::from_ref(&note));
    let p01f = report(&out.join("p01/forehead/report.json"));
    assert_eq!(p01f.notes.len(), 2, "{:?}", p01f.notes);
    assert!(
        p01f.notes
            .iter()
            .any(|n| n.starts_with("left out p01/forehead/notes.jpg (load: ")),
        "{:?}",
        p01f.notes
    );
    let p01f_html = std::fs::read_to_string(out.join("p01/forehead/report.html")).unwrap();
    assert!(
        p01f_html.contains("<h2>Notes</h2>")
            && p01f_html.contains("left out p01/forehead/notes.jpg")
    );

    // Everything else matches what `track` gives for the same photos.
    for (key, good) in &clinic.good {
        let batch_report = report(&out.join(key).join("report.json"));
        let track_out = dir.path().join("track").join(key);
        let tracked = skintrack()
            .arg("track")
            .args(good)
            .args(["--px-per-mm", "10", "--out"])
            .arg(&track_out)
            .output()
            .unwrap();
        assert!(tracked.status.success(), "{}", stderr(&tracked));
        let track_report = report(&track_out.join("report.json"));
        assert_eq!(batch_report.sessions.len(), good.len(), "{key}");
        assert_eq!(batch_report.series, *key);
        for (b, t) in batch_report.sessions.iter().zip(&track_report.sessions) {
            assert_eq!(b.input, t.input);
            assert_eq!(b.date, t.date);
            assert_eq!(
                b.alignment.as_ref().map(|a| a.later_to_baseline),
                t.alignment.as_ref().map(|a| a.later_to_baseline)
            );
        }
        assert_eq!(batch_report.metrics.len(), track_report.metrics.len());
        for (b, t) in batch_report.metrics.iter().zip(&track_report.metrics) {
            assert_eq!(b.name, t.name);
            for (bv, tv) in b.values.iter().zip(&t.values) {
                assert_eq!(bv.value.to_bits(), tv.value.to_bits(), "{key} {}", b.name);
                assert_eq!(bv.delta_pct, tv.delta_pct, "{key} {}", b.name);
            }
        }
        for file in ["report.html", "metrics.csv", "overlay_s0.png"] {
            assert!(out.join(key).join(file).is_file(), "{key}/{file}");
        }
    }

    // The summary: one row per series, the failed inputs listed with reasons.
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(summary.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 4);
    let p1f = records
        .iter()
        .find(|r| &r[col("patient")] == "p01" && &r[col("area")] == "forehead")
        .unwrap();
    assert_eq!(&p1f[col("status")], "ok");
    assert_eq!(&p1f[col("sessions")], "3");
    assert_eq!(&p1f[col("failed_inputs")], "2");
    assert_eq!(&p1f[col("first_date")], "2026-01-05");
    let batch_p1f = report(&out.join("p01/forehead/report.json"));
    let scar = batch_p1f
        .metrics
        .iter()
        .find(|m| m.name == "scar_area_pct")
        .unwrap();
    let last = scar.values.last().unwrap();
    assert_eq!(
        p1f[col("scar_area_pct_delta")].parse::<f64>().unwrap(),
        last.delta
    );
    // The last session's focus against the baseline, as its report says.
    for record in &records {
        let key = format!("{}/{}", &record[col("patient")], &record[col("area")]);
        let last = report(&out.join(&key).join("report.json"))
            .sessions
            .last()
            .and_then(|s| s.focus.clone())
            .map(|f| f.roughness_comparable.to_string())
            .unwrap_or_default();
        assert_eq!(&record[col("roughness_focus_comparable")], last, "{key}");
        // And its scar regions in one photo only (with the baseline) that its report asks to
        // check.
        let turnover = report(&out.join(&key).join("report.json"))
            .sessions
            .last()
            .and_then(|s| s.scar_turnover.clone())
            .map(|t| t.regions_to_check().to_string())
            .unwrap_or_default();
        assert_eq!(
            &record[col("scar_regions_one_photo_only")],
            turnover,
            "{key}"
        );
    }
    let html = std::fs::read_to_string(out.join("summary.html")).unwrap();
    assert!(html.contains("href=\"p01/forehead/report.html\""));
    assert!(html.contains("notes.jpg") && html.contains("empty file (0 bytes)"));
    // Nothing half-written anywhere.
    for entry in walk(&out) {
        assert!(!entry.contains(".tmp-"), "{entry}");
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn a_rerun_processes_nothing_and_a_changed_setting_recomputes_what_it_affects() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clinic");
    write_series(&root.join("a/forehead"), 21, 2, date(2026, 1, 5));
    write_series(&root.join("b/cheek"), 22, 2, date(2026, 1, 5));
    let out = dir.path().join("out");
    let outcome = |output: &std::process::Output| -> serde_json::Value {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let first = outcome(&batch(&root, &out, &["--json"]));
    assert_eq!(first["photos_processed"], 4);
    let before = metrics(&out);
    let report_before = report_without_timings(&out.join("a/forehead/report.json"));
    let work = |stage: &str| {
        count(
            &db(&out),
            &format!("SELECT COUNT(*) FROM work WHERE stage = '{stage}'"),
        )
    };
    assert_eq!((work("align"), work("segment")), (2, 4));

    // Unchanged: nothing is processed again and the results stay the same.
    let second = outcome(&batch(&root, &out, &["--json"]));
    assert_eq!(second["photos_processed"], 0, "{second}");
    assert_eq!(second["series_unchanged"], 2);
    assert_eq!((work("align"), work("segment")), (2, 4));
    assert_eq!(metrics(&out), before);
    assert_eq!(
        report_without_timings(&out.join("a/forehead/report.json")),
        report_before
    );

    // A new scale changes the model's working scale: every photo is segmented again, but the
    // alignments (which do not depend on it) are reused.
    let third = outcome(&batch(&root, &out, &["--json", "--px-per-mm", "12"]));
    assert_eq!(third["photos_processed"], 4, "{third}");
    assert_eq!((work("align"), work("segment")), (2, 8));
    let report = report_without_timings(&out.join("a/forehead/report.json"));
    assert_eq!(report["scale"]["px_per_mm"], 12.0);

    // A changed photo (here re-saved by an editor) is processed again; the rest of its series
    // comes from the database.
    let photos = skintrack::inputs::list_photos(&root.join("b/cheek")).unwrap();
    let image = image::open(&photos[1]).unwrap().to_rgb8();
    let mut resaved = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut resaved, 80)
        .encode_image(&image)
        .unwrap();
    std::fs::write(&photos[1], resaved).unwrap();
    let fourth = outcome(&batch(&root, &out, &["--json", "--px-per-mm", "12"]));
    assert_eq!(fourth["photos_processed"], 1, "{fourth}");
    assert_eq!(fourth["series_unchanged"], 1);
    let segmented = work("segment");

    // The same network with another decision rule in its manifest (here no scar hysteresis):
    // the checksum is unchanged, but every class map is made again.
    let model_dir = dir.path().join("model");
    std::fs::create_dir_all(&model_dir).unwrap();
    let onnx = model_dir.join("skinseg-v1.onnx");
    let shipped = shipped_model();
    std::fs::copy(&shipped, &onnx).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped.with_extension("json")).unwrap())
            .unwrap();
    manifest["output"]["scar_core_margin"] = serde_json::Value::Null;
    std::fs::write(onnx.with_extension("json"), manifest.to_string()).unwrap();
    let model_arg = onnx.display().to_string();
    let fifth = outcome(&batch(
        &root,
        &out,
        &["--json", "--px-per-mm", "12", "--model", &model_arg],
    ));
    assert_eq!(fifth["photos_processed"], 4, "{fifth}");
    assert_eq!(work("segment"), segmented + 4);
}

/// A clinic's series each frame a different treated area: the manifest's `roi` column gives
/// each its own, measured in its baseline's pixels, with lighting fitted on the skin around it.
#[test]
fn each_series_is_measured_inside_its_own_roi_from_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clinic");
    let a = write_series(&root.join("a"), 41, 2, date(2026, 1, 5));
    let b = write_series(&root.join("b"), 42, 2, date(2026, 1, 5));
    let manifest = root.join("manifest.csv");
    let rel = |p: &std::path::Path| p.strip_prefix(&root).unwrap().display().to_string();
    let write_manifest = |roi: &str| {
        let mut text = String::from("patient,area,date,photo,roi\n");
        // The ROI on the baseline's row only; the later row leaves it empty.
        text.push_str(&format!("a,cheek,2026-01-05,{},\"{roi}\"\n", rel(&a[0])));
        text.push_str(&format!("a,cheek,2026-02-16,{},\n", rel(&a[1])));
        text.push_str(&format!("b,cheek,2026-01-05,{},\n", rel(&b[0])));
        text.push_str(&format!("b,cheek,2026-02-16,{},\n", rel(&b[1])));
        std::fs::write(&manifest, text).unwrap();
    };
    let out = dir.path().join("out");
    let outcome = |output: &std::process::Output| -> serde_json::Value {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
        serde_json::from_slice(&output.stdout).unwrap()
    };

    write_manifest("100,60,200,180");
    outcome(&batch(&manifest, &out, &["--json", "--px-per-mm", "10"]));
    let with_roi = report(&out.join("a/cheek/report.json"));
    assert_eq!(with_roi.roi, Some([100, 60, 200, 180]));
    assert!(
        with_roi.common_region.pixels <= 200 * 180,
        "measured inside the ROI: {} px",
        with_roi.common_region.pixels
    );
    let source = |r: &Report| r.sessions[1].lighting.as_ref().unwrap().source.clone();
    assert_eq!(
        source(&with_roi),
        skintrack::series::LIGHTING_FROM_SKIN_OUTSIDE_ROI
    );
    let without = report(&out.join("b/cheek/report.json"));
    assert_eq!(without.roi, None, "the other series has no ROI");
    assert!(without.common_region.pixels > 200 * 180);
    assert_eq!(
        source(&without),
        skintrack::series::LIGHTING_FROM_MEASURED_SKIN
    );

    // A moved ROI re-measures that series from its stored class maps; the other is untouched.
    write_manifest("40,40,240,200");
    let rerun = outcome(&batch(&manifest, &out, &["--json", "--px-per-mm", "10"]));
    assert_eq!(rerun["photos_processed"], 0, "{rerun}");
    assert_eq!(rerun["series_unchanged"], 1, "{rerun}");
    let moved = report(&out.join("a/cheek/report.json"));
    assert_eq!(moved.roi, Some([40, 40, 240, 200]));
    assert_ne!(moved.common_region.pixels, with_roi.common_region.pixels);

    // An ROI outside the frame fails that series, blamed on its manifest column.
    write_manifest("100,60,5000,180");
    let run = batch(&manifest, &out, &["--px-per-mm", "10"]);
    assert_eq!(run.status.code(), Some(3), "{}", stderr(&run));
    let error: String = db(&out)
        .query_row("SELECT error FROM series WHERE key = 'a/cheek'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        error.contains("a/cheek's roi column: ROI 100,60,5000,180 is not inside the"),
        "{error}"
    );
    write_manifest("40,40,240,200");

    // A series whose first photo is unusable: the next one is the baseline, and the note says
    // that the ROI is now read in its pixels.
    let c = write_series(&root.join("c"), 44, 3, date(2026, 1, 5));
    let bytes = std::fs::read(&c[0]).unwrap();
    std::fs::write(&c[0], &bytes[..bytes.len() / 3]).unwrap();
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    for (i, day) in ["2026-01-05", "2026-02-16", "2026-03-30"]
        .iter()
        .enumerate()
    {
        text.push_str(&format!(
            "c,cheek,{day},{},\"100,60,200,180\"\n",
            rel(&c[i])
        ));
    }
    std::fs::write(&manifest, text).unwrap();
    let run = batch(&manifest, &out, &["--px-per-mm", "10"]);
    assert_eq!(run.status.code(), Some(3), "{}", stderr(&run));
    let notes = report(&out.join("c/cheek/report.json")).notes;
    let baseline = rel(&c[1]);
    assert!(
        notes[0].contains(&format!("baseline is {baseline}"))
            && notes[0].contains(&format!("the ROI is read in {baseline}'s pixels")),
        "{notes:?}"
    );
}

/// `track` on a folder whose series file gives the ROI: measured inside it, unless `--roi`
/// on the command line says otherwise.
#[test]
fn track_takes_the_series_files_roi_and_the_command_line_roi_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    let photos = write_series(&series, 43, 2, date(2026, 1, 5));
    let name = |i: usize| {
        photos[i]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    std::fs::write(
        series.join("series.csv"),
        format!(
            "date,photo,roi\n2026-01-05,{},\"100,60,200,180\"\n2026-02-16,{},\n",
            name(0),
            name(1)
        ),
    )
    .unwrap();
    let track = |extra: &[&str]| -> Report {
        let out = dir.path().join("out");
        let run = skintrack()
            .arg("track")
            .arg(&series)
            .args(["--px-per-mm", "10", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", stderr(&run));
        report(&out.join("report.json"))
    };
    assert_eq!(track(&[]).roi, Some([100, 60, 200, 180]));
    assert_eq!(
        track(&["--roi", "50,50,100,100"]).roi,
        Some([50, 50, 100, 100])
    );

    // An ROI outside the frame is blamed on where it was given: the file, not `--roi`.
    let series_file = series.join("series.csv");
    std::fs::write(
        &series_file,
        format!(
            "date,photo,roi\n2026-01-05,{},\"100,60,5000,180\"\n2026-02-16,{},\n",
            name(0),
            name(1)
        ),
    )
    .unwrap();
    let run = skintrack()
        .arg("track")
        .arg(&series)
        .args(["--out"])
        .arg(dir.path().join("out-bad"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let error = stderr(&run);
    assert!(
        error.contains(&format!(
            "{} (roi column): ROI 100,60,5000,180 is not inside the",
            series_file.display()
        )),
        "{error}"
    );
}

#[test]
fn bad_manifests_are_refused_with_the_manifest_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let photos = write_series(&dir.path().join("p1"), 31, 2, date(2026, 1, 5));
    std::fs::write(dir.path().join("outside.jpg"), b"x").unwrap();
    let clinic = dir.path().join("clinic");
    std::fs::create_dir_all(clinic.join("p1")).unwrap();
    for p in &photos {
        std::fs::copy(p, clinic.join("p1").join(p.file_name().unwrap())).unwrap();
    }
    let cases = [
        (
            "patient,date,photo\np1,2026-01-05,p1/2026-01-05_s0.jpg\n",
            "manifest.csv: missing column area in the header",
        ),
        (
            "patient,area,date,photo\np1,cheek,2026-01-05,p1/2026-01-05_s0.jpg\n\
             p1,cheek,5.1.2026,p1/2026-02-16_s1.jpg\n",
            "manifest.csv: line 3: cannot read date '5.1.2026' (expected YYYY-MM-DD)",
        ),
        (
            "patient,area,date,photo\np1,cheek,2026-01-05,p1/2026-01-05_s0.jpg\n\
             p1,cheek,2026-01-05,p1/2026-02-16_s1.jpg\n",
            "manifest.csv: line 3: duplicate date 2026-01-05 for p1/cheek (also on line 2)",
        ),
        (
            "patient,area,date,photo\np1,cheek,2026-01-05,../outside.jpg\n",
            "manifest.csv: line 2: photo path '../outside.jpg' leaves the folder",
        ),
        (
            "patient,area,date,photo,roi\np1,cheek,2026-01-05,p1/2026-01-05_s0.jpg,\"10,10,50,50\"\n\
             p1,cheek,2026-02-16,p1/2026-02-16_s1.jpg,\"12,10,50,50\"\n",
            "manifest.csv: line 3: p1/cheek: roi 12,10,50,50 differs from line 2's 10,10,50,50",
        ),
        (
            "patient,area,date,photo,roi\np1,cheek,2026-01-05,p1/2026-01-05_s0.jpg,\"10,10,0,50\"\n",
            "manifest.csv: line 2: roi '10,10,0,50': expected x,y,w,h with w and h > 0",
        ),
    ];
    for (text, want) in cases {
        let manifest = clinic.join("manifest.csv");
        std::fs::write(&manifest, text).unwrap();
        let out = dir.path().join("out");
        let run = batch(&manifest, &out, &[]);
        assert_eq!(run.status.code(), Some(1), "{text}");
        let err = stderr(&run);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("skintrack: error: "), "{err}");
        assert!(err.contains(want), "want '{want}' in '{err}'");
        assert!(
            !out.join("skintrack.db").exists(),
            "nothing written for {text}"
        );
    }
}
