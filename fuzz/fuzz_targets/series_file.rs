//! The series file reader: any bytes as `series.csv` must give sessions that keep the file's
//! promises, or one clear error naming the file — never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use skintrack::inputs::read_series_csv;

mod scratch;

/// The file every input is written to (made once per process).
fn table_file() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| scratch::file("series.csv"))
}

fuzz_target!(|data: &[u8]| {
    let path = table_file();
    if std::fs::write(path, data).is_err() {
        return;
    }
    match read_series_csv(path) {
        Ok(sessions) => {
            assert!(!sessions.is_empty());
            // Dates present and strictly increasing: one photo per session date.
            let dates: Vec<_> = sessions.iter().map(|s| s.date).collect();
            assert!(dates.iter().all(Option::is_some));
            assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
            for s in &sessions {
                assert!(s.path.starts_with(path.parent().unwrap()), "{:?}", s.path);
                if let Some(scale) = s.px_per_mm {
                    assert!(scale.is_finite() && scale > 0.0, "{scale}");
                }
            }
        }
        Err(err) => {
            let text = err.to_string();
            assert!(text.contains("series.csv: "), "{text}");
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }
});
