//! Lighting normalisation: with `--reference-patch` the colour transform comes from the card,
//! so a real change of skin colour survives; without it, plain skin absorbs the change when it
//! covers all the skin (the skin outside the ROI, the reference then, changed too).

mod common;

use skintrack::load::{DateSource, LoadOptions, Photo, load_photo};
use skintrack::report::StageTimings;
use skintrack::segment::Model;
use skintrack::series::{SeriesOptions, measure_photos};

const CARD: [u32; 4] = [40, 40, 200, 150];
const GAIN: [f64; 3] = [1.2, 1.1, 0.9];

fn with_card(photo: &Photo) -> Photo {
    let mut image = photo.image.clone();
    for y in CARD[1]..CARD[1] + CARD[3] {
        for x in CARD[0]..CARD[0] + CARD[2] {
            image.put_pixel(x, y, image::Rgb([128, 128, 128]));
        }
    }
    Photo {
        image,
        ..photo.clone()
    }
}

/// The same view under another light (GAIN on everything) whose skin also got redder.
fn relit_and_redder(baseline: &Photo) -> Photo {
    let mut image = baseline.image.clone();
    for (x, y, p) in image.enumerate_pixels_mut() {
        let on_card =
            x >= CARD[0] && x < CARD[0] + CARD[2] && y >= CARD[1] && y < CARD[1] + CARD[3];
        let redder = if on_card { 1.0 } else { 1.08 };
        for (c, gain) in GAIN.iter().enumerate() {
            let v = p.0[c] as f64 * gain * if c == 0 { redder } else { 1.0 };
            p.0[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    Photo {
        image,
        name: "later.png".into(),
        date_source: DateSource::None,
        date: None,
        ..baseline.clone()
    }
}

#[test]
fn a_reference_patch_keeps_a_real_colour_change() {
    let dir = common::fixture_series();
    let truth = common::truth(&dir);
    let baseline = with_card(
        &load_photo(&dir.join(&truth.sessions[0].photo), &LoadOptions::default()).unwrap(),
    );
    let later = relit_and_redder(&baseline);
    let model = Model::load(&common::shipped_model()).unwrap();
    let roi = Some([300, 0, 1300, 1200]);
    let photos = [baseline, later];

    let with_patch = SeriesOptions {
        reference_patch: Some(CARD),
        roi,
        ..Default::default()
    };
    let run = measure_photos(&photos, &model, &with_patch, StageTimings::default()).unwrap();
    let lighting = run.report.sessions[1].lighting.clone().unwrap();
    assert_eq!(lighting.source, "reference_patch");
    for (fitted, gain) in lighting.gain.iter().zip(GAIN) {
        let expected = 1.0 / gain;
        assert!(
            (fitted - expected).abs() / expected < 0.02,
            "gain {:?}",
            lighting.gain
        );
    }
    let redness = |r: &skintrack::report::Report| {
        r.metrics
            .iter()
            .find(|m| m.name == "redness_a")
            .unwrap()
            .values[1]
            .delta
    };
    let kept = redness(&run.report);
    assert!(
        kept > 1.0,
        "redder skin must read redder with a card: delta a* {kept}"
    );

    let without = SeriesOptions {
        roi,
        ..Default::default()
    };
    let run = measure_photos(&photos, &model, &without, StageTimings::default()).unwrap();
    // Matched on the skin left of the ROI, which got as red as the rest.
    assert_eq!(
        run.report.sessions[1].lighting.as_ref().unwrap().source,
        "skin_outside_roi"
    );
    let absorbed = redness(&run.report);
    assert!(
        absorbed.abs() < kept / 3.0,
        "plain-skin matching absorbs a global change: {absorbed} vs {kept}"
    );
}
