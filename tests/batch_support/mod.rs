//! Shared helpers of the batch tests: a small generated clinic with broken inputs, running the
//! binary, and reading the batch database back.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use chrono::NaiveDate;
use skintrack::synth::{self, SynthOptions};

/// Photo size of the generated series: small, so the tests stay quick on 2 cores.
pub const WIDTH: u32 = 400;
pub const HEIGHT: u32 = 300;
/// Scale of the generated series.
pub const PX_PER_MM: f64 = 10.0;

/// The shipped model's ONNX file (its manifest beside it).
pub fn shipped_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/skinseg-v1.onnx")
}

pub fn skintrack() -> Command {
    let mut cmd = Command::cargo_bin("skintrack").unwrap();
    cmd.env("SKINTRACK_MODEL", shipped_model());
    cmd
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn jpeg(image: &image::RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(image)
        .unwrap();
    bytes
}

/// Writes a synthetic series' photos (`YYYY-MM-DD_sK.jpg`) into `dir`; returns their paths in
/// session order.
pub fn write_series(dir: &Path, seed: u64, sessions: usize, start: NaiveDate) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let opts = SynthOptions {
        seed,
        sessions,
        width: WIDTH,
        height: HEIGHT,
        px_per_mm: PX_PER_MM,
        start_date: start,
        ..Default::default()
    };
    let series = synth::generate(&opts);
    let truth = synth::Truth::of(&series);
    series
        .sessions
        .iter()
        .zip(&truth.sessions)
        .map(|(s, t)| {
            let path = dir.join(&t.photo);
            std::fs::write(&path, jpeg(&s.image)).unwrap();
            path
        })
        .collect()
}

/// A photo of unrelated skin (another synthetic subject).
pub fn unrelated_photo() -> Vec<u8> {
    let series = synth::generate(&SynthOptions {
        seed: 9_999,
        sessions: 1,
        width: WIDTH,
        height: HEIGHT,
        px_per_mm: PX_PER_MM * 1.7,
        ..Default::default()
    });
    jpeg(&series.sessions[0].image)
}

/// The good photos of each series of [`clinic`], by `patient/area`.
pub struct Clinic {
    pub root: PathBuf,
    pub good: Vec<(String, Vec<PathBuf>)>,
}

/// A clinic tree: 3 patients, areas `forehead` and `cheek`, 2–3 good sessions per series, and
/// broken inputs: a zero-byte file, a text file named .jpg, a truncated JPEG, an unrelated
/// photo, and (p03/cheek) a truncated baseline.
pub fn clinic(root: &Path) -> Clinic {
    let start = date(2026, 1, 5);
    let p1f = root.join("p01/forehead");
    let p1c = root.join("p01/cheek");
    let p2f = root.join("p02/forehead");
    let p3c = root.join("p03/cheek");
    let good_p1f = write_series(&p1f, 11, 3, start);
    std::fs::write(p1f.join("2026-03-01_zero.jpg"), b"").unwrap();
    std::fs::write(p1f.join("notes.jpg"), b"this is not a photo\n").unwrap();

    let good_p1c = write_series(&p1c, 12, 2, start);
    let whole = std::fs::read(&good_p1c[1]).unwrap();
    std::fs::write(p1c.join("2026-06-01_cut.jpg"), &whole[..whole.len() / 2]).unwrap();

    let good_p2f = write_series(&p2f, 13, 2, start);
    std::fs::write(p2f.join("2026-04-01_other.jpg"), unrelated_photo()).unwrap();

    let mut all_p3c = write_series(&p3c, 14, 3, start);
    let first = std::fs::read(&all_p3c[0]).unwrap();
    std::fs::write(&all_p3c[0], &first[..first.len() * 2 / 3]).unwrap();
    let good_p3c = all_p3c.split_off(1);
    Clinic {
        root: root.to_path_buf(),
        good: vec![
            ("p01/cheek".into(), good_p1c),
            ("p01/forehead".into(), good_p1f),
            ("p02/forehead".into(), good_p2f),
            ("p03/cheek".into(), good_p3c),
        ],
    }
}

/// Runs `skintrack batch INPUT --out OUT --quiet` plus `extra`.
pub fn batch(input: &Path, out: &Path, extra: &[&str]) -> Output {
    skintrack()
        .arg("batch")
        .arg(input)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn db(out: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(out.join("skintrack.db")).unwrap()
}

/// Rows of a query as text, for comparing two databases.
pub fn rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<String>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| {
                let v: rusqlite::types::Value = r.get(i)?;
                Ok(format!("{v:?}"))
            })
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every metric of every series, without run ids or times.
pub fn metrics(out: &Path) -> Vec<Vec<String>> {
    rows(
        &db(out),
        "SELECT series_key, session, photo, date, metric, value, unit, delta, delta_pct \
         FROM metrics ORDER BY series_key, session, metric",
    )
}

/// What a series report says, without the stage timings (wall time differs run to run).
pub fn report_without_timings(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("timings_ms");
    value
}
