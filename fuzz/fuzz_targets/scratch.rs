//! A scratch folder per fuzzing process for the table targets: it holds the table file and two
//! photo files (`a.jpg`, `b/c.jpg`) that rows may name, so that valid rows get past the path
//! checks.

use std::path::PathBuf;

/// `FILE_NAME` inside this process's scratch folder (under `$SKINTRACK_FUZZ_DIR`, default the
/// system temp folder), the folder made on first use.
pub fn file(file_name: &str) -> PathBuf {
    let base = std::env::var_os("SKINTRACK_FUZZ_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("skintrack-fuzz-{file_name}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(dir.join("b"));
    let _ = std::fs::write(dir.join("a.jpg"), b"x");
    let _ = std::fs::write(dir.join("b/c.jpg"), b"x");
    dir.join(file_name)
}
