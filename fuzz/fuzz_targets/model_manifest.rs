//! The model manifest parser: any bytes as `NAME.json` must parse and validate, or be refused
//! with an `Error::Model` naming the manifest — never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skintrack::segment::{Manifest, read_manifest};

/// One scratch file per fuzzing process: `read_manifest` (parse + validation) takes a path
/// and its validation is not public on its own.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::var_os("SKINTRACK_FUZZ_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        dir.join(format!("skintrack-fuzz-manifest-{}.json", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    // Parsing alone, as serde sees it.
    let parsed = serde_json::from_slice::<Manifest>(data);
    // Parsing plus validation, through the public reader.
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    match read_manifest(path) {
        Ok(manifest) => {
            assert!(parsed.is_ok(), "the reader accepted what serde refused");
            assert!(manifest.tile.size >= 32 && manifest.tile.multiple_of > 0);
            assert!(u64::from(manifest.tile.overlap) * 2 < u64::from(manifest.tile.size));
            assert!(manifest.input.std.iter().all(|s| *s > 0.0));
        }
        Err(err) => {
            let text = err.to_string();
            assert!(text.contains("model error"), "{text}");
        }
    }
});
