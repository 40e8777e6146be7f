//! Bad input through the real binary: exit code 1, one line on stderr naming the file and
//! the reason, no panic, no report written.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs `skintrack ARGS`, expects exit 1 and returns the stderr line.
fn fails(args: &[&str]) -> String {
    let out = Command::cargo_bin("skintrack")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "args {args:?}: stderr {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    stderr
}

#[test]
fn every_bad_photo_is_refused_with_its_name_and_reason() {
    let out = tempfile::tempdir().unwrap();
    let cases = [
        ("empty.jpg", "empty file"),
        ("truncated.jpg", "truncated"),
        ("not_an_image.jpg", "not a recognised image format"),
        ("missing.jpg", "no such file"),
    ];
    for (name, reason) in cases {
        let path = fixtures().join("bad").join(name);
        let stderr = fails(&[
            "analyze",
            path.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ]);
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(
            stderr.contains(reason),
            "{name}: expected '{reason}' in {stderr}"
        );
    }
    assert!(
        !out.path().join("report.json").exists(),
        "no report for a refused photo"
    );
}

#[test]
fn a_directory_is_not_a_photo() {
    let out = tempfile::tempdir().unwrap();
    let dir = fixtures().join("bad");
    let stderr = fails(&[
        "compare",
        dir.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(stderr.contains("is a directory"), "{stderr}");
}

#[test]
fn an_unrelated_pair_is_refused_not_measured() {
    let out = tempfile::tempdir().unwrap();
    let baseline = first_photo(&fixtures().join("series"));
    let stranger = first_photo(&fixtures().join("unrelated"));
    let stderr = fails(&[
        "compare",
        baseline.to_str().unwrap(),
        stranger.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(stderr.contains("cannot align"), "{stderr}");
    assert!(
        stderr.contains(stranger.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
    assert!(!out.path().join("report.json").exists());
}

#[test]
fn a_model_with_a_wrong_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let onnx = dir.path().join("skinseg-v1.onnx");
    let mut bytes = std::fs::read(models.join("skinseg-v1.onnx")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&onnx, bytes).unwrap();
    std::fs::copy(
        models.join("skinseg-v1.json"),
        dir.path().join("skinseg-v1.json"),
    )
    .unwrap();
    let stderr = fails(&["model", "info", onnx.to_str().unwrap()]);
    assert!(stderr.contains("sha256 mismatch"), "{stderr}");
    assert!(stderr.contains("skinseg-v1.onnx"), "{stderr}");
}

fn first_photo(dir: &Path) -> PathBuf {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    photos.remove(0)
}
