//! Atomic file writing: takes a path and bytes, gives a file that is either the old one or the
//! complete new one, never a half-written mix (a crash or a full disk leaves only a stray
//! `NAME.tmp-<pid>` at worst, which [`remove_stale_temporaries`] clears on the next run).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically: into `NAME.tmp-<pid>` in the same folder, flushed to
/// disk, then renamed over `path`. The folder must exist.
///
/// # Errors
/// [`Error::Output`] naming `path` when the temporary file cannot be created, written or
/// synced, or the rename fails; the temporary file is removed in that case.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let output_error = |what: &str, e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    };
    let tmp = temporary_path(path).ok_or_else(|| Error::Output {
        path: path.to_path_buf(),
        reason: "not a file name".to_string(),
    })?;
    let written = (|| {
        let mut file = File::create(&tmp).map_err(|e| output_error("cannot create", e))?;
        file.write_all(bytes)
            .map_err(|e| output_error("cannot write", e))?;
        // Data must be on disk before the rename makes it visible under the real name.
        file.sync_all()
            .map_err(|e| output_error("cannot sync", e))?;
        fs::rename(&tmp, path).map_err(|e| output_error("cannot rename into place", e))
    })();
    if written.is_err() {
        // Best effort: the original error is what the user needs to see.
        let _ = fs::remove_file(&tmp);
        return written;
    }
    sync_parent(path);
    Ok(())
}

/// `DIR/NAME` → `DIR/NAME.tmp-<pid>`: same folder, so the rename never crosses file systems.
fn temporary_path(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    Some(path.with_file_name(tmp_name))
}

/// Removes `NAME.tmp-<pid>` files that a killed earlier run left in `dir` for any of `names`
/// (never files of another name). Best effort: a file that cannot be removed is left alone.
pub fn remove_stale_temporaries(dir: &Path, names: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let stale = names.iter().any(|name| {
            file_name
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(".tmp-"))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        });
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Makes the rename itself durable. Best effort: not every platform can open a folder.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(handle) = File::open(dir) {
            let _ = handle.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }

    #[test]
    fn stale_temporaries_of_our_names_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "a.json.tmp-123",
            "a.json.tmp-x",
            "b.txt.tmp-9",
            "a.json",
            "c.tmp-1",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove_stale_temporaries(dir.path(), &["a.json", "c"]);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json", "a.json.tmp-x", "b.txt.tmp-9"]);
    }

    #[test]
    fn missing_folder_is_an_output_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("b.txt");
        match write_atomic(&path, b"x") {
            Err(Error::Output { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(reason.starts_with("cannot create"), "{reason}");
            }
            other => panic!("expected Output error, got {other:?}"),
        }
    }
}
