//! Photo loading with limits: any bytes, named as a photo, must give a `Photo` or an
//! `Error::Load` naming the file — never a panic, an abort or an allocation past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skintrack::load::{LoadOptions, load_photo_bytes};

fuzz_target!(|data: &[u8]| {
    // A small pixel limit keeps each run fast and makes the limit checks easy to reach;
    // the decoder's allocation limit follows from it (64 MiB floor).
    let opts = LoadOptions { max_pixels: 4_000_000 };
    match load_photo_bytes(data, "fuzz.jpg", &opts) {
        Ok(photo) => {
            let (w, h) = photo.image.dimensions();
            assert!(w >= 16 && h >= 16, "accepted a {w}x{h} photo");
            assert!(u64::from(w) * u64::from(h) <= opts.max_pixels, "accepted {w}x{h} over the limit");
        }
        Err(err) => {
            let text = err.to_string();
            assert!(text.starts_with("fuzz.jpg: cannot load photo: "), "{text}");
            assert!(!text.contains('\n'), "multi-line message: {text}");
        }
    }
});
