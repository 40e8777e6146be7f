//! batch stage: takes a clinic's photos (a folder tree `CLINIC/<patient>/<area>/<photo>` or a
//! `manifest.csv`) and gives one report folder per series (`OUT/<patient>/<area>/`, the same
//! files as `track`), a clinic summary (`summary.csv`, `summary.html`) and a SQLite database
//! (`skintrack.db`) of every photo's outcome.
//!
//! Series run in parallel (rayon), each photo's alignment and class map is committed to the
//! database as soon as it is computed, and a re-run reuses them: a photo is aligned and
//! segmented again only when its content, the baseline, the model or a setting that affects it
//! changed, and a series whose inputs and settings are unchanged is skipped entirely. Photos
//! that cannot be used are recorded with the reason and the run goes on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::align::{AlignStatus, Alignment};
use crate::calibration::Target;
use crate::definitions::ClassMap;
use crate::error::{Error, Result};
use crate::inputs::SessionInput;
use crate::load::{self, DateSource, Photo};
use crate::report::{self, StageTimings};
use crate::segment::Model;
use crate::series::{self, SeriesOptions, SessionAlignment};

pub mod db;
pub mod discover;
pub mod progress;
pub mod summary;

pub use db::{DB_FILE, Db};
pub use discover::{SeriesSpec, discover, read_manifest, shard_of};
pub use progress::{Progress, ProgressMode};

/// Options of a batch run.
#[derive(Clone, Debug, Default)]
pub struct BatchOptions {
    /// Applied to every series (`name` is set per series to `patient/area`).
    pub series: SeriesOptions,
    /// Process only shard `k` of `n` (0-based): the series whose key hashes to `k`.
    pub shard: Option<(u32, u32)>,
    pub progress: ProgressMode,
}

/// What a batch run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BatchOutcome {
    pub run_id: String,
    /// Series in this run's scope (its shard).
    pub series: usize,
    pub series_ok: usize,
    pub series_failed: usize,
    /// Series skipped because nothing they depend on changed.
    pub series_unchanged: usize,
    pub photos: usize,
    /// Photos aligned or segmented in this run.
    pub photos_processed: usize,
    /// Photos whose alignment and class map came from the database.
    pub photos_cached: usize,
    pub photos_failed: usize,
}

impl BatchOutcome {
    /// Whether some input could not be used (a photo or a whole series): exit code 3.
    pub fn inputs_failed(&self) -> bool {
        self.series_failed > 0 || self.photos_failed > 0
    }
}

/// Everything a series job needs.
struct Ctx<'a> {
    root: &'a Path,
    out: &'a Path,
    db: &'a Mutex<Db>,
    model: &'a Model,
    opts: &'a SeriesOptions,
    run_id: &'a str,
    /// Fingerprint of the alignment settings (and tool version).
    align_key: String,
    /// Fingerprint of everything a series' report depends on besides its photos.
    settings_key: String,
    progress: &'a Progress,
}

impl Ctx<'_> {
    fn db<T>(&self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        // A poisoned lock means another worker panicked mid-write: SQLite rolled the
        // transaction back, so the connection itself is still sound.
        let guard = self.db.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }
}

/// The outcome of one series.
#[derive(Default)]
struct SeriesOutcome {
    ok: bool,
    unchanged: bool,
    photos: usize,
    processed: usize,
    cached: usize,
    failed: usize,
}

/// Runs a batch: lists `input`, processes every series of the shard into `out` and writes the
/// summary. Per-photo and per-series failures are recorded (see [`BatchOutcome::inputs_failed`]),
/// not returned.
///
/// # Errors
/// The input cannot be listed or a manifest is invalid ([`Error::Input`], naming the line), the
/// output folder or database cannot be written ([`Error::Output`]).
pub fn run(input: &Path, out: &Path, model: &Model, opts: &BatchOptions) -> Result<BatchOutcome> {
    let found = discover(input, Some(out))?;
    let series: Vec<SeriesSpec> = match opts.shard {
        Some((k, n)) => found
            .series
            .into_iter()
            .filter(|s| shard_of(&s.key(), n) == k)
            .collect(),
        None => found.series,
    };
    std::fs::create_dir_all(out).map_err(|e| Error::Output {
        path: out.to_path_buf(),
        reason: format!("cannot create folder: {e}"),
    })?;
    let db = Db::open(&out.join(DB_FILE))?;
    let run_id = format!(
        "{}-{}",
        chrono::Local::now().format("%Y%m%dT%H%M%S%.6f"),
        std::process::id()
    );
    let settings_key = settings_key(&opts.series, model);
    db.start_run(
        &run_id,
        &input.display().to_string(),
        model.sha256(),
        &settings_key,
        opts.shard.map(|(k, n)| format!("{k}/{n}")).as_deref(),
    )?;
    let db = Mutex::new(db);
    let photos: usize = series.iter().map(|s| s.sessions.len()).sum();
    let progress = Progress::new(opts.progress, series.len(), photos);
    let ctx = Ctx {
        root: &found.root,
        out,
        db: &db,
        model,
        opts: &opts.series,
        run_id: &run_id,
        align_key: align_key(&opts.series),
        settings_key,
        progress: &progress,
    };
    let run_one = |spec: &SeriesSpec| {
        let outcome = process_series(spec, &ctx)?;
        progress.series_done(&spec.key(), &outcome_text(&outcome));
        Ok(outcome)
    };
    // Small series run side by side; large ones one at a time, each using every worker
    // inside (its photos are aligned and segmented in parallel), so that peak memory stays
    // that of one large series.
    let (large, small): (Vec<&SeriesSpec>, Vec<&SeriesSpec>) = series
        .iter()
        .partition(|spec| series_megapixels(spec) > LARGE_SERIES_MEGAPIXELS);
    let mut outcomes = small
        .into_par_iter()
        .map(run_one)
        .collect::<Result<Vec<SeriesOutcome>>>()?;
    for spec in large {
        outcomes.push(run_one(spec)?);
    }
    progress.finish();
    let mut total = BatchOutcome {
        run_id: run_id.clone(),
        series: series.len(),
        photos,
        ..Default::default()
    };
    for o in &outcomes {
        total.series_ok += usize::from(o.ok);
        total.series_failed += usize::from(!o.ok);
        total.series_unchanged += usize::from(o.unchanged);
        total.photos_processed += o.processed;
        total.photos_cached += o.cached;
        total.photos_failed += o.failed;
    }
    let db = db.into_inner().unwrap_or_else(|p| p.into_inner());
    remove_stale_temporaries(out);
    summary::write(&db, out)?;
    db.finish_run(
        &run_id,
        if total.inputs_failed() {
            "done_with_failures"
        } else {
            "done"
        },
    )?;
    Ok(total)
}

/// A series whose photos hold more pixels than this in all (from the file headers) is "large":
/// measured, a series needs about 19 MB per megapixel of its photos at its peak, and two
/// series of 2 × 24 MP side by side peaked at 1.86 GiB (issue 6 limit: 1.5 GB).
const LARGE_SERIES_MEGAPIXELS: f64 = 32.0;

/// Megapixels of a series' photos, read from the file headers only (an unreadable photo
/// counts 0: it fails later with its reason).
fn series_megapixels(spec: &SeriesSpec) -> f64 {
    spec.sessions
        .iter()
        .filter_map(|s| {
            // By content, as loading does: a photo may carry the wrong extension.
            image::ImageReader::open(&s.path)
                .and_then(|r| r.with_guessed_format())
                .ok()?
                .into_dimensions()
                .ok()
        })
        .map(|(w, h)| w as f64 * h as f64 / 1e6)
        .sum()
}

fn outcome_text(o: &SeriesOutcome) -> String {
    let status = match (o.ok, o.unchanged) {
        (true, true) => "unchanged",
        (true, false) => "ok",
        (false, _) => "FAILED",
    };
    if o.failed > 0 {
        format!("{status}, {} photos ({} unusable)", o.photos, o.failed)
    } else {
        format!("{status}, {} photos", o.photos)
    }
}

fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// What an alignment depends on besides the two photos: the tool version and its options.
fn align_key(opts: &SeriesOptions) -> String {
    short_hash(&format!(
        "{}|{:?}|{:?}",
        crate::VERSION,
        opts.align,
        opts.load
    ))
}

/// What a series' report depends on besides its photos: the tool version, every option and
/// the model.
fn settings_key(opts: &SeriesOptions, model: &Model) -> String {
    short_hash(&format!(
        "{}|{opts:?}|{}|{}|{}",
        crate::VERSION,
        model.sha256(),
        model.tile_size(),
        model.decision_key()
    ))
}

/// A scale as exact text for cache keys.
fn scale_key(scale: Option<f64>) -> String {
    scale.map_or_else(|| "none".into(), |v| format!("{:016x}", v.to_bits()))
}

/// One listed photo of a series, read but not yet decoded.
struct Listed {
    input: SessionInput,
    /// Path relative to the batch input's folder, as recorded.
    rel: String,
    bytes: Option<Vec<u8>>,
    sha256: Option<String>,
    /// Why it cannot be read.
    error: Option<String>,
}

/// A decoded photo of a series with what is known of it.
struct Usable {
    listed: usize,
    photo: Photo,
}

fn rel_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn process_series(spec: &SeriesSpec, ctx: &Ctx) -> Result<SeriesOutcome> {
    let key = spec.key();
    let mut outcome = SeriesOutcome {
        photos: spec.sessions.len(),
        ..Default::default()
    };
    let base_row = db::SeriesRow {
        key: key.clone(),
        patient: spec.patient.clone(),
        area: spec.area.clone(),
        ..Default::default()
    };
    if let Some(error) = &spec.error {
        ctx.db(|db| {
            db.forget_photos_except(&key, &[])?;
            db.record_series(
                ctx.run_id,
                &db::SeriesRow {
                    status: "failed",
                    error: Some(error.clone()),
                    ..base_row.clone()
                },
                None,
            )
        })?;
        return Ok(outcome);
    }

    // Read and hash every photo: the content hash keys everything cached.
    let started = Instant::now();
    let listed: Vec<Listed> = spec
        .sessions
        .par_iter()
        .map(|input| {
            let rel = rel_name(ctx.root, &input.path);
            match read_photo_file(&input.path) {
                Ok(bytes) => Listed {
                    input: input.clone(),
                    rel,
                    sha256: Some(crate::segment::sha256_hex(&bytes)),
                    bytes: Some(bytes),
                    error: None,
                },
                Err(reason) => Listed {
                    input: input.clone(),
                    rel,
                    bytes: None,
                    sha256: None,
                    error: Some(reason),
                },
            }
        })
        .collect();
    let fingerprint = series_fingerprint(ctx, &listed);
    let series_out = ctx.out.join(&spec.patient).join(&spec.area);
    let previous = ctx.db(|db| db.series_state(&key))?;
    if let Some((Some(old), status)) = previous
        && old == fingerprint
        && (status == "failed" || series_out.join(report::JSON_FILE).is_file())
    {
        let failed = ctx.db(|db| {
            db.conn()
                .query_row(
                    "SELECT COUNT(*) FROM photos WHERE series_key = ?1 AND status = 'failed'",
                    [&key],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(|e| Error::Output {
                    path: ctx.out.join(DB_FILE),
                    reason: format!("database error: {e}"),
                })
        })?;
        ctx.progress.photos_done(listed.len());
        return Ok(SeriesOutcome {
            ok: status == "ok",
            unchanged: true,
            cached: listed.len() - failed as usize,
            failed: failed as usize,
            ..outcome
        });
    }
    let rels: Vec<String> = listed.iter().map(|l| l.rel.clone()).collect();
    ctx.db(|db| db.forget_photos_except(&key, &rels))?;

    // Decode; a photo that cannot be used is recorded now and left out.
    let decoded: Vec<std::result::Result<Photo, (&'static str, String)>> = listed
        .par_iter()
        .map(|l| {
            let Some(bytes) = &l.bytes else {
                return Err(("read", l.error.clone().unwrap_or_default()));
            };
            let mut photo = load::load_photo_bytes(bytes, &l.rel, &ctx.opts.load)
                .map_err(|e| ("load", load_reason(e)))?;
            photo.path = l.input.path.clone();
            photo.name = load::file_name(&l.input.path);
            if l.input.date.is_some() {
                photo.date = l.input.date;
                photo.date_source = DateSource::SeriesFile;
            }
            Ok(photo)
        })
        .collect();
    let mut timings = StageTimings {
        load: ms(started),
        ..Default::default()
    };
    let mut failed: Vec<(usize, &'static str, String)> = Vec::new();
    let mut usable: Vec<Usable> = Vec::new();
    for (i, d) in decoded.into_iter().enumerate() {
        match d {
            Ok(photo) => usable.push(Usable { listed: i, photo }),
            Err((stage, reason)) => failed.push((i, stage, reason)),
        }
    }
    // Date order when every usable photo has a date (else the listed order, by file name, as
    // `track` does); of two photos on one date the later-listed one is left out.
    if usable.iter().all(|u| u.photo.date.is_some()) {
        usable.sort_by_key(|u| (u.photo.date, u.listed));
        let mut kept: Vec<Usable> = Vec::with_capacity(usable.len());
        for u in usable {
            match kept.last() {
                Some(prev) if prev.photo.date == u.photo.date => {
                    let reason = format!(
                        "has the same date ({}) as {}: one photo per session (list the \
                         sessions in a series.csv or manifest to choose)",
                        u.photo.date.map(|d| d.to_string()).unwrap_or_default(),
                        listed[prev.listed].rel
                    );
                    failed.push((u.listed, "date", reason));
                }
                _ => kept.push(u),
            }
        }
        usable = kept;
    }
    for (i, stage, reason) in &failed {
        let row = failed_row(&listed[*i], stage, reason.clone());
        ctx.db(|db| db.record_photo(ctx.run_id, &key, &row, None))?;
        ctx.progress.photos_done(1);
    }
    outcome.failed = failed.len();

    if usable.is_empty() {
        ctx.db(|db| {
            db.record_series(
                ctx.run_id,
                &db::SeriesRow {
                    status: "failed",
                    error: Some("no usable photo in this series".into()),
                    fingerprint: Some(fingerprint.clone()),
                    ..base_row.clone()
                },
                None,
            )
        })?;
        return Ok(outcome);
    }

    // The baseline is the first photo that a later one aligns onto; a first photo nothing
    // aligns with (unrelated, or too different) is left out and the next one is tried.
    let started = Instant::now();
    let mut chosen: Option<(usize, Vec<(Alignment, bool)>)> = None;
    let mut first_try: Option<Vec<(Alignment, bool)>> = None;
    // Photos this run aligned or segmented (the rest came from the database).
    let mut worked = std::collections::HashSet::new();
    for b in 0..usable.len() {
        let later = &usable[b + 1..];
        if later.is_empty() {
            break;
        }
        let alignments = later
            .par_iter()
            .map(|u| alignment_for(ctx, &key, &listed, &usable[b], u))
            .collect::<Result<Vec<_>>>()?;
        for (u, (_, new)) in later.iter().zip(&alignments) {
            if *new {
                worked.insert(u.listed);
            }
        }
        if alignments
            .iter()
            .any(|(a, _)| a.status != AlignStatus::Failed)
        {
            chosen = Some((b, alignments));
            break;
        }
        if first_try.is_none() {
            first_try = Some(alignments);
        }
    }
    let (b, later_alignments) = match (chosen, first_try) {
        (Some(c), _) => c,
        (None, Some(first)) => (0, first),
        (None, None) => (0, Vec::new()),
    };
    for skipped in &usable[..b] {
        let reason = "no later session aligns with it (unusable as the baseline; the next \
                      photo is the baseline)"
            .to_string();
        let row = failed_row(&listed[skipped.listed], "align", reason.clone());
        ctx.db(|db| db.record_photo(ctx.run_id, &key, &row, None))?;
        ctx.progress.photos_done(1);
        failed.push((skipped.listed, "align", reason));
    }
    let mut usable: Vec<Usable> = usable.drain(b..).collect();
    // Sessions: the baseline, then every later photo that aligned, directly or (as `track`
    // does) onto the nearest earlier session that did, the two transforms composed.
    let mut rest = usable.drain(..);
    let Some(base) = rest.next() else {
        return Ok(outcome);
    };
    let mut sessions: Vec<(Usable, Option<SessionAlignment>)> = vec![(base, None)];
    for (u, (direct, _)) in rest.zip(later_alignments) {
        if direct.status != AlignStatus::Failed {
            sessions.push((u, Some((direct, None))));
            continue;
        }
        let mut chained = None;
        for j in (1..sessions.len()).rev() {
            let (via, Some((to_base, _))) = &sessions[j] else {
                continue;
            };
            let (step, new) = step_alignment_for(ctx, &key, &listed, via, &u)?;
            if new {
                worked.insert(u.listed);
            }
            if step.status != AlignStatus::Failed {
                chained = Some(series::chain(to_base, step, j));
                break;
            }
        }
        match chained {
            Some(found) => sessions.push((u, Some(found))),
            None => {
                let reason = format!(
                    "cannot align onto baseline {}: {}",
                    listed[sessions[0].0.listed].rel,
                    direct
                        .reason
                        .clone()
                        .unwrap_or_else(|| "alignment failed".into())
                );
                let row = failed_row(&listed[u.listed], "align", reason.clone());
                ctx.db(|db| db.record_photo(ctx.run_id, &key, &row, None))?;
                ctx.progress.photos_done(1);
                failed.push((u.listed, "align", reason));
            }
        }
    }
    timings.align = ms(started);

    // Segment (or take the cached class map) and commit each photo as it is done.
    let started = Instant::now();
    let baseline = &sessions[0].0;
    let baseline_sha = listed[baseline.listed].sha256.clone().unwrap_or_default();
    let targets: Vec<Option<Target>> = sessions
        .par_iter()
        .map(|(u, _)| series::find_target(&u.photo, ctx.opts))
        .collect();
    let scale = series::baseline_scale(
        ctx.opts,
        &listed[baseline.listed].input,
        targets[0].as_ref(),
    );
    let baseline_size = baseline.photo.image.dimensions();
    let classes: Vec<std::result::Result<(ClassMap, bool), String>> = sessions
        .par_iter()
        .zip(&targets)
        .map(|((u, alignment), target)| {
            let l = &listed[u.listed];
            let sha = l.sha256.clone().unwrap_or_default();
            let alignment = alignment.as_ref().map(|(a, _)| a);
            let scale_text = scale_key(series::session_scale(
                &u.photo,
                &l.input,
                alignment,
                target.as_ref(),
                scale,
                ctx.opts,
            ));
            // The class map is warped by the homography, which may come through a chain:
            // key it by its exact value.
            let warp = alignment.map_or_else(
                || "identity".into(),
                |a| homography_key(&a.later_to_baseline),
            );
            let settings = format!(
                "{}|{warp}|{}|{}",
                ctx.align_key,
                series::SEGMENTATION_METHOD,
                ctx.model.decision_key()
            );
            let seg_key = db::SegmentKey {
                photo_sha256: &sha,
                baseline_sha256: &baseline_sha,
                settings: &settings,
                model_sha256: ctx.model.sha256(),
                scale: &scale_text,
            };
            let cached = ctx.db(|db| db.segmentation(&seg_key))?;
            let ok_row = db::PhotoRow {
                photo: l.rel.clone(),
                sha256: Some(sha.clone()),
                status: "ok",
                date: u.photo.date.map(|d| d.to_string()),
                ..Default::default()
            };
            if let Some(png) = cached
                && let Ok(classes) = db::decode_classes(&png)
                && classes.dimensions() == baseline_size
            {
                ctx.db(|db| db.record_photo(ctx.run_id, &key, &ok_row, None))?;
                ctx.progress.photos_done(1);
                return Ok(Ok((classes, false)));
            }
            let computed = series::segment_session(
                &u.photo,
                &l.input,
                alignment,
                target.as_ref(),
                scale,
                &baseline.photo.image,
                ctx.model,
                ctx.opts,
            );
            let result = match computed {
                Ok(classes) => {
                    let png = db::encode_classes(&classes).map_err(|reason| Error::Output {
                        path: ctx.out.join(DB_FILE),
                        reason,
                    })?;
                    ctx.db(|db| {
                        db.record_photo(ctx.run_id, &key, &ok_row, Some((&seg_key, &png)))
                    })?;
                    Ok((classes, true))
                }
                Err(e) => {
                    let reason = e.to_string();
                    let row = failed_row(l, "segment", reason.clone());
                    ctx.db(|db| db.record_photo(ctx.run_id, &key, &row, None))?;
                    Err(reason)
                }
            };
            ctx.progress.photos_done(1);
            Ok(result)
        })
        .collect::<Result<_>>()?;
    timings.segment = ms(started);

    let mut kept_photos = Vec::new();
    let mut kept_inputs = Vec::new();
    let mut kept_alignments = Vec::new();
    let mut kept_classes = Vec::new();
    let mut kept_names = Vec::new();
    let mut kept_listed = Vec::new();
    let mut kept_targets = Vec::new();
    let mut baseline_failed = None;
    // Session index before → after leaving out photos that could not be segmented.
    let mut new_index = vec![None; sessions.len()];
    let sessions_targets = sessions.into_iter().zip(targets);
    for (i, (((u, alignment), target), c)) in sessions_targets.zip(classes).enumerate() {
        match c {
            Ok((classes, new)) => {
                new_index[i] = Some(kept_photos.len());
                if new {
                    worked.insert(u.listed);
                }
                kept_names.push(listed[u.listed].rel.clone());
                kept_listed.push(u.listed);
                kept_inputs.push(listed[u.listed].input.clone());
                kept_photos.push(u.photo);
                kept_alignments.push(alignment);
                kept_classes.push(classes);
                kept_targets.push(target);
            }
            Err(reason) => {
                if i == 0 {
                    baseline_failed = Some(reason.clone());
                }
                failed.push((u.listed, "segment", reason));
            }
        }
    }
    for (_, via) in kept_alignments.iter_mut().flatten() {
        // A chain stays valid through a session left out later; the report then names none.
        *via = via.and_then(|j| new_index[j]);
    }
    outcome.failed = failed.len();
    outcome.processed = worked.len();
    outcome.cached = kept_listed.iter().filter(|i| !worked.contains(i)).count();

    // The series' own ROI (its rows' `roi`) before the run's `--roi`.
    let series_roi = crate::inputs::series_roi(&spec.sessions);
    let roi = series_roi.or(ctx.opts.roi);
    let (note, before_baseline) = baseline_note(
        &listed,
        &failed,
        kept_names.first(),
        &kept_photos,
        roi.is_some(),
    )
    .unzip();
    let before_baseline = before_baseline.unwrap_or_default();
    let measured = match baseline_failed {
        Some(reason) => Err(format!("the baseline could not be segmented: {reason}")),
        None => {
            let opts = SeriesOptions {
                name: Some(key.clone()),
                roi,
                roi_origin: series_roi.map(|_| format!("{key}'s roi column")),
                ..ctx.opts.clone()
            };
            series::measure_prepared(
                kept_photos,
                &kept_inputs,
                &kept_alignments,
                kept_classes,
                &kept_targets,
                ctx.model,
                &opts,
                timings,
            )
            .map_err(|e| e.to_string())
        }
    };
    let mut result = match measured {
        Ok(result) => result,
        Err(error) => {
            ctx.db(|db| {
                db.record_series(
                    ctx.run_id,
                    &db::SeriesRow {
                        status: "failed",
                        error: Some(error),
                        note,
                        fingerprint: Some(fingerprint.clone()),
                        ..base_row.clone()
                    },
                    None,
                )
            })?;
            return Ok(outcome);
        }
    };
    // The series' own report says what the batch left out, not only the clinic summary.
    // (Photos the baseline note already names are not listed twice.)
    result.report.notes.extend(note.clone());
    result.report.notes.extend(
        failed
            .iter()
            .filter(|(i, _, _)| !before_baseline.contains(i))
            .map(|(i, stage, reason)| format!("left out {} ({stage}: {reason})", listed[*i].rel)),
    );
    remove_stale_temporaries(&series_out);
    report::write_all(&result.report, &result.visuals, &series_out)?;
    let dates: Vec<&String> = result
        .report
        .sessions
        .iter()
        .filter_map(|s| s.date.as_ref())
        .collect();
    ctx.db(|db| {
        db.record_series(
            ctx.run_id,
            &db::SeriesRow {
                status: "ok",
                note,
                fingerprint: Some(fingerprint.clone()),
                sessions: result.report.sessions.len(),
                baseline: kept_names.first().cloned(),
                first_date: dates.first().map(|d| d.to_string()),
                last_date: dates.last().map(|d| d.to_string()),
                ..base_row.clone()
            },
            Some((&result.report, &kept_names)),
        )
    })?;
    outcome.ok = true;
    Ok(outcome)
}

/// A homography as exact text (its bits, hashed) for cache keys.
fn homography_key(h: &crate::definitions::Homography) -> String {
    let bits: Vec<String> =
        h.0.iter()
            .flatten()
            .map(|v| format!("{:016x}", v.to_bits()))
            .collect();
    short_hash(&bits.join(","))
}

/// The cached alignment of `later` onto the earlier session `via` (a step of a chain), or a
/// new one (committed at once).
fn step_alignment_for(
    ctx: &Ctx,
    key: &str,
    listed: &[Listed],
    via: &Usable,
    later: &Usable,
) -> Result<(Alignment, bool)> {
    let via_sha = listed[via.listed].sha256.as_deref().unwrap_or_default();
    let l = &listed[later.listed];
    let sha = l.sha256.as_deref().unwrap_or_default();
    let settings = format!("{}|step", ctx.align_key);
    if let Some(a) = ctx.db(|db| db.alignment(sha, via_sha, &settings))? {
        return Ok((a, false));
    }
    let a = crate::align::align(&via.photo.image, &later.photo.image, &ctx.opts.align);
    ctx.db(|db| db.record_alignment(ctx.run_id, key, &l.rel, sha, via_sha, &settings, &a))?;
    Ok((a, true))
}

/// The cached direct alignment of `later` onto `baseline`, or a new one (committed at once).
fn alignment_for(
    ctx: &Ctx,
    key: &str,
    listed: &[Listed],
    baseline: &Usable,
    later: &Usable,
) -> Result<(Alignment, bool)> {
    let base_sha = listed[baseline.listed]
        .sha256
        .as_deref()
        .unwrap_or_default();
    let l = &listed[later.listed];
    let sha = l.sha256.as_deref().unwrap_or_default();
    if let Some(a) = ctx.db(|db| db.alignment(sha, base_sha, &ctx.align_key))? {
        return Ok((a, false));
    }
    let a = series::align_session(&baseline.photo, &later.photo, ctx.opts);
    ctx.db(|db| db.record_alignment(ctx.run_id, key, &l.rel, sha, base_sha, &ctx.align_key, &a))?;
    Ok((a, true))
}

/// When photos dated before the baseline were unusable, the series says which photo became
/// the baseline instead; with the indices (into `listed`) of those photos.
fn baseline_note(
    listed: &[Listed],
    failed: &[(usize, &'static str, String)],
    baseline_name: Option<&String>,
    photos: &[Photo],
    roi_applies: bool,
) -> Option<(String, Vec<usize>)> {
    let base_date = photos.first()?.date;
    let earlier: Vec<(usize, String)> = failed
        .iter()
        .filter(|(i, _, _)| {
            let l = &listed[*i];
            let date = l
                .input
                .date
                .or_else(|| load::date_in_name(&load::file_name(&l.input.path)));
            matches!((date, base_date), (Some(d), Some(b)) if d < b)
        })
        .map(|(i, _, reason)| (*i, format!("{} ({reason})", listed[*i].rel)))
        .collect();
    if earlier.is_empty() {
        return None;
    }
    let mut text = format!(
        "baseline is {}: earlier photo{} unusable: {}",
        baseline_name?,
        if earlier.len() > 1 { "s" } else { "" },
        earlier
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    // An ROI is given in the baseline's pixels: say which photo's they now are.
    if roi_applies {
        text.push_str(&format!("; the ROI is read in {}'s pixels", baseline_name?));
    }
    Some((text, earlier.into_iter().map(|(i, _)| i).collect()))
}

fn failed_row(l: &Listed, stage: &'static str, reason: String) -> db::PhotoRow {
    db::PhotoRow {
        photo: l.rel.clone(),
        sha256: l.sha256.clone(),
        status: "failed",
        stage: Some(stage),
        error: Some(reason),
        date: l.input.date.map(|d| d.to_string()),
    }
}

/// The loader's reason without the file name (the photo column names the file).
fn load_reason(e: Error) -> String {
    match e {
        Error::Load { reason, .. } => format!("cannot load photo: {reason}"),
        other => other.to_string(),
    }
}

/// Reads a photo file, refusing what `load_photo` refuses before reading.
fn read_photo_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file, expected a photo file".into());
    }
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}

/// Everything a series' report depends on: settings, model, and per photo its name, content
/// and what the series file or manifest said about it.
fn series_fingerprint(ctx: &Ctx, listed: &[Listed]) -> String {
    let mut text = format!("{}|{}", ctx.settings_key, ctx.align_key);
    for l in listed {
        text.push_str(&format!(
            "\n{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            l.rel, l.sha256, l.error, l.input.date, l.input.px_per_mm, l.input.label, l.input.notes
        ));
        // Only when given, so that the series of databases written before the column keep
        // their fingerprints (and are not measured again for nothing).
        if let Some(roi) = l.input.roi {
            text.push_str(&format!("|roi {roi:?}"));
        }
    }
    short_hash(&text)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// What `skintrack merge` did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MergeOutcome {
    pub databases: usize,
    pub series: usize,
    pub series_failed: usize,
    pub photos_failed: usize,
}

impl MergeOutcome {
    /// Whether the merged results hold unusable inputs: exit code 3.
    pub fn inputs_failed(&self) -> bool {
        self.series_failed > 0 || self.photos_failed > 0
    }
}

/// Combines shard databases into `out`'s database, copies each shard's series report folders
/// (from the folder holding its database) into `out`, and writes the summary. A series present
/// in several shards takes the last one's results.
///
/// # Errors
/// [`Error::Input`] for a shard database that is missing or not a skintrack batch database,
/// [`Error::Output`] when `out` cannot be written.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<MergeOutcome> {
    std::fs::create_dir_all(out).map_err(|e| Error::Output {
        path: out.to_path_buf(),
        reason: format!("cannot create folder: {e}"),
    })?;
    let target = out.join(DB_FILE);
    let db = Db::open(&target)?;
    for shard in shards {
        if !shard.is_file() {
            return Err(Error::Input {
                path: shard.clone(),
                reason: "no such shard database".into(),
            });
        }
        if shard.canonicalize().ok() == target.canonicalize().ok() {
            continue;
        }
        // Opening checks it is a batch database of this schema version.
        let keys: Vec<(String, String, String)> = {
            let shard_db = Db::open(shard).map_err(|e| Error::Input {
                path: shard.clone(),
                reason: format!("not a usable skintrack batch database: {e}"),
            })?;
            let mut stmt = shard_db
                .conn()
                .prepare("SELECT key, patient, area FROM series")
                .map_err(|e| sql(shard, e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| sql(shard, e))?
        };
        merge_tables(&db, shard).map_err(|e| sql(shard, e))?;
        let shard_dir = shard.parent().unwrap_or(Path::new("."));
        for (_, patient, area) in &keys {
            copy_series_folder(
                &shard_dir.join(patient).join(area),
                &out.join(patient).join(area),
            )?;
        }
    }
    summary::write(&db, out)?;
    let count = |sql_text: &str| -> Result<usize> {
        db.conn()
            .query_row(sql_text, [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| sql(&target, e))
    };
    Ok(MergeOutcome {
        databases: shards.len(),
        series: count("SELECT COUNT(*) FROM series")?,
        series_failed: count("SELECT COUNT(*) FROM series WHERE status != 'ok'")?,
        photos_failed: count("SELECT COUNT(*) FROM photos WHERE status = 'failed'")?,
    })
}

fn sql(path: &Path, e: rusqlite::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: format!("database error: {e}"),
    }
}

fn merge_tables(db: &Db, shard: &Path) -> rusqlite::Result<()> {
    let conn = db.conn();
    conn.execute(
        "ATTACH DATABASE ?1 AS shard",
        [shard.to_string_lossy().as_ref()],
    )?;
    let merged = conn.execute_batch(
        "BEGIN;
         DELETE FROM main.metrics WHERE series_key IN (SELECT key FROM shard.series);
         DELETE FROM main.photos WHERE series_key IN (SELECT key FROM shard.series);
         INSERT OR REPLACE INTO main.runs SELECT * FROM shard.runs;
         INSERT OR REPLACE INTO main.series SELECT * FROM shard.series;
         INSERT OR REPLACE INTO main.photos SELECT * FROM shard.photos;
         INSERT OR REPLACE INTO main.alignments SELECT * FROM shard.alignments;
         INSERT OR REPLACE INTO main.segmentations SELECT * FROM shard.segmentations;
         INSERT OR REPLACE INTO main.metrics SELECT * FROM shard.metrics;
         INSERT INTO main.work SELECT * FROM shard.work EXCEPT SELECT * FROM main.work;
         COMMIT;",
    );
    if merged.is_err() {
        let _ = conn.execute_batch("ROLLBACK;");
    }
    conn.execute("DETACH DATABASE shard", [])?;
    merged
}

/// A killed run can leave `NAME.tmp-<pid>` files of its atomic writes behind (never a
/// half-written report under the real name): remove them before writing again.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_file() && load::file_name(&path).contains(".tmp-") {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Copies a series' report files (plain files only) atomically into `to`.
fn copy_series_folder(from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() || from.canonicalize().ok() == to.canonicalize().ok() {
        return Ok(());
    }
    std::fs::create_dir_all(to).map_err(|e| Error::Output {
        path: to.to_path_buf(),
        reason: format!("cannot create folder: {e}"),
    })?;
    let entries = std::fs::read_dir(from).map_err(|e| Error::Input {
        path: from.to_path_buf(),
        reason: format!("cannot list folder: {e}"),
    })?;
    let mut files: HashMap<String, PathBuf> = HashMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() && !load::file_name(&path).contains(".tmp-") {
            files.insert(load::file_name(&path), path);
        }
    }
    for (name, path) in files {
        let bytes = std::fs::read(&path).map_err(|e| Error::Input {
            path: path.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        report::write_atomic(&to.join(name), &bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_megapixels_reads_headers_by_content() {
        let dir = tempfile::tempdir().unwrap();
        // A PNG named .jpg counts by its content; a broken file counts 0.
        let png = dir.path().join("2026-01-05.jpg");
        image::RgbImage::new(2000, 1500)
            .save_with_format(&png, image::ImageFormat::Png)
            .unwrap();
        let broken = dir.path().join("2026-02-16.jpg");
        std::fs::write(&broken, b"not a photo").unwrap();
        let spec = SeriesSpec {
            patient: "p".into(),
            area: "a".into(),
            sessions: vec![
                SessionInput::from_path(&png),
                SessionInput::from_path(&broken),
            ],
            error: None,
        };
        assert_eq!(series_megapixels(&spec), 3.0);
    }
}
