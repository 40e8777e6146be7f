//! The focus check on real skin: a real photo against a defocused copy of itself is marked
//! "not comparable" for roughness; against a JPEG re-encode of itself it is not.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use skintrack::report::FocusReport;

/// One photo of each real set: a scar close-up, an acne face, a wrinkled face.
const PHOTOS: [&str; 3] = [
    "scarcare_scar_types/atrophic/atrophic_03.jpg",
    "acne04_roboflow_voc/images/levle0_108_jpg.rf.348d1d324fee2d145760c8bede047e27.jpg",
    "javad71_facial_wrinkle_boxes/images/1018_jpg.rf.2129bb4881ee85830b569150852c1d34.jpg",
];

/// `skintrack compare BEFORE AFTER`: the later session's focus reading.
fn focus_of(before: &Path, after: &Path) -> FocusReport {
    let out = tempfile::tempdir().unwrap();
    let report = common::json_report(
        [OsStr::new("compare"), before.as_os_str(), after.as_os_str()],
        out.path(),
    );
    report.sessions[1].focus.clone().expect("a focus reading")
}

#[test]
fn a_defocused_real_photo_is_not_comparable_a_reencoded_one_is() {
    let Some(real) = common::realdata() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (k, name) in PHOTOS.iter().enumerate() {
        let photo = image::open(real.join(name)).unwrap().to_rgb8();
        let original = dir.path().join(format!("{k}_original.png"));
        photo.save(&original).unwrap();

        // Defocus of 1 px (Gaussian): what a missed focus or a shaken hand does at this size.
        let soft = dir.path().join(format!("{k}_soft.png"));
        imageproc::filter::gaussian_blur_f32(&photo, 1.0)
            .save(&soft)
            .unwrap();
        let defocused = focus_of(&original, &soft);
        eprintln!("{name}: defocused {:.3}", defocused.fine_detail_ratio);
        assert!(!defocused.roughness_comparable, "{name}: {defocused:?}");
        assert!(defocused.fine_detail_ratio < 0.75, "{name}: {defocused:?}");

        // The same focus through another JPEG encoding (quality 85) stays comparable.
        let reencoded = dir.path().join(format!("{k}_q85.jpg"));
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 85)
            .encode_image(&photo)
            .unwrap();
        std::fs::write(&reencoded, bytes).unwrap();
        let same = focus_of(&original, &reencoded);
        eprintln!("{name}: re-encoded {:.3}", same.fine_detail_ratio);
        assert!(same.roughness_comparable, "{name}: {same:?}");
    }
}
