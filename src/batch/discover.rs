//! batch discovery: takes a clinic folder tree (`CLINIC/<patient>/<area>/<photo>`) or a
//! `manifest.csv` (`patient,area,date,photo` and optional `px_per_mm,label,notes,roi`) and gives the
//! series to process, one per patient and area, in a fixed order.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::inputs::{self, SERIES_FILE, SessionInput, Table};

/// Required columns of a batch manifest.
pub const MANIFEST_REQUIRED: [&str; 4] = ["patient", "area", "date", "photo"];
/// Optional columns of a batch manifest (the same as a series file's).
pub const MANIFEST_OPTIONAL: [&str; 4] = inputs::SERIES_OPTIONAL;

/// One series to process: one patient's one area.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSpec {
    pub patient: String,
    pub area: String,
    /// The sessions as listed (dates from a series file or manifest when given).
    pub sessions: Vec<SessionInput>,
    /// A problem with the series as a whole, found while listing it (a bad series.csv, a
    /// folder without photos): the series is recorded as failed with this reason.
    pub error: Option<String>,
}

impl SeriesSpec {
    /// `patient/area`: the series' key in the database, the summary and for sharding.
    pub fn key(&self) -> String {
        format!("{}/{}", self.patient, self.area)
    }
}

/// What a batch input holds: the folder photo paths are relative to, and the series.
#[derive(Debug)]
pub struct Discovered {
    pub root: PathBuf,
    pub series: Vec<SeriesSpec>,
}

/// Lists a batch input: a `.csv` file is a manifest, a folder is a clinic tree. `skip` (the
/// output folder, when it lies inside the tree) is never taken for a patient.
///
/// # Errors
/// [`Error::Input`] for an input that is neither, a clinic folder that cannot be listed or
/// holds no patient folders, and every manifest error of [`read_manifest`].
pub fn discover(input: &Path, skip: Option<&Path>) -> Result<Discovered> {
    if input.is_dir() {
        read_tree(input, skip)
    } else if input.is_file() {
        read_manifest(input)
    } else {
        Err(Error::Input {
            path: input.to_path_buf(),
            reason: "no such folder or manifest file".into(),
        })
    }
}

/// Sub-folders of `dir`, sorted by name, hidden ones (`.name`) left out.
fn sub_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Input {
        path: dir.to_path_buf(),
        reason: format!("cannot list folder: {e}"),
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter(|p| !crate::load::file_name(p).starts_with('.'))
        .collect();
    found.sort();
    Ok(found)
}

fn read_tree(root: &Path, skip: Option<&Path>) -> Result<Discovered> {
    let skip = skip.and_then(|s| s.canonicalize().ok());
    let mut series = Vec::new();
    for patient_dir in sub_folders(root)? {
        if skip.is_some() && patient_dir.canonicalize().ok() == skip {
            continue;
        }
        let patient = crate::load::file_name(&patient_dir);
        for area_dir in sub_folders(&patient_dir)? {
            let area = crate::load::file_name(&area_dir);
            let series_file = area_dir.join(SERIES_FILE);
            let listed = if series_file.is_file() {
                inputs::read_series_csv(&series_file)
            } else {
                inputs::list_photos(&area_dir)
                    .map(|paths| paths.into_iter().map(SessionInput::from_path).collect())
            };
            let (sessions, error) = match listed {
                Ok(sessions) => (sessions, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            series.push(SeriesSpec {
                patient: patient.clone(),
                area,
                sessions,
                error,
            });
        }
    }
    if series.is_empty() {
        return Err(Error::Input {
            path: root.to_path_buf(),
            reason: "no series found: expected folders CLINIC/<patient>/<area>/ holding photos \
                     (or a manifest.csv)"
                .into(),
        });
    }
    Ok(Discovered {
        root: root.to_path_buf(),
        series,
    })
}

/// Reads a batch manifest: a header with `patient,area,date,photo` (any order) and optionally
/// `px_per_mm,label,notes`; one row per photo. Photo paths are relative to the manifest's folder
/// and must stay inside it. Series come back ordered by patient and area, sessions by date.
///
/// # Errors
/// [`Error::Input`] naming the manifest, the line and the reason: unreadable, missing or
/// unknown column, a patient or area that cannot be a folder name, an unreadable date or
/// scale or ROI, two photos on one date or two different ROIs in one series, a path that leaves
/// the folder or names no file, or no rows.
pub fn read_manifest(path: &Path) -> Result<Discovered> {
    let fail = |reason: String| Error::Input {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| fail(format!("cannot read manifest: {e}")))?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let table = Table::parse(&text, &MANIFEST_REQUIRED, &MANIFEST_OPTIONAL).map_err(fail)?;
    let mut groups: BTreeMap<(String, String), Vec<SessionInput>> = BTreeMap::new();
    let mut seen: HashMap<(String, String, NaiveDate), u64> = HashMap::new();
    let mut first_roi: HashMap<(String, String), inputs::FirstRoi> = HashMap::new();
    for row in &table.rows {
        let at = |reason: String| fail(format!("line {}: {reason}", row.line));
        let cell = |name: &str| table.get(row, name).unwrap_or_default();
        let patient = folder_name(cell("patient"), "patient").map_err(at)?;
        let area = folder_name(cell("area"), "area").map_err(at)?;
        let date = inputs::parse_date(cell("date")).map_err(at)?;
        if let Some(first) = seen.insert((patient.clone(), area.clone(), date), row.line) {
            return Err(at(format!(
                "duplicate date {date} for {patient}/{area} (also on line {first}): one photo \
                 per session"
            )));
        }
        let session = table.session(row, &folder, date).map_err(at)?;
        let first = first_roi
            .entry((patient.clone(), area.clone()))
            .or_default();
        inputs::check_series_roi(first, session.roi, row.line)
            .map_err(|e| at(format!("{patient}/{area}: {e}")))?;
        groups.entry((patient, area)).or_default().push(session);
    }
    if groups.is_empty() {
        return Err(fail(
            "no photos: the manifest has a header but no rows".into(),
        ));
    }
    let series = groups
        .into_iter()
        .map(|((patient, area), mut sessions)| {
            sessions.sort_by_key(|s| s.date);
            SeriesSpec {
                patient,
                area,
                sessions,
                error: None,
            }
        })
        .collect();
    Ok(Discovered {
        root: folder,
        series,
    })
}

/// A patient or area becomes a folder of the output: one plain, visible name.
fn folder_name(text: &str, what: &str) -> std::result::Result<String, String> {
    let bad = text.is_empty()
        || text == "."
        || text == ".."
        || text.starts_with('.')
        || text.len() > 200
        || text
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(format!(
            "{what} '{}' cannot be used as a folder name (empty, hidden, too long, or \
             holding / or \\)",
            crate::inputs::shown(text)
        ));
    }
    Ok(text.to_string())
}

/// The shard (0-based, below `count`) a series belongs to: from a hash of its key, so the
/// split is the same on every machine and does not depend on the listing order.
pub fn shard_of(key: &str, count: u32) -> u32 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_error(text: &str, files: &[&str]) -> String {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let manifest = dir.path().join("manifest.csv");
        std::fs::write(&manifest, text).unwrap();
        read_manifest(&manifest).unwrap_err().to_string()
    }

    #[test]
    fn a_manifest_groups_rows_into_series_in_date_order() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["p1/a.jpg", "p1/b.jpg", "p2/c.jpg"] {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let manifest = dir.path().join("manifest.csv");
        std::fs::write(
            &manifest,
            "patient,area,date,photo,px_per_mm\n\
             p2,cheek,2026-01-01,p2/c.jpg,\n\
             p1,forehead,2026-03-01,p1/b.jpg,\n\
             p1,forehead,2026-01-01,p1/a.jpg,20\n",
        )
        .unwrap();
        let found = read_manifest(&manifest).unwrap();
        let keys: Vec<String> = found.series.iter().map(SeriesSpec::key).collect();
        assert_eq!(keys, ["p1/forehead", "p2/cheek"]);
        let p1 = &found.series[0];
        assert_eq!(p1.sessions[0].path, dir.path().join("p1/a.jpg"));
        assert_eq!(p1.sessions[0].px_per_mm, Some(20.0));
        assert_eq!(p1.sessions[1].px_per_mm, None);
    }

    #[test]
    fn bad_manifests_name_the_line_and_reason() {
        let files = ["a.jpg", "b.jpg"];
        let cases = [
            (
                "patient,date,photo\np,2026-01-01,a.jpg\n",
                "missing column area",
            ),
            (
                "patient,area,date,photo\np,f,2026-13-01,a.jpg\n",
                "line 2: cannot read date '2026-13-01'",
            ),
            (
                "patient,area,date,photo\np,f,2026-01-01,a.jpg\np,f,2026-01-01,b.jpg\n",
                "line 3: duplicate date 2026-01-01 for p/f (also on line 2)",
            ),
            (
                "patient,area,date,photo\np,f,2026-01-01,../a.jpg\n",
                "line 2: photo path '../a.jpg' leaves the folder",
            ),
            (
                "patient,area,date,photo\n../p,f,2026-01-01,a.jpg\n",
                "line 2: patient '../p' cannot be used as a folder name",
            ),
            (
                "patient,area,date,photo\np,f,2026-01-01,a.jpg,extra\n",
                "line 2: malformed row",
            ),
            ("patient,area,date,photo\n", "no photos"),
        ];
        for (text, want) in cases {
            let got = manifest_error(text, &files);
            assert!(got.contains("manifest.csv: "), "{got}");
            assert!(got.contains(want), "want '{want}' in '{got}'");
            assert!(!got.contains('\n'), "one line: {got}");
        }
    }

    #[test]
    fn the_same_photo_on_two_dates_of_different_series_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        let manifest = dir.path().join("m.csv");
        std::fs::write(
            &manifest,
            "patient,area,date,photo\np,f,2026-01-01,a.jpg\nq,f,2026-01-01,a.jpg\n",
        )
        .unwrap();
        assert_eq!(read_manifest(&manifest).unwrap().series.len(), 2);
    }

    #[test]
    fn shards_split_keys_deterministically_and_cover_all() {
        let keys: Vec<String> = (0..200).map(|i| format!("p{i}/area")).collect();
        let counts = (0..3).map(|k| keys.iter().filter(|key| shard_of(key, 3) == k).count());
        let counts: Vec<usize> = counts.collect();
        assert_eq!(counts.iter().sum::<usize>(), 200);
        assert!(counts.iter().all(|&c| c > 40), "{counts:?}");
        assert_eq!(shard_of("p1/forehead", 5), shard_of("p1/forehead", 5));
        assert_eq!(shard_of("anything", 1), 0);
    }
}
