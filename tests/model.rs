//! The shipped model: its checksum matches the manifest, and tract reproduces the reference
//! output saved at export time (by onnxruntime) on a stored input tile. `skintrack model
//! check` passes it and refuses variants that disagree with their manifest.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use skintrack::segment::{self, Model, read_manifest, sha256_hex};

#[test]
fn shipped_model_matches_its_manifest_checksum() {
    let onnx = common::shipped_model();
    let manifest = read_manifest(&segment::manifest_path(&onnx)).unwrap();
    assert_eq!(sha256_hex(&std::fs::read(&onnx).unwrap()), manifest.sha256);
    assert!(
        std::fs::metadata(&onnx).unwrap().len() < 5 << 20,
        "model must stay under 5 MB"
    );
}

#[test]
fn tract_reproduces_the_reference_output() {
    let onnx = common::shipped_model();
    let manifest = read_manifest(&segment::manifest_path(&onnx)).unwrap();
    let reference = manifest
        .reference
        .clone()
        .expect("manifest names a reference tile");
    let [n, c, h, w] = reference.shape;
    assert_eq!((n, c, h), (1, 3, w));
    let dir = onnx.parent().unwrap();
    let tile = image::open(dir.join(&reference.input_png))
        .unwrap()
        .to_rgb8();
    assert_eq!(tile.dimensions(), (w as u32, h as u32));
    let expected: Vec<f32> = std::fs::read(dir.join(&reference.output_f32le))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(expected.len(), manifest.output.classes.len() * h * w);

    let model = Model::load_with_tile(&onnx, manifest.clone(), w).unwrap();
    let got = model.logits_for_tile(&tile).unwrap();
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-3,
        "largest difference to the reference output: {worst}"
    );
}

// `skintrack model check`, through the real binary.

/// Runs `skintrack model check PATH`: (exit code, stdout, stderr).
fn model_check(onnx: &Path) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("skintrack")
        .unwrap()
        .args(["model", "check"])
        .arg(onnx)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of the shipped model as `dir/custom.onnx` with its reference files, the manifest
/// edited by `edit_manifest` and the ONNX bytes by `edit_onnx` (the manifest's sha256 then
/// follows the edited bytes, so that the check gets past the checksum).
fn custom_model(
    dir: &Path,
    edit_manifest: impl FnOnce(&mut serde_json::Value),
    edit_onnx: impl FnOnce(&mut Vec<u8>),
) -> PathBuf {
    let source = common::shipped_model();
    let source_dir = source.parent().unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.with_extension("json")).unwrap())
            .unwrap();
    for key in ["input_png", "output_f32le"] {
        let name = manifest["reference"][key].as_str().unwrap().to_string();
        std::fs::copy(source_dir.join(&name), dir.join(&name)).unwrap();
    }
    let mut bytes = std::fs::read(&source).unwrap();
    edit_onnx(&mut bytes);
    let onnx = dir.join("custom.onnx");
    std::fs::write(&onnx, &bytes).unwrap();
    manifest["file"] = "custom.onnx".into();
    manifest["sha256"] = sha256_hex(&bytes).into();
    edit_manifest(&mut manifest);
    std::fs::write(
        onnx.with_extension("json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    onnx
}

/// `model check` of a bad variant: exit 1, one line on stderr naming the file and saying
/// `reason`.
fn check_refuses(onnx: &Path, file: &Path, reason: &str) {
    let (code, stdout, stderr) = model_check(onnx);
    assert_eq!(code, Some(1), "stdout {stdout} stderr {stderr}");
    assert!(!stdout.contains("OK"), "{stdout}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "names {}: {stderr}",
        file.display()
    );
    assert!(stderr.contains(reason), "expected '{reason}' in: {stderr}");
}

#[test]
fn model_check_passes_the_shipped_model() {
    let (code, stdout, stderr) = model_check(&common::shipped_model());
    assert_eq!(code, Some(0), "stderr {stderr}");
    assert!(stdout.starts_with("model check: OK"), "{stdout}");
    assert!(stdout.contains("(verified)"), "{stdout}");
    assert!(stdout.contains("[1, 4, 256, 256] per tile"), "{stdout}");
    assert!(stdout.contains("reproduced"), "{stdout}");
    assert!(stdout.contains("ms for one tile"), "{stdout}");
}

#[test]
fn model_check_passes_a_renamed_copy() {
    // Any NAME.onnx + NAME.json in the manifest format, anywhere.
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(dir.path(), |_| {}, |_| {});
    let (code, stdout, stderr) = model_check(&onnx);
    assert_eq!(code, Some(0), "stderr {stderr}");
    assert!(stdout.contains("custom.onnx"), "{stdout}");
}

#[test]
fn model_check_refuses_a_wrong_class_count() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(
        dir.path(),
        |m| {
            m["output"]["classes"] = serde_json::json!(["background", "fine_line", "scar"]);
            m["output"]["class_bias"] = serde_json::json!([0.0, -1.6, 0.0]);
        },
        |_| {},
    );
    check_refuses(&onnx, &onnx, "has 4 classes");
    check_refuses(&onnx, &onnx, "manifest lists 3");
}

#[test]
fn model_check_refuses_a_wrong_input_name() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(dir.path(), |m| m["input"]["name"] = "pixels".into(), |_| {});
    check_refuses(
        &onnx,
        &onnx,
        "model input is named 'input', manifest says 'pixels'",
    );
}

#[test]
fn model_check_refuses_a_wrong_output_name() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(
        dir.path(),
        |m| m["output"]["name"] = "scores".into(),
        |_| {},
    );
    check_refuses(&onnx, &onnx, "no output named 'scores'");
}

#[test]
fn model_check_refuses_a_tile_size_the_network_cannot_run() {
    // Four stride-2 stages need sides that are multiples of 16; 200 is not.
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(
        dir.path(),
        |m| m["tile"] = serde_json::json!({"size": 200, "overlap": 32, "multiple_of": 8}),
        |_| {},
    );
    check_refuses(&onnx, &onnx, "cannot run a 200×200 tile");
}

#[test]
fn model_check_refuses_the_wrong_output_kind() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(
        dir.path(),
        |m| m["output"]["kind"] = "probabilities".into(),
        |_| {},
    );
    check_refuses(&onnx, &onnx, "manifest says kind 'probabilities'");
}

#[test]
fn model_check_refuses_a_truncated_or_garbage_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(dir.path(), |_| {}, |b| b.truncate(b.len() / 2));
    check_refuses(&onnx, &onnx, "not a readable ONNX model");
    let onnx = custom_model(
        dir.path(),
        |_| {},
        |b| *b = b"this is not an ONNX file\n".repeat(100),
    );
    check_refuses(&onnx, &onnx, "not a readable ONNX model");
}

#[test]
fn model_check_refuses_a_checksum_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(dir.path(), |m| m["sha256"] = "00".repeat(32).into(), |_| {});
    check_refuses(&onnx, &onnx, "sha256 mismatch");
}

#[test]
fn model_check_refuses_a_reference_it_cannot_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(dir.path(), |_| {}, |_| {});
    let reference = dir.path().join("skinseg-v1.ref-logits.f32");
    let mut bytes = std::fs::read(&reference).unwrap();
    bytes[..4].copy_from_slice(&1000f32.to_le_bytes());
    std::fs::write(&reference, bytes).unwrap();
    check_refuses(&onnx, &onnx, "differs from the reference");
}

#[test]
fn model_check_refuses_a_missing_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = custom_model(dir.path(), |_| {}, |_| {});
    let manifest = onnx.with_extension("json");
    std::fs::remove_file(&manifest).unwrap();
    check_refuses(&onnx, &manifest, "cannot read manifest");
}
