//! The batch manifest reader: any bytes as `manifest.csv` must give series that keep the
//! manifest's promises, or one clear error naming the manifest — never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skintrack::batch::read_manifest;

/// One scratch folder per fuzzing process, holding the manifest and two photo files (`a.jpg`,
/// `b/c.jpg`) that rows may name, so that valid rows get past the path checks.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let base = std::env::var_os("SKINTRACK_FUZZ_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("skintrack-fuzz-batch-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("b"));
        let _ = std::fs::write(dir.join("a.jpg"), b"x");
        let _ = std::fs::write(dir.join("b/c.jpg"), b"x");
        dir.join("manifest.csv")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    match read_manifest(path) {
        Ok(found) => {
            assert!(!found.series.is_empty());
            for series in &found.series {
                assert!(!series.sessions.is_empty());
                for name in [&series.patient, &series.area] {
                    assert!(!name.is_empty() && !name.contains('/') && !name.starts_with('.'));
                }
                // Dates present, in order, one photo per date.
                let dates: Vec<_> = series.sessions.iter().map(|s| s.date).collect();
                assert!(dates.iter().all(Option::is_some));
                assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
                for s in &series.sessions {
                    assert!(s.path.starts_with(path.parent().unwrap()));
                }
            }
        }
        Err(err) => {
            let text = err.to_string();
            assert!(text.contains("manifest.csv: "), "{text}");
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }
});
