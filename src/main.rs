//! skintrack's binary: parses the command line, calls the library, maps the outcome to the
//! documented exit codes and prints errors as one line on stderr (docs/ERRORS.md): 0 success,
//! 1 error (bad input, model, output), 2 command-line usage, 101 internal error (a bug).
//! With `--json`, an error is also printed on stdout as one JSON object.

mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;

use cli::{Cli, Command, MeasureArgs, ModelCommand};
use skintrack::inputs::SessionInput;
use skintrack::segment::{self, Model};
use skintrack::series::{self, SeriesOptions};
use skintrack::{report, synth};

/// Exit code of a run that failed on its inputs, the model or the outputs.
const EXIT_ERROR: u8 = 1;
/// Exit code of a command line clap could not parse.
const EXIT_USAGE: u8 = 2;
/// Exit code of a batch (or merge) that finished but could not use some inputs.
const EXIT_INPUTS_FAILED: u8 = 3;
/// Exit code of a panic: a bug in skintrack, never the input's fault.
const EXIT_INTERNAL: u8 = 101;

/// Set by `batch`/`merge` when some inputs could not be used (exit code 3).
static INPUTS_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The first panic's one-line message, for the `--json` error.
static PANIC_MESSAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    // Decided from the raw arguments so that even a usage error can answer in JSON.
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    // A panic prints one line like any other error instead of the default multi-line text.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!(
            "internal error (a bug, please report it): {}{at}",
            one_line(&what)
        );
        // Several worker threads may panic at once: the first one speaks for the run.
        if PANIC_MESSAGE.set(message.clone()).is_ok() {
            eprintln!("skintrack: error: {message}");
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) || !json
            {
                // clap prints help/version on stdout (exit 0) and usage errors on stderr (exit 2).
                err.exit();
            }
            let _ = err.print();
            // clap's first line, e.g. "error: unexpected argument '--bogus' found".
            let text = err.to_string();
            let first = text.lines().next().unwrap_or_default();
            let message = first.trim_start_matches("error: ");
            print_json_error(None, "usage", &one_line(message));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match std::panic::catch_unwind(move || run(cli)) {
        Ok(Ok(())) if INPUTS_FAILED.load(std::sync::atomic::Ordering::Relaxed) => {
            ExitCode::from(EXIT_INPUTS_FAILED)
        }
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            // One line: the chain of contexts down to the root cause.
            let message = one_line(&format!("{err:#}"));
            eprintln!("skintrack: error: {message}");
            if json {
                let (file, kind) = describe(&err);
                print_json_error(file, kind, &message);
            }
            ExitCode::from(EXIT_ERROR)
        }
        Err(_) => {
            // The hook has already printed the one-line message.
            if json {
                let message = PANIC_MESSAGE
                    .get()
                    .map_or("internal error (a bug, please report it)", |m| m);
                print_json_error(None, "internal", message);
            }
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

/// The file an error is about and its kind, from the library's error when there is one.
fn describe(err: &anyhow::Error) -> (Option<String>, &'static str) {
    use skintrack::Error as E;
    match err.chain().find_map(|e| e.downcast_ref::<E>()) {
        Some(E::Load { path, .. }) => (Some(path.display().to_string()), "load"),
        // The later photo is the one that did not align; the message names the baseline too.
        Some(E::Align { later, .. }) => (Some(later.clone()), "align"),
        Some(E::Model { path, .. }) => (Some(path.display().to_string()), "model"),
        Some(E::Segment { input, .. }) => (Some(input.clone()), "segment"),
        Some(E::Output { path, .. }) => (Some(path.display().to_string()), "output"),
        Some(E::Input { path, .. }) => (Some(path.display().to_string()), "input"),
        None => (None, "other"),
    }
}

/// `{"error": {"file": .., "kind": .., "message": ..}}` on stdout, one line.
fn print_json_error(file: Option<String>, kind: &str, message: &str) {
    let value = serde_json::json!({ "error": { "file": file, "kind": kind, "message": message } });
    // stdout may be closed (a pipe whose reader quit): nothing more can be said then.
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// Messages are one line whatever a dependency put in them: newlines and runs of spaces
/// become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Analyze { photo, common } => {
            measure(&[SessionInput::from_path(photo)], &common, true, None)
        }
        Command::Compare {
            before,
            after,
            common,
        } => measure(
            &[
                SessionInput::from_path(before),
                SessionInput::from_path(after),
            ],
            &common,
            true,
            None,
        ),
        Command::Track { inputs, common } => {
            let sessions = skintrack::inputs::resolve(&inputs)?;
            let roi_origin = skintrack::inputs::roi_origin(&inputs, &sessions);
            measure(&sessions, &common, false, roi_origin)
        }
        Command::Batch {
            input,
            common,
            shard,
            quiet,
        } => batch(&input, &common, shard, quiet),
        Command::Merge { out, shards, json } => {
            let outcome = skintrack::batch::merge(&out, &shards)?;
            INPUTS_FAILED.store(
                outcome.inputs_failed(),
                std::sync::atomic::Ordering::Relaxed,
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                eprintln!(
                    "skintrack: merged {} database(s): {} series ({} failed), {} unusable \
                     photo(s); summary in {}",
                    outcome.databases,
                    outcome.series,
                    outcome.series_failed,
                    outcome.photos_failed,
                    out.join(skintrack::batch::summary::HTML_FILE).display()
                );
            }
            Ok(())
        }
        Command::Synth {
            out,
            seed,
            sessions,
            size,
            px_per_mm,
            unchanged,
            target_mm,
            clinical,
        } => {
            if sessions == 0 {
                bail!("--sessions must be at least 1");
            }
            let opts = synth::SynthOptions {
                seed,
                sessions,
                width: size.0,
                height: size.1,
                px_per_mm,
                unchanged,
                target_mm,
                clinical,
                ..Default::default()
            };
            let series = synth::generate(&opts);
            synth::write_series(&series, &out)?;
            println!("wrote {} sessions to {}", sessions, out.display());
            Ok(())
        }
        Command::Model {
            command: ModelCommand::Info { path },
        } => {
            let path = path.unwrap_or_else(default_model_path);
            let model = Model::load(&path)?;
            let m = &model.manifest;
            println!("model     {} {} ({})", m.name, m.version, path.display());
            println!("sha256    {} (verified)", m.sha256);
            println!(
                "input     {} {} {} mean {:?} std {:?}",
                m.input.name, m.input.layout, m.input.color, m.input.mean, m.input.std
            );
            println!(
                "output    {} ({}) classes {:?}",
                m.output.name, m.output.kind, m.output.classes
            );
            println!(
                "tile      {} px, overlap {} px",
                m.tile.size, m.tile.overlap
            );
            println!(
                "scale     {} px/mm when the scale is known, else longest side {}",
                m.working_scale
                    .px_per_mm
                    .map_or("-".into(), |v| v.to_string()),
                m.working_scale
                    .longest_side
                    .map_or("-".into(), |v| v.to_string())
            );
            if !m.scores.is_null() {
                println!("scores    {}", m.scores);
            }
            Ok(())
        }
        Command::Model {
            command: ModelCommand::Check { path },
        } => {
            let report = segment::check(&path)?;
            let m = &report.manifest;
            let tile = m.tile.size;
            println!(
                "model check: OK  {} ({} {})",
                path.display(),
                m.name,
                m.version
            );
            println!("sha256    {} (verified)", m.sha256);
            println!(
                "input     '{}' float32 {} {}, {tile}×{tile} tiles",
                m.input.name, m.input.layout, m.input.color
            );
            println!(
                "output    '{}' float32 {}, {} classes {:?}: {:?} per tile, all finite",
                m.output.name,
                m.output.kind,
                m.output.classes.len(),
                m.output.classes,
                report.output_shape
            );
            if let (Some((diff, tol)), Some(r)) = (report.reference, &m.reference) {
                println!(
                    "reference {} reproduced, max |diff| {diff:.1e} (tolerance {tol:.0e})",
                    r.output_f32le
                );
            }
            println!(
                "speed     {:.1} ms for one tile on one thread ({:.0} ms per tile megapixel)",
                report.tile_ms,
                report.tile_ms * 1e6 / (tile as f64 * tile as f64)
            );
            Ok(())
        }
    }
}

/// Runs `batch`: every series of a clinic folder or manifest into `args.out`.
fn batch(
    input: &Path,
    args: &MeasureArgs,
    shard: Option<(u32, u32)>,
    quiet: bool,
) -> anyhow::Result<()> {
    use skintrack::batch::{BatchOptions, ProgressMode};
    use std::io::IsTerminal as _;
    set_threads(args.threads)?;
    let model_path = args.model.clone().unwrap_or_else(default_model_path);
    let model = Model::load(&model_path)?;
    let progress = if quiet || args.json {
        ProgressMode::Quiet
    } else if std::io::stderr().is_terminal() {
        ProgressMode::Bar
    } else {
        ProgressMode::Log
    };
    let opts = BatchOptions {
        series: SeriesOptions {
            px_per_mm: args.px_per_mm,
            roi: args.roi,
            reference_patch: args.reference_patch,
            full_paths: args.full_paths,
            ..Default::default()
        },
        shard,
        progress,
    };
    let outcome = skintrack::batch::run(input, &args.out, &model, &opts)?;
    INPUTS_FAILED.store(
        outcome.inputs_failed(),
        std::sync::atomic::Ordering::Relaxed,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else if !quiet {
        eprintln!(
            "skintrack: batch: {} series ({} ok, {} failed, {} unchanged), {} photos ({} \
             processed, {} from the database, {} unusable); summary in {}",
            outcome.series,
            outcome.series_ok,
            outcome.series_failed,
            outcome.series_unchanged,
            outcome.photos,
            outcome.photos_processed,
            outcome.photos_cached,
            outcome.photos_failed,
            args.out
                .join(skintrack::batch::summary::HTML_FILE)
                .display()
        );
    }
    Ok(())
}

fn set_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(threads) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .context("cannot set up the worker threads")?;
    }
    Ok(())
}

/// Measures the sessions (in the given order when `keep_order`, else by date) and writes the
/// report; `file_roi_origin` names the series file whose `roi` column gave an ROI.
fn measure(
    sessions: &[SessionInput],
    args: &MeasureArgs,
    keep_order: bool,
    file_roi_origin: Option<String>,
) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .context("cannot set up the worker threads")?;
    }
    let model_path = args.model.clone().unwrap_or_else(default_model_path);
    let model = Model::load(&model_path)?;
    let opts = SeriesOptions {
        px_per_mm: args.px_per_mm,
        // `--roi` for this run before the series file's `roi` column.
        roi: args.roi.or_else(|| skintrack::inputs::series_roi(sessions)),
        roi_origin: file_roi_origin.filter(|_| args.roi.is_none()),
        reference_patch: args.reference_patch,
        full_paths: args.full_paths,
        target_disc_mm: Some(args.target_mm),
        keep_order,
        ..Default::default()
    };
    let result = series::run(sessions, &model, &opts)?;
    report::write_all(&result.report, &result.visuals, &args.out)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result.report)?);
    } else {
        eprintln!(
            "skintrack: {} session(s) measured; report in {}",
            result.report.sessions.len(),
            args.out.join("report.html").display()
        );
    }
    Ok(())
}

/// `SKINTRACK_MODEL`, else the shipped model in the source tree, else `./models`.
fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SKINTRACK_MODEL") {
        return PathBuf::from(p);
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(segment::DEFAULT_MODEL_FILE);
    if shipped.exists() {
        return shipped;
    }
    Path::new("models").join(segment::DEFAULT_MODEL_FILE)
}
