//! The command line: the only module that knows clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "skintrack",
    version,
    about = "Measure how skin changes under treatment, from ordinary photos"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure one photo.
    Analyze {
        photo: PathBuf,
        #[command(flatten)]
        common: MeasureArgs,
    },
    /// Align AFTER onto BEFORE and measure the change.
    Compare {
        before: PathBuf,
        after: PathBuf,
        #[command(flatten)]
        common: MeasureArgs,
    },
    /// Measure a series: photos, a folder of photos, or a series.csv (date,photo and optional
    /// px_per_mm,label,notes; a folder holding series.csv uses it), ordered by date; the
    /// first session is the baseline.
    Track {
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        common: MeasureArgs,
    },
    /// Process a clinic: folders CLINIC/<patient>/<area>/<photo> or a manifest.csv
    /// (patient,area,date,photo and optional px_per_mm,label,notes). Writes one report per
    /// series into OUT/<patient>/<area>/, summary.csv, summary.html and skintrack.db; a re-run
    /// skips what is unchanged. Exit code 3 when some inputs could not be used.
    Batch {
        input: PathBuf,
        #[command(flatten)]
        common: MeasureArgs,
        /// Process only shard K of N (0-based, e.g. 0/4 .. 3/4), chosen by a hash of
        /// patient/area; combine the shards with `skintrack merge`.
        #[arg(long, value_parser = parse_shard, value_name = "K/N")]
        shard: Option<(u32, u32)>,
        /// No progress output (errors are still printed).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Combine shard databases (OUT_K/skintrack.db of `batch --shard`) and their report folders
    /// into OUT, and write OUT's summary. Exit code 3 when some inputs could not be used.
    Merge {
        out: PathBuf,
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Print the outcome as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic series with exact truth (fixtures, training data).
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 4)]
        sessions: usize,
        /// WIDTHxHEIGHT
        #[arg(long, default_value = "1600x1200", value_parser = parse_size)]
        size: (u32, u32),
        #[arg(long, default_value_t = 20.0)]
        px_per_mm: f64,
        /// Lesions stay as at the baseline (repeatability studies).
        #[arg(long)]
        unchanged: bool,
        /// Put a calibration target with a black disc of this diameter (mm) in the frame.
        #[arg(long, value_parser = parse_positive)]
        target_mm: Option<f64>,
        /// The clinical variety: more scar kinds, stretch marks, branching lines and
        /// look-alikes labelled skin (freckles, acne papules and red marks, hairs, shine),
        /// with a look-alike map per photo (training data, model scores).
        #[arg(long)]
        clinical: bool,
    },
    /// Inspect the segmentation model.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Show the manifest of a model (default: the shipped one) and verify its checksum.
    Info { path: Option<PathBuf> },
    /// Check a model (the .onnx, its manifest NAME.json beside it) against its manifest and
    /// run it on one tile.
    Check { path: PathBuf },
}

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Output folder (created if missing).
    #[arg(long, default_value = "skintrack-out")]
    pub out: PathBuf,
    /// Physical scale of the baseline photo, pixels per millimetre. Without it (and without a
    /// series file's), a calibration target in the baseline photo gives the scale.
    #[arg(long, value_parser = parse_positive)]
    pub px_per_mm: Option<f64>,
    /// Diameter in mm of the calibration target's black disc (README "Physical scale").
    #[arg(long, value_parser = parse_positive, default_value_t = 10.0)]
    pub target_mm: f64,
    /// ONNX model (its manifest NAME.json beside it). Default: the shipped model.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Measure only inside x,y,w,h of the baseline frame (the treated area). Untreated skin
    /// outside it, when the photos show enough of it, is what lighting is matched on.
    #[arg(long, value_parser = parse_roi)]
    pub roi: Option<[u32; 4]>,
    /// Match each session's lighting on this grey or colour card instead of on plain skin:
    /// x,y,w,h in baseline pixels.
    #[arg(long, value_parser = parse_roi)]
    pub reference_patch: Option<[u32; 4]>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print report.json on stdout.
    #[arg(long)]
    pub json: bool,
    /// Record full input paths in reports instead of file names.
    #[arg(long)]
    pub full_paths: bool,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or("expected WIDTHxHEIGHT, e.g. 1600x1200")?;
    let parse = |v: &str| v.trim().parse::<u32>().map_err(|e| format!("'{v}': {e}"));
    let (w, h) = (parse(w)?, parse(h)?);
    if !(64..=12000).contains(&w) || !(64..=12000).contains(&h) {
        return Err("each side must be between 64 and 12000 pixels".into());
    }
    Ok((w, h))
}

fn parse_shard(s: &str) -> Result<(u32, u32), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or("expected K/N, e.g. 0/4 (shard K of N, 0-based)")?;
    let parse = |v: &str| v.trim().parse::<u32>().map_err(|e| format!("'{v}': {e}"));
    let (k, n) = (parse(k)?, parse(n)?);
    if n == 0 || k >= n {
        return Err(format!("shard {k}/{n}: need N ≥ 1 and 0 ≤ K < N"));
    }
    Ok((k, n))
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

fn parse_roi(s: &str) -> Result<[u32; 4], String> {
    skintrack::inputs::parse_roi(s)
}
