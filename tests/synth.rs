//! `skintrack synth` from the command line: the clinical variety writes look-alike maps and
//! says so in truth.json; the plain one does not.

mod common;

use assert_cmd::Command;

fn synth(out: &std::path::Path, extra: &[&str]) -> skintrack::synth::Truth {
    Command::cargo_bin("skintrack")
        .expect("binary")
        .args([
            "synth",
            "--seed",
            "4",
            "--sessions",
            "2",
            "--size",
            "256x192",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .assert()
        .success();
    common::truth(out)
}

#[test]
fn clinical_flag_writes_look_alike_maps_beside_the_class_maps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = synth(&dir.path().join("plain"), &[]);
    let clinical = synth(&dir.path().join("clinical"), &["--clinical"]);
    assert!(!plain.options.clinical && clinical.options.clinical);
    assert!(plain.sessions.iter().all(|s| s.look_alikes.is_none()));
    for s in &clinical.sessions {
        let name = s.look_alikes.as_ref().expect("look-alike map listed");
        let map = image::open(dir.path().join("clinical").join(name))
            .expect("look-alike map")
            .to_luma8();
        assert_eq!(map.dimensions(), (256, 192));
        assert!(map.pixels().all(|p| p.0[0] <= 4), "codes 0..=4 only");
    }
    // The same seed draws the same skin tone with or without the clinical variety.
    assert_eq!(plain.skin_rgb, clinical.skin_rgb);
}
