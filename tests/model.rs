//! The shipped model: its checksum matches the manifest, and tract reproduces the reference
//! output saved at export time (by onnxruntime) on a stored input tile.

mod common;

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
    assert_eq!(expected.len(), 3 * h * w);

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
