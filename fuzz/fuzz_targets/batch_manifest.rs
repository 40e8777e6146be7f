//! The batch manifest reader: any bytes as `manifest.csv` must give series that keep the
//! manifest's promises, or one clear error naming the manifest — never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skintrack::batch::read_manifest;

mod scratch;

/// The file every input is written to (made once per process).
fn table_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| scratch::file("manifest.csv"))
}

fuzz_target!(|data: &[u8]| {
    let path = table_file();
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
