//! skintrack's binary: parses the command line, calls the library, maps the outcome to the
//! documented exit codes (0 success, 1 error) and prints errors as one line on stderr.

mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;

use cli::{Cli, Command, MeasureArgs, ModelCommand};
use skintrack::segment::{self, Model};
use skintrack::series::{self, SeriesOptions};
use skintrack::{report, synth};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the chain of contexts down to the root cause.
            eprintln!("skintrack: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Analyze { photo, common } => measure(&[photo], &common),
        Command::Compare { before, after, common } => measure(&[before, after], &common),
        Command::Track { inputs, common } => {
            let photos = expand_inputs(&inputs)?;
            measure(&photos, &common)
        }
        Command::Synth { out, seed, sessions, size, px_per_mm } => {
            if sessions == 0 {
                bail!("--sessions must be at least 1");
            }
            let opts = synth::SynthOptions {
                seed,
                sessions,
                width: size.0,
                height: size.1,
                px_per_mm,
                ..Default::default()
            };
            let series = synth::generate(&opts);
            synth::write_series(&series, &out)?;
            println!("wrote {} sessions to {}", sessions, out.display());
            Ok(())
        }
        Command::Model { command: ModelCommand::Info { path } } => {
            let path = path.unwrap_or_else(default_model_path);
            let model = Model::load(&path)?;
            let m = &model.manifest;
            println!("model     {} {} ({})", m.name, m.version, path.display());
            println!("sha256    {} (verified)", m.sha256);
            println!("input     {} {} {} mean {:?} std {:?}", m.input.name, m.input.layout, m.input.color, m.input.mean, m.input.std);
            println!("output    {} ({}) classes {:?}", m.output.name, m.output.kind, m.output.classes);
            println!("tile      {} px, overlap {} px", m.tile.size, m.tile.overlap);
            println!(
                "scale     {} px/mm when the scale is known, else longest side {}",
                m.working_scale.px_per_mm.map_or("-".into(), |v| v.to_string()),
                m.working_scale.longest_side.map_or("-".into(), |v| v.to_string())
            );
            if !m.scores.is_null() {
                println!("scores    {}", m.scores);
            }
            Ok(())
        }
    }
}

fn measure(photos: &[PathBuf], args: &MeasureArgs) -> anyhow::Result<()> {
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
        roi: args.roi,
        reference_patch: args.reference_patch,
        full_paths: args.full_paths,
        ..Default::default()
    };
    let result = series::run(photos, &model, &opts)?;
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

/// A folder stands for the photos in it (by extension, sorted by name); files stay as given.
fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut photos = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("{}: cannot list folder", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_photo_name(p))
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("{}: no photos (.jpg, .jpeg, .png, .tif, .tiff, .webp) in this folder", input.display());
            }
            photos.extend(found);
        } else {
            photos.push(input.clone());
        }
    }
    Ok(photos)
}

fn is_photo_name(path: &Path) -> bool {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png" | "tif" | "tiff" | "webp"))
}

/// `SKINTRACK_MODEL`, else the shipped model in the source tree, else `./models`.
fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SKINTRACK_MODEL") {
        return PathBuf::from(p);
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(segment::DEFAULT_MODEL_FILE);
    if shipped.exists() {
        return shipped;
    }
    Path::new("models").join(segment::DEFAULT_MODEL_FILE)
}
