//! Shared helpers of the integration tests: fixture paths and their truth.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
