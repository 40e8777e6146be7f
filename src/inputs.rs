//! inputs: what a series is made of — photo files given one by one, a folder of photos, or a
//! `series.csv` (`date,photo` and optional `px_per_mm,label,notes,roi`) — resolved into the
//! ordered [`SessionInput`]s the series stage loads.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use chrono::NaiveDate;

use crate::error::{Error, Result};

/// The name a series file takes inside a series folder (used instead of listing its photos).
pub const SERIES_FILE: &str = "series.csv";

/// Photo file extensions a folder listing picks up (the format itself is read from content).
pub const PHOTO_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "tif", "tiff", "webp"];

/// One session of a series before loading: the photo and what the user said about it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionInput {
    pub path: PathBuf,
    /// The date from a series file; overrides the photo's own EXIF or file-name date.
    pub date: Option<NaiveDate>,
    /// Physical scale of this photo, from a series file.
    pub px_per_mm: Option<f64>,
    /// Short name of the session (e.g. "treatment 2").
    pub label: Option<String>,
    /// Free text, e.g. the treatment settings (needle depth).
    pub notes: Option<String>,
    /// The series' treated area, x,y,w,h in the baseline photo's pixels, from a series file
    /// or manifest row ([`series_roi`]).
    pub roi: Option<[u32; 4]>,
}

/// Optional columns of a series file (and of a batch manifest, after its own required ones).
pub const SERIES_OPTIONAL: [&str; 4] = ["px_per_mm", "label", "notes", "roi"];

/// The ROI a series' rows give (the readers check that every row giving one gives the same).
pub fn series_roi(sessions: &[SessionInput]) -> Option<[u32; 4]> {
    sessions.iter().find_map(|s| s.roi)
}

/// Parses an ROI or patch: `x,y,w,h` in pixels, `w` and `h` above 0.
///
/// # Errors
/// A reason naming what is wrong.
pub fn parse_roi(text: &str) -> std::result::Result<[u32; 4], String> {
    let parts: Vec<u32> = text
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .map_err(|e| format!("'{}': {e}", shown(v.trim())))
        })
        .collect::<std::result::Result<_, _>>()?;
    match parts[..] {
        [x, y, w, h] if w > 0 && h > 0 => Ok([x, y, w, h]),
        _ => Err("expected x,y,w,h with w and h > 0".into()),
    }
}

/// The first ROI a series' rows gave, and its line.
pub(crate) type FirstRoi = Option<([u32; 4], u64)>;

/// Checks that the rows of one series that give an ROI give the same one: `first` holds the
/// first such row's ROI and line.
///
/// # Errors
/// A reason naming both lines, for a row whose ROI differs.
pub(crate) fn check_series_roi(
    first: &mut FirstRoi,
    roi: Option<[u32; 4]>,
    line: u64,
) -> std::result::Result<(), String> {
    match (roi, *first) {
        (Some(roi), None) => *first = Some((roi, line)),
        (Some(roi), Some((earlier, at))) if roi != earlier => {
            let text = |r: [u32; 4]| r.map(|v| v.to_string()).join(",");
            return Err(format!(
                "roi {} differs from line {at}'s {}: one ROI per series, in the baseline \
                 photo's pixels",
                text(roi),
                text(earlier)
            ));
        }
        _ => {}
    }
    Ok(())
}

impl SessionInput {
    pub fn from_path(path: impl Into<PathBuf>) -> SessionInput {
        SessionInput {
            path: path.into(),
            ..Default::default()
        }
    }
}

/// Resolves command-line inputs: a `.csv` file is a series file; a folder holding a
/// `series.csv` uses it; any other folder stands for the photos in it (by extension, sorted by
/// name); other files stay as given.
///
/// # Errors
/// [`Error::Input`] for a folder that cannot be listed or holds no photos, and every error of
/// [`read_series_csv`].
pub fn resolve(inputs: &[PathBuf]) -> Result<Vec<SessionInput>> {
    let mut sessions = Vec::new();
    for input in inputs {
        if let Some(series_file) = series_file_of(input) {
            sessions.extend(read_series_csv(&series_file)?);
        } else if input.is_dir() {
            sessions.extend(list_photos(input)?.into_iter().map(SessionInput::from_path));
        } else {
            sessions.push(SessionInput::from_path(input));
        }
    }
    Ok(sessions)
}

/// The series file [`resolve`] reads for one input: the input itself when it is a `.csv`, or
/// the folder's `series.csv`.
pub fn series_file_of(input: &Path) -> Option<PathBuf> {
    if input.is_dir() {
        Some(input.join(SERIES_FILE)).filter(|file| file.is_file())
    } else if has_extension(input, &["csv"]) {
        Some(input.to_path_buf())
    } else {
        None
    }
}

/// Where a series' ROI was given, for its errors: the series file whose `roi` column gave it.
pub fn roi_origin(inputs: &[PathBuf], sessions: &[SessionInput]) -> Option<String> {
    series_roi(sessions)?;
    let file = inputs.iter().find_map(|input| series_file_of(input))?;
    Some(format!("{} (roi column)", file.display()))
}

/// The photos directly inside `folder`, by extension, sorted by name.
///
/// # Errors
/// [`Error::Input`] when the folder cannot be listed or holds no photos.
pub fn list_photos(folder: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(folder).map_err(|e| Error::Input {
        path: folder.to_path_buf(),
        reason: format!("cannot list folder: {e}"),
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && has_extension(p, &PHOTO_EXTENSIONS))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(Error::Input {
            path: folder.to_path_buf(),
            reason: "no photos (.jpg, .jpeg, .png, .tif, .tiff, .webp) in this folder".into(),
        });
    }
    Ok(found)
}

/// Reads a series file: a header naming `date` and `photo` (any order) and optionally
/// `px_per_mm`, `label`, `notes`; one row per session. Dates are `YYYY-MM-DD`. Photo paths
/// are relative to the file's folder and must stay inside it. Sessions come back in date order.
///
/// # Errors
/// [`Error::Input`] naming the file, the line and the reason: unreadable, no header, missing or
/// unknown column, unparseable date or scale, duplicate date, a path that escapes the folder,
/// a photo that does not exist, or no rows.
pub fn read_series_csv(path: &Path) -> Result<Vec<SessionInput>> {
    let fail = |reason: String| Error::Input {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| fail(format!("cannot read series file: {e}")))?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let table = Table::parse(&text, &["date", "photo"], &SERIES_OPTIONAL).map_err(fail)?;
    let mut sessions = Vec::with_capacity(table.rows.len());
    let mut seen: HashMap<NaiveDate, u64> = HashMap::new();
    let mut first_roi = None;
    for row in &table.rows {
        let at = |reason: String| fail(format!("line {}: {reason}", row.line));
        let date = parse_date(table.get(row, "date").unwrap_or_default()).map_err(at)?;
        if let Some(first) = seen.insert(date, row.line) {
            return Err(at(format!(
                "duplicate date {date} (also on line {first}): one photo per session"
            )));
        }
        let session = table.session(row, folder, date).map_err(at)?;
        check_series_roi(&mut first_roi, session.roi, row.line).map_err(at)?;
        sessions.push(session);
    }
    if sessions.is_empty() {
        return Err(fail(
            "no sessions: the series file has a header but no rows".into(),
        ));
    }
    sessions.sort_by_key(|s| s.date);
    Ok(sessions)
}

/// A CSV table with a header, trimmed cells and the source line of each row; shared by the
/// series file and the batch manifest.
#[derive(Debug)]
pub struct Table {
    columns: HashMap<String, usize>,
    pub rows: Vec<Row>,
}

#[derive(Debug)]
pub struct Row {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    cells: Vec<String>,
}

impl Table {
    /// Parses CSV text whose header must hold every `required` column and may hold the
    /// `optional` ones; any other column is refused (a misspelt optional column would
    /// otherwise be silently ignored). Blank lines are skipped.
    ///
    /// # Errors
    /// A reason (without the file name): not UTF-8, malformed CSV, no header, a missing,
    /// unknown or repeated column.
    pub fn parse(
        text: &[u8],
        required: &[&str],
        optional: &[&str],
    ) -> std::result::Result<Table, String> {
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
        // Spreadsheets save a byte-order mark in front of the header.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|e| format!("malformed header: {e}"))?
            .clone();
        if header.iter().all(str::is_empty) {
            return Err(format!(
                "empty file: expected a header with columns {}",
                required.join(",")
            ));
        }
        let mut columns = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.to_ascii_lowercase();
            let shown_name = shown(&name);
            if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
                return Err(format!(
                    "unknown column '{shown_name}' (expected {}{}{})",
                    required.join(","),
                    if optional.is_empty() {
                        ""
                    } else {
                        " and optionally "
                    },
                    optional.join(",")
                ));
            }
            if columns.insert(name.clone(), i).is_some() {
                return Err(format!("column '{shown_name}' appears twice in the header"));
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !columns.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing column{} {} in the header (found: {})",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", "),
                shown(&header.iter().collect::<Vec<_>>().join(","))
            ));
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| match e.position() {
                Some(p) => format!("line {}: malformed row: {}", p.line(), csv_reason(&e)),
                None => format!("malformed row: {}", csv_reason(&e)),
            })?;
            if record.iter().all(str::is_empty) {
                continue;
            }
            rows.push(Row {
                line: record.position().map_or(0, |p| p.line()),
                cells: record.iter().map(str::to_string).collect(),
            });
        }
        Ok(Table { columns, rows })
    }

    /// The session of a series-file or manifest row whose `date` the caller has parsed (and
    /// checked for duplicates): its `photo` resolved inside `folder`, and the optional
    /// `px_per_mm`, `label`, `notes` and `roi`.
    ///
    /// # Errors
    /// A reason (without the file name or line): a path that escapes `folder` or names no
    /// photo, a scale that is not a positive number, an ROI that is not `x,y,w,h`.
    pub(crate) fn session(
        &self,
        row: &Row,
        folder: &Path,
        date: NaiveDate,
    ) -> std::result::Result<SessionInput, String> {
        let path = resolve_inside(folder, self.get(row, "photo").unwrap_or_default())?;
        let px_per_mm = match self.get(row, "px_per_mm") {
            None | Some("") => None,
            Some(v) => Some(parse_scale(v)?),
        };
        let roi = match self.get(row, "roi") {
            None | Some("") => None,
            Some(v) => Some(parse_roi(v).map_err(|e| format!("roi '{}': {e}", shown(v)))?),
        };
        let text_field = |name: &str| {
            self.get(row, name)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Ok(SessionInput {
            path,
            date: Some(date),
            px_per_mm,
            label: text_field("label"),
            notes: text_field("notes"),
            roi,
        })
    }

    /// The trimmed cell of `column` in `row`; `None` when the table has no such column.
    pub fn get<'a>(&self, row: &'a Row, column: &str) -> Option<&'a str> {
        self.columns
            .get(column)
            .and_then(|&i| row.cells.get(i))
            .map(String::as_str)
    }
}

/// The csv crate's message without its own position prefix (the line is given separately).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".into(),
        _ => e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A session date: `YYYY-MM-DD` (ISO 8601, what spreadsheets export and people misread least).
pub fn parse_date(text: &str) -> std::result::Result<NaiveDate, String> {
    if text.is_empty() {
        return Err("empty date (expected YYYY-MM-DD)".into());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("cannot read date '{}' (expected YYYY-MM-DD)", shown(text)))
}

/// A `px_per_mm` cell: a positive finite number.
fn parse_scale(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "px_per_mm '{}' is not a positive number",
            shown(text)
        )),
    }
}

/// User text as it appears inside an error message: control characters (a newline in a quoted
/// CSV cell, say) escaped, so that every message stays one line.
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `relative` joined onto `folder`, refused when it is empty or absolute, leaves `folder`
/// (by `..` or through a symbolic link), or names no existing file.
pub fn resolve_inside(folder: &Path, relative: &str) -> std::result::Result<PathBuf, String> {
    if relative.is_empty() {
        return Err("empty photo path".into());
    }
    let relative_shown = shown(relative);
    let rel = Path::new(relative);
    let mut depth = 0i32;
    for part in rel.components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth -= 1,
            Component::RootDir | Component::Prefix(_) => depth = -1,
        }
        if depth < 0 {
            return Err(format!(
                "photo path '{relative_shown}' leaves the folder of the file (paths must be relative \
                 and stay inside it)"
            ));
        }
    }
    let path = folder.join(rel);
    let meta = std::fs::metadata(&path).map_err(|_| {
        format!(
            "photo '{relative_shown}' does not exist (looked for {})",
            shown(&path.display().to_string())
        )
    })?;
    if meta.is_dir() {
        return Err(format!(
            "photo '{relative_shown}' is a folder, expected a photo file"
        ));
    }
    // A symbolic link inside the folder may still point outside it.
    if let (Ok(root), Ok(real)) = (folder.canonicalize(), path.canonicalize())
        && !real.starts_with(&root)
    {
        return Err(format!(
            "photo path '{relative_shown}' leads outside the folder of the file (through a link)"
        ));
    }
    Ok(path)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| extensions.contains(&e.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(files: &[&str], csv: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::write(dir.path().join(SERIES_FILE), csv).unwrap();
        dir
    }

    fn error_of(csv: &str, files: &[&str]) -> String {
        let dir = folder_with(files, csv);
        read_series_csv(&dir.path().join(SERIES_FILE))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_series_file_gives_sessions_in_date_order_with_their_columns() {
        let dir = folder_with(
            &["a.jpg", "b.jpg"],
            "\u{feff}photo, date ,px_per_mm,label,notes\n\
             b.jpg,2026-03-01,21.5,s2,\"depth 1.5 mm, 3 passes\"\n\
             \n\
             a.jpg,2026-01-10,,baseline,\n",
        );
        let sessions = read_series_csv(&dir.path().join(SERIES_FILE)).unwrap();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0].path, dir.path().join("a.jpg"));
        assert_eq!(sessions[0].date, NaiveDate::from_ymd_opt(2026, 1, 10));
        assert_eq!(sessions[0].px_per_mm, None);
        assert_eq!(sessions[0].notes, None);
        assert_eq!(sessions[1].px_per_mm, Some(21.5));
        assert_eq!(sessions[1].label.as_deref(), Some("s2"));
        assert_eq!(sessions[1].notes.as_deref(), Some("depth 1.5 mm, 3 passes"));
    }

    #[test]
    fn a_series_file_may_give_the_series_roi_on_any_of_its_rows() {
        let dir = folder_with(
            &["a.jpg", "b.jpg"],
            "date,photo,roi
2026-01-10,a.jpg,
2026-03-01,b.jpg,\" 40, 30,200,100\"
",
        );
        let sessions = read_series_csv(&dir.path().join(SERIES_FILE)).unwrap();
        assert_eq!(sessions[0].roi, None);
        assert_eq!(sessions[1].roi, Some([40, 30, 200, 100]));
        assert_eq!(series_roi(&sessions), Some([40, 30, 200, 100]));
        // The same ROI on every row is fine too; none at all is no ROI.
        let dir = folder_with(
            &["a.jpg", "b.jpg"],
            "date,photo,roi
2026-01-10,a.jpg,\"1,2,3,4\"
2026-03-01,b.jpg,\"1,2,3,4\"
",
        );
        let sessions = read_series_csv(&dir.path().join(SERIES_FILE)).unwrap();
        assert_eq!(series_roi(&sessions), Some([1, 2, 3, 4]));
        let dir = folder_with(
            &["a.jpg"],
            "date,photo
2026-01-10,a.jpg
",
        );
        assert_eq!(
            series_roi(&read_series_csv(&dir.path().join(SERIES_FILE)).unwrap()),
            None
        );
    }

    #[test]
    fn bad_series_files_are_refused_with_the_line_and_reason() {
        let files = ["a.jpg", "b.jpg"];
        let cases = [
            ("date\n2026-01-01\n", "missing column photo"),
            (
                "date,photo,depth\n2026-01-01,a.jpg,1\n",
                "unknown column 'depth'",
            ),
            (
                "date,photo\n01/02/2026,a.jpg\n",
                "line 2: cannot read date '01/02/2026'",
            ),
            (
                "date,photo\n2026-02-30,a.jpg\n",
                "line 2: cannot read date '2026-02-30'",
            ),
            ("date,photo\n,a.jpg\n", "line 2: empty date"),
            (
                "date,photo\n2026-01-01,a.jpg\n2026-01-01,b.jpg\n",
                "line 3: duplicate date 2026-01-01 (also on line 2)",
            ),
            (
                "date,photo\n2026-01-01,c.jpg\n",
                "line 2: photo 'c.jpg' does not exist",
            ),
            ("date,photo\n2026-01-01,../a.jpg\n", "leaves the folder"),
            ("date,photo\n2026-01-01,/etc/passwd\n", "leaves the folder"),
            (
                "date,photo\n2026-01-01,x/../../a.jpg\n",
                "leaves the folder",
            ),
            (
                "date,photo,px_per_mm\n2026-01-01,a.jpg,-3\n",
                "'-3' is not a positive",
            ),
            (
                "date,photo\n2026-01-01,a.jpg,extra\n",
                "line 2: malformed row: 3 fields",
            ),
            (
                "date,photo,roi\n2026-01-01,a.jpg,\"1,2,3,4\"\n2026-01-02,b.jpg,\"1,2,3,5\"\n",
                "line 3: roi 1,2,3,5 differs from line 2's 1,2,3,4: one ROI per series",
            ),
            (
                "date,photo,roi\n2026-01-01,a.jpg,\"1,2,3\"\n",
                "line 2: roi '1,2,3': expected x,y,w,h",
            ),
            (
                "date,photo,roi\n2026-01-01,a.jpg,\"1,2,x,4\"\n",
                "line 2: roi '1,2,x,4': 'x': invalid digit",
            ),
            ("date,photo\n", "no sessions"),
            ("", "empty file"),
            // Found by the series_file fuzz target: a quoted header field holding a newline
            // was echoed as is, so the message was two lines.
            (
                "date,\",date,photo\nx\",photo\n2026-01-01,a.jpg\n",
                "unknown column ',date,photo\\nx'",
            ),
            (
                "date,photo\n\"2026-01-01\nx\",a.jpg\n",
                "cannot read date '2026-01-01\\nx'",
            ),
            (
                "date,photo\n2026-01-01,\"a\r\nb.jpg\"\n",
                "photo 'a\\r\\nb.jpg'",
            ),
            (
                "date,photo,px_per_mm\n2026-01-01,a.jpg,\"1\n2\"\n",
                "px_per_mm '1\\n2'",
            ),
        ];
        for (csv, expected) in cases {
            let message = error_of(csv, &files);
            assert!(
                message.contains(expected) && message.contains(SERIES_FILE),
                "{csv:?}: got '{message}', expected '{expected}'"
            );
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn a_link_out_of_the_folder_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.jpg"), b"x").unwrap();
        let dir = folder_with(&[], "date,photo\n2026-01-01,in.jpg\n");
        std::os::unix::fs::symlink(outside.path().join("secret.jpg"), dir.path().join("in.jpg"))
            .unwrap();
        let message = read_series_csv(&dir.path().join(SERIES_FILE))
            .unwrap_err()
            .to_string();
        assert!(message.contains("through a link"), "{message}");
    }

    #[test]
    fn a_folder_with_a_series_file_uses_it_and_a_plain_folder_lists_its_photos() {
        let dir = folder_with(
            &["2026-01-01.jpg", "b.png"],
            "date,photo\n2026-05-01,b.png\n",
        );
        let from_file = resolve(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(from_file.len(), 1);
        assert_eq!(from_file[0].path, dir.path().join("b.png"));
        std::fs::remove_file(dir.path().join(SERIES_FILE)).unwrap();
        let listed = resolve(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = listed.iter().map(|s| s.path.file_name().unwrap()).collect();
        assert_eq!(names, ["2026-01-01.jpg", "b.png"]);
        assert!(listed.iter().all(|s| s.date.is_none()));
    }
}
