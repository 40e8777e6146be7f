//! The calibration target must never be "found" in a photo that has none: a false target sets
//! a wrong millimetre scale for the whole series without any error. Real photos from
//! `../shared/realdata/` have no target (skipped when absent); before the size, field-of-view
//! and even-ring checks, a pupil in a light eye and a caption's letter "o" were taken for one.

mod common;

use std::path::{Path, PathBuf};

use skintrack::calibration::{DEFAULT_DISC_MM, find_target};
use skintrack::inputs;
use skintrack::load::{self, LoadOptions};

/// Every photo (skintrack's photo extensions) in `dir` and the folders below it.
fn photos_under(dir: &Path) -> Vec<PathBuf> {
    // A folder without photos is an error to `list_photos`; here it only has none.
    let mut found = inputs::list_photos(dir).unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for sub in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        found.extend(photos_under(&sub));
    }
    found
}

#[test]
fn no_target_is_found_in_real_photos_without_one() {
    let Some(real) = common::realdata() else {
        return;
    };
    let mut photos = photos_under(&real);
    photos.sort();
    let mut measured = 0;
    let mut false_targets = Vec::new();
    for path in &photos {
        // Rendered masks and other non-photos fail to load or are grey: neither matters here.
        let Ok(photo) = load::load_photo(path, &LoadOptions::default()) else {
            continue;
        };
        measured += 1;
        if let Some(target) = find_target(&photo.image, DEFAULT_DISC_MM) {
            false_targets.push(format!("{}: {target:?}", path.display()));
        }
    }
    assert!(measured > 500, "only {measured} real photos read");
    assert!(false_targets.is_empty(), "{false_targets:#?}");
}
