//! batch database: the SQLite file in the output folder that holds every run, every photo's
//! outcome, and the per-photo results (alignment, class map) a re-run reuses. Takes results,
//! gives them back by content hash; writes are one transaction per photo (or per series).
//!
//! Tables (see README "Batch database"):
//! - `runs`: one row per `batch` run (id, start/end time, tool version, model, settings, shard).
//! - `series`: one row per series: status, error, note, fingerprint of what it was measured from.
//! - `photos`: one row per input photo of a series: content sha256, status, failing stage, error.
//! - `alignments`: per (photo sha256, baseline sha256, alignment settings): the homography and
//!   its quality. `segmentations`: per (photo, baseline, settings, model sha256, scale): the class
//!   map in the baseline frame, as PNG.
//! - `metrics`: per series × session × metric: value, unit, change against baseline and
//!   whether it is within the metric's noise floor; and per later session the context rows
//!   [`FINE_DETAIL_RATIO`] (its focus against the baseline's) and
//!   [`SCAR_REGIONS_ONE_PHOTO_ONLY`].
//! - `work`: one row each time a photo was aligned or segmented (which run did the work).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::align::{AlignStatus, Alignment};
use crate::definitions::{ClassMap, Homography};
use crate::error::{Error, Result};
use crate::report::Report;

/// The database's file name inside the output folder.
pub const DB_FILE: &str = "skintrack.db";

/// Bumped when a table changes; an older file is refused rather than misread.
pub const DB_SCHEMA_VERSION: i64 = 1;
/// A `metrics` row that is context, not a metric: a later session's fine detail over the
/// baseline's (report.json's `focus.fine_detail_ratio`; unit `ratio`, no change columns).
pub const FINE_DETAIL_RATIO: &str = "fine_detail_ratio";
/// A context `metrics` row: how many scar regions a later session or its baseline has that the
/// other does not (report.json's `scar_turnover`, appeared + vanished; unit `count`), when
/// together they cover more than scar area's noise floor and the report asks to check them;
/// 0 otherwise.
pub const SCAR_REGIONS_ONE_PHOTO_ONLY: &str = "scar_regions_one_photo_only";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, tool_version TEXT NOT NULL,
    input TEXT NOT NULL, model_sha256 TEXT NOT NULL, settings TEXT NOT NULL, shard TEXT,
    status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    key TEXT PRIMARY KEY, patient TEXT NOT NULL, area TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT, note TEXT, fingerprint TEXT, sessions INTEGER NOT NULL DEFAULT 0,
    baseline TEXT, first_date TEXT, last_date TEXT, run_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    series_key TEXT NOT NULL, photo TEXT NOT NULL, sha256 TEXT, status TEXT NOT NULL,
    stage TEXT, error TEXT, date TEXT, session INTEGER, run_id TEXT NOT NULL,
    PRIMARY KEY (series_key, photo));
CREATE TABLE IF NOT EXISTS alignments (
    photo_sha256 TEXT NOT NULL, baseline_sha256 TEXT NOT NULL, settings TEXT NOT NULL,
    h BLOB NOT NULL, matches INTEGER NOT NULL, inliers INTEGER NOT NULL, rms_px REAL NOT NULL,
    overlap REAL NOT NULL, correlation REAL NOT NULL, status TEXT NOT NULL, reason TEXT,
    run_id TEXT NOT NULL,
    PRIMARY KEY (photo_sha256, baseline_sha256, settings));
CREATE TABLE IF NOT EXISTS segmentations (
    photo_sha256 TEXT NOT NULL, baseline_sha256 TEXT NOT NULL, settings TEXT NOT NULL,
    model_sha256 TEXT NOT NULL, scale TEXT NOT NULL, classes_png BLOB NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (photo_sha256, baseline_sha256, settings, model_sha256, scale));
CREATE TABLE IF NOT EXISTS metrics (
    series_key TEXT NOT NULL, session INTEGER NOT NULL, photo TEXT NOT NULL, date TEXT,
    metric TEXT NOT NULL, value REAL, unit TEXT NOT NULL, delta REAL, delta_pct REAL,
    within_noise INTEGER,
    PRIMARY KEY (series_key, session, metric));
CREATE TABLE IF NOT EXISTS work (
    run_id TEXT NOT NULL, series_key TEXT NOT NULL, photo TEXT NOT NULL,
    photo_sha256 TEXT NOT NULL, stage TEXT NOT NULL, at TEXT NOT NULL);
";

/// An open batch database.
pub struct Db {
    conn: Connection,
    path: std::path::PathBuf,
}

/// A photo's outcome for the `photos` table.
#[derive(Clone, Debug, Default)]
pub struct PhotoRow {
    pub photo: String,
    pub sha256: Option<String>,
    /// `ok` or `failed`.
    pub status: &'static str,
    /// Where a failed photo failed: `read`, `load`, `date`, `align`, `segment`.
    pub stage: Option<&'static str>,
    pub error: Option<String>,
    pub date: Option<String>,
}

/// A series' outcome for the `series` table.
#[derive(Clone, Debug, Default)]
pub struct SeriesRow {
    pub key: String,
    pub patient: String,
    pub area: String,
    /// `ok` or `failed`.
    pub status: &'static str,
    pub error: Option<String>,
    /// E.g. which photo became the baseline when the first one was unusable.
    pub note: Option<String>,
    pub fingerprint: Option<String>,
    pub sessions: usize,
    pub baseline: Option<String>,
    pub first_date: Option<String>,
    pub last_date: Option<String>,
}

/// The key of a cached class map.
pub struct SegmentKey<'a> {
    pub photo_sha256: &'a str,
    pub baseline_sha256: &'a str,
    pub settings: &'a str,
    pub model_sha256: &'a str,
    pub scale: &'a str,
}

fn sql_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: format!("database error: {e}"),
    }
}

impl Db {
    /// Opens (creating if missing) the database at `path`, in WAL mode.
    ///
    /// # Errors
    /// [`Error::Output`] when the file cannot be opened or created, is not a skintrack batch
    /// database, or has another schema version.
    pub fn open(path: &Path) -> Result<Db> {
        let conn = Connection::open(path).map_err(|e| sql_error(path, e))?;
        let db = Db {
            conn,
            path: path.to_path_buf(),
        };
        db.setup().map_err(|e| sql_error(path, e))?;
        let version: Option<String> = db
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(path, e))?;
        match version {
            None => {
                db.conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        [DB_SCHEMA_VERSION.to_string()],
                    )
                    .map_err(|e| sql_error(path, e))?;
            }
            Some(v) if v == DB_SCHEMA_VERSION.to_string() => {}
            Some(v) => {
                return Err(Error::Output {
                    path: path.to_path_buf(),
                    reason: format!(
                        "database schema version {v}, this skintrack reads version \
                         {DB_SCHEMA_VERSION} (use a new output folder)"
                    ),
                });
            }
        }
        Ok(db)
    }

    fn setup(&self) -> rusqlite::Result<()> {
        // WAL: readers (a progress check, the kill test) never block the writer, and a killed
        // writer leaves the last committed transaction intact.
        self.conn
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        self.conn.busy_timeout(std::time::Duration::from_secs(30))?;
        self.conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        self.conn.execute_batch(SCHEMA)
    }

    /// A database failure as an error naming this database's file.
    pub(crate) fn fail(&self, e: rusqlite::Error) -> Error {
        sql_error(&self.path, e)
    }

    /// Logs, inside `tx`, that this run computed `stage` for a photo (the `work` table: what a
    /// resumed run must not do again).
    fn log_work(
        &self,
        tx: &rusqlite::Transaction,
        run_id: &str,
        series_key: &str,
        photo: &str,
        photo_sha256: &str,
        stage: &str,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO work (run_id, series_key, photo, photo_sha256, stage, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run_id, series_key, photo, photo_sha256, stage, now()],
        )
        .map(drop)
        .map_err(|e| self.fail(e))
    }

    /// The underlying connection, for queries the other helpers do not cover (merge, tests).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Records the start of a run.
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    pub fn start_run(
        &self,
        id: &str,
        input: &str,
        model_sha256: &str,
        settings: &str,
        shard: Option<&str>,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO runs (id, started, tool_version, input, model_sha256, settings, \
                 shard, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running')",
                params![
                    id,
                    now(),
                    crate::VERSION,
                    input,
                    model_sha256,
                    settings,
                    shard
                ],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// Records the end of a run with its status (`done`, `done_with_failures`).
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    pub fn finish_run(&self, id: &str, status: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET finished = ?2, status = ?3 WHERE id = ?1",
                params![id, now(), status],
            )
            .map(|_| ())
            .map_err(|e| self.fail(e))
    }

    /// The fingerprint and status of a series, if it was recorded.
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    pub fn series_state(&self, key: &str) -> Result<Option<(Option<String>, String)>> {
        self.conn
            .query_row(
                "SELECT fingerprint, status FROM series WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// A cached alignment.
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure or an unreadable row.
    pub fn alignment(
        &self,
        photo: &str,
        baseline: &str,
        settings: &str,
    ) -> Result<Option<Alignment>> {
        self.conn
            .query_row(
                "SELECT h, matches, inliers, rms_px, overlap, correlation, status, reason \
                 FROM alignments WHERE photo_sha256 = ?1 AND baseline_sha256 = ?2 \
                 AND settings = ?3",
                params![photo, baseline, settings],
                |r| {
                    let h: Vec<u8> = r.get(0)?;
                    let status: String = r.get(6)?;
                    Ok((
                        h,
                        Alignment {
                            later_to_baseline: Homography::IDENTITY,
                            matches: r.get::<_, i64>(1)? as usize,
                            inliers: r.get::<_, i64>(2)? as usize,
                            rms_px: r.get(3)?,
                            overlap: r.get(4)?,
                            correlation: r.get(5)?,
                            status: match status.as_str() {
                                "ok" => AlignStatus::Ok,
                                "poor" => AlignStatus::Poor,
                                _ => AlignStatus::Failed,
                            },
                            reason: r.get(7)?,
                        },
                    ))
                },
            )
            .optional()
            .map_err(|e| self.fail(e))?
            .map(|(h, mut a)| {
                a.later_to_baseline = homography_from_blob(&h).ok_or_else(|| Error::Output {
                    path: self.path.clone(),
                    reason: "database holds a malformed homography".into(),
                })?;
                Ok(a)
            })
            .transpose()
    }

    /// A cached class map (PNG bytes).
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    pub fn segmentation(&self, key: &SegmentKey) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT classes_png FROM segmentations WHERE photo_sha256 = ?1 AND \
                 baseline_sha256 = ?2 AND settings = ?3 AND model_sha256 = ?4 AND scale = ?5",
                params![
                    key.photo_sha256,
                    key.baseline_sha256,
                    key.settings,
                    key.model_sha256,
                    key.scale
                ],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Replaces what is known of a series' photos by `photos`, forgetting photos no longer
    /// listed.
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    pub fn forget_photos_except(&self, series_key: &str, keep: &[String]) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.fail(e))?;
        let listed: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT photo FROM photos WHERE series_key = ?1")
                .map_err(|e| self.fail(e))?;
            stmt.query_map([series_key], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.fail(e))?
        };
        for photo in listed.iter().filter(|p| !keep.contains(p)) {
            tx.execute(
                "DELETE FROM photos WHERE series_key = ?1 AND photo = ?2",
                params![series_key, photo],
            )
            .map_err(|e| self.fail(e))?;
        }
        tx.commit().map_err(|e| self.fail(e))
    }

    /// Caches a newly computed alignment and logs the work, in one transaction.
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    #[allow(clippy::too_many_arguments)]
    pub fn record_alignment(
        &self,
        run_id: &str,
        series_key: &str,
        photo: &str,
        photo_sha256: &str,
        baseline_sha256: &str,
        settings: &str,
        a: &Alignment,
    ) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.fail(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO alignments (photo_sha256, baseline_sha256, settings, h, \
             matches, inliers, rms_px, overlap, correlation, status, reason, run_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                photo_sha256,
                baseline_sha256,
                settings,
                homography_blob(&a.later_to_baseline),
                a.matches as i64,
                a.inliers as i64,
                a.rms_px,
                a.overlap,
                a.correlation,
                a.status.as_str(),
                a.reason,
                run_id
            ],
        )
        .map_err(|e| self.fail(e))?;
        self.log_work(&tx, run_id, series_key, photo, photo_sha256, "align")?;
        tx.commit().map_err(|e| self.fail(e))
    }

    /// Records one photo's outcome and, in the same transaction, a newly computed class map
    /// (logged in `work`). A kill loses at most the photos whose transaction had not committed.
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    pub fn record_photo(
        &self,
        run_id: &str,
        series_key: &str,
        row: &PhotoRow,
        new_segmentation: Option<(&SegmentKey, &[u8])>,
    ) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.fail(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO photos (series_key, photo, sha256, status, stage, error, \
             date, session, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8)",
            params![
                series_key, row.photo, row.sha256, row.status, row.stage, row.error, row.date,
                run_id
            ],
        )
        .map_err(|e| self.fail(e))?;
        if let Some((key, png)) = new_segmentation {
            tx.execute(
                "INSERT OR REPLACE INTO segmentations (photo_sha256, baseline_sha256, settings, \
                 model_sha256, scale, classes_png, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.photo_sha256,
                    key.baseline_sha256,
                    key.settings,
                    key.model_sha256,
                    key.scale,
                    png,
                    run_id
                ],
            )
            .map_err(|e| self.fail(e))?;
            self.log_work(
                &tx,
                run_id,
                series_key,
                &row.photo,
                key.photo_sha256,
                "segment",
            )?;
        }
        tx.commit().map_err(|e| self.fail(e))
    }

    /// Records a series' outcome, its metrics (from `report`, replacing earlier ones) and the
    /// session index of each photo, in one transaction.
    ///
    /// # Errors
    /// [`Error::Output`] on a database failure.
    pub fn record_series(
        &self,
        run_id: &str,
        row: &SeriesRow,
        report: Option<(&Report, &[String])>,
    ) -> Result<()> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.fail(e))?;
        tx.execute(
            "INSERT OR REPLACE INTO series (key, patient, area, status, error, note, \
             fingerprint, sessions, baseline, first_date, last_date, run_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                row.key,
                row.patient,
                row.area,
                row.status,
                row.error,
                row.note,
                row.fingerprint,
                row.sessions as i64,
                row.baseline,
                row.first_date,
                row.last_date,
                run_id
            ],
        )
        .map_err(|e| self.fail(e))?;
        tx.execute("DELETE FROM metrics WHERE series_key = ?1", [&row.key])
            .map_err(|e| self.fail(e))?;
        if let Some((report, photos)) = report {
            for metric in &report.metrics {
                for v in &metric.values {
                    let session = &report.sessions[v.session];
                    tx.execute(
                        "INSERT INTO metrics (series_key, session, photo, date, metric, value, \
                         unit, delta, delta_pct, within_noise) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![
                            row.key,
                            v.session as i64,
                            photos.get(v.session).cloned().unwrap_or_default(),
                            session.date,
                            metric.name,
                            finite(v.value),
                            metric.unit,
                            finite(v.delta),
                            v.delta_pct.and_then(finite),
                            v.within_noise
                        ],
                    )
                    .map_err(|e| self.fail(e))?;
                }
            }
            // Context rows of each later session: its focus against the baseline's, and its
            // scar regions seen in one photo only.
            for session in &report.sessions {
                let focus = session
                    .focus
                    .as_ref()
                    .map(|f| (FINE_DETAIL_RATIO, finite(f.fine_detail_ratio), "ratio"));
                let turnover = session.scar_turnover.as_ref().map(|t| {
                    let regions = t.regions_to_check() as f64;
                    (SCAR_REGIONS_ONE_PHOTO_ONLY, Some(regions), "count")
                });
                for (metric, value, unit) in focus.into_iter().chain(turnover) {
                    tx.execute(
                        "INSERT INTO metrics (series_key, session, photo, date, metric, value, \
                         unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            row.key,
                            session.index as i64,
                            photos.get(session.index).cloned().unwrap_or_default(),
                            session.date,
                            metric,
                            value,
                            unit,
                        ],
                    )
                    .map_err(|e| self.fail(e))?;
                }
            }
            for (i, photo) in photos.iter().enumerate() {
                tx.execute(
                    "UPDATE photos SET session = ?3 WHERE series_key = ?1 AND photo = ?2",
                    params![row.key, photo, i as i64],
                )
                .map_err(|e| self.fail(e))?;
            }
        }
        tx.commit().map_err(|e| self.fail(e))
    }
}

/// SQLite stores NaN as NULL anyway; say so explicitly.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Row-major 3×3 as 72 little-endian bytes: exact, unlike a decimal text round trip.
fn homography_blob(h: &Homography) -> Vec<u8> {
    h.0.iter().flatten().flat_map(|v| v.to_le_bytes()).collect()
}

fn homography_from_blob(bytes: &[u8]) -> Option<Homography> {
    if bytes.len() != 72 {
        return None;
    }
    let mut m = [[0.0; 3]; 3];
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        m[i / 3][i % 3] = f64::from_le_bytes(chunk.try_into().ok()?);
    }
    Some(Homography(m))
}

/// A class map as PNG bytes (grey, values 0–2): lossless and small.
///
/// # Errors
/// The encoder's message.
pub fn encode_classes(classes: &ClassMap) -> std::result::Result<Vec<u8>, String> {
    use image::ImageEncoder as _;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(
            classes.as_raw(),
            classes.width(),
            classes.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| format!("cannot encode class map: {e}"))?;
    Ok(bytes)
}

/// The class map of [`encode_classes`] bytes.
///
/// # Errors
/// The decoder's message (a damaged database row).
pub fn decode_classes(bytes: &[u8]) -> std::result::Result<ClassMap, String> {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map(|i| i.to_luma8())
        .map_err(|e| format!("cannot decode a cached class map: {e}"))
}

/// Local time, ISO 8601, for the run log.
pub fn now() -> String {
    chrono::Local::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homographies_and_class_maps_round_trip_exactly() {
        let h = Homography([
            [1.0 / 3.0, 1e-17, -4.5],
            [0.1, 0.9, 7.0],
            [1e-6, -2e-7, 1.0],
        ]);
        assert_eq!(homography_from_blob(&homography_blob(&h)), Some(h));
        assert_eq!(homography_from_blob(&[0; 71]), None);
        let mut classes = ClassMap::new(7, 5);
        classes.put_pixel(3, 2, image::Luma([2]));
        classes.put_pixel(0, 4, image::Luma([1]));
        let back = decode_classes(&encode_classes(&classes).unwrap()).unwrap();
        assert_eq!(back, classes);
    }

    #[test]
    fn a_photo_and_its_work_commit_together_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join(DB_FILE)).unwrap();
        let alignment = Alignment {
            later_to_baseline: Homography([[1.0, 0.0, 2.5], [0.0, 1.0, -1.25], [0.0, 0.0, 1.0]]),
            matches: 40,
            inliers: 30,
            rms_px: 0.7,
            overlap: 0.9,
            correlation: 0.8,
            status: AlignStatus::Ok,
            reason: None,
        };
        let row = PhotoRow {
            photo: "p/a/x.jpg".into(),
            sha256: Some("abc".into()),
            status: "ok",
            ..Default::default()
        };
        let key = SegmentKey {
            photo_sha256: "abc",
            baseline_sha256: "base",
            settings: "s",
            model_sha256: "m",
            scale: "none",
        };
        db.record_alignment("r1", "p/a", &row.photo, "abc", "base", "s", &alignment)
            .unwrap();
        db.record_photo("r1", "p/a", &row, Some((&key, b"png")))
            .unwrap();
        let back = db.alignment("abc", "base", "s").unwrap().unwrap();
        assert_eq!(back.later_to_baseline, alignment.later_to_baseline);
        assert_eq!((back.inliers, back.status), (30, AlignStatus::Ok));
        assert_eq!(db.segmentation(&key).unwrap().unwrap(), b"png");
        assert!(db.alignment("abc", "other", "s").unwrap().is_none());
        let work: i64 = db
            .conn()
            .query_row("SELECT COUNT(*) FROM work WHERE run_id = 'r1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(work, 2);
        // Reopening keeps everything and accepts the schema.
        drop(db);
        let db = Db::open(&dir.path().join(DB_FILE)).unwrap();
        assert!(db.segmentation(&key).unwrap().is_some());
    }
}
