//! Alignment against the known homographies of the fixture series.

mod common;

use skintrack::align::{self, AlignOptions, AlignStatus};
use skintrack::load::{LoadOptions, load_photo};

#[test]
fn every_fixture_session_aligns_within_a_pixel() {
    let dir = common::fixture_series();
    let truth = common::truth(&dir);
    let photos = common::photos(&dir, &truth);
    let baseline = load_photo(&photos[0], &LoadOptions::default()).unwrap();
    let (w, h) = baseline.image.dimensions();
    for (session, path) in truth.sessions.iter().zip(&photos).skip(1) {
        let later = load_photo(path, &LoadOptions::default()).unwrap();
        let found = align::align(&baseline.image, &later.image, &AlignOptions::default());
        assert_eq!(
            found.status,
            AlignStatus::Ok,
            "session {}: {:?}",
            session.index,
            found.reason
        );
        // Error over a grid of the later photo's pixels, measured in the baseline frame.
        let (mean, max) = found
            .later_to_baseline
            .grid_error(&session.later_to_baseline, w, h, 10);
        eprintln!(
            "session {}: mean {mean:.3} px, max {max:.3} px, inliers {}",
            session.index, found.inliers
        );
        assert!(
            mean < 1.0,
            "session {}: mean grid error {mean:.3} px",
            session.index
        );
        assert!(
            max < 3.0,
            "session {}: worst grid error {max:.3} px",
            session.index
        );
    }
}

#[test]
fn an_unrelated_photo_fails_with_a_reason() {
    let dir = common::fixture_series();
    let truth = common::truth(&dir);
    let baseline = load_photo(&common::photos(&dir, &truth)[0], &LoadOptions::default()).unwrap();
    let other_dir = common::root().join("fixtures").join("unrelated");
    let other_truth = common::truth(&other_dir);
    let other = load_photo(
        &common::photos(&other_dir, &other_truth)[0],
        &LoadOptions::default(),
    )
    .unwrap();
    let found = align::align(&baseline.image, &other.image, &AlignOptions::default());
    assert_eq!(found.status, AlignStatus::Failed);
    assert!(found.reason.is_some());
}
