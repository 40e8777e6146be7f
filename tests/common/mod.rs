//! Shared helpers of the integration tests: fixture paths and their truth, and running the
//! real binary for its report.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use skintrack::report::Report;
use skintrack::synth::Truth;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_series() -> PathBuf {
    root().join("fixtures").join("series")
}

pub fn shipped_model() -> PathBuf {
    root().join("models").join("skinseg-v1.onnx")
}

/// The truth of a synthetic series folder.
pub fn truth(dir: &Path) -> Truth {
    let text = std::fs::read_to_string(dir.join("truth.json")).expect("truth.json");
    serde_json::from_str(&text).expect("truth.json parses")
}

/// The photos of a truth record, in session order.
pub fn photos(dir: &Path, truth: &Truth) -> Vec<PathBuf> {
    truth.sessions.iter().map(|s| dir.join(&s.photo)).collect()
}

/// Runs `skintrack ARGS --json --out OUT` (the real binary), asserts that it succeeded (its
/// stderr as the message) and gives the report it printed.
pub fn json_report<I, S>(args: I, out: &Path) -> Report
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let run = Command::cargo_bin("skintrack")
        .unwrap()
        .args(args)
        .args(["--json", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

/// Real photos for evaluation (never copied into the repository). `SKINTRACK_REALDATA`
/// overrides the default `../shared/realdata` beside the crate; absent, the caller skips.
pub fn realdata() -> Option<PathBuf> {
    let dir = std::env::var_os("SKINTRACK_REALDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/realdata"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no real photos at {}", dir.display());
        None
    }
}
