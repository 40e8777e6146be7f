//! batch progress: takes counts of finished photos and series, gives a progress bar with rate
//! and ETA on a terminal (indicatif), one plain line per finished series otherwise (logs, CI,
//! a Slurm job's output file), or nothing with `--quiet`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a batch run reports progress on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar: photos done of total, photos per second, ETA, series done.
    Bar,
    /// One line per finished series (for logs).
    #[default]
    Log,
    /// Nothing.
    Quiet,
}

/// Progress of one batch run, shared by the worker threads.
pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    series_total: usize,
    series_done: AtomicUsize,
    photos_total: usize,
    photos_done: AtomicUsize,
    started: Instant,
}

impl Progress {
    pub fn new(mode: ProgressMode, series_total: usize, photos_total: usize) -> Progress {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(photos_total as u64),
                ProgressDrawTarget::stderr(),
            );
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} photos \
                 ({per_sec}, ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(format!("0/{series_total} series"));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        if mode == ProgressMode::Log {
            eprintln!("skintrack: batch: {series_total} series, {photos_total} photos");
        }
        Progress {
            mode,
            bar,
            series_total,
            series_done: AtomicUsize::new(0),
            photos_total,
            photos_done: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    /// `n` more photos are finished (measured, taken from the database, or failed).
    pub fn photos_done(&self, n: usize) {
        self.photos_done.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
    }

    /// A series is finished; `what` says how it went.
    pub fn series_done(&self, key: &str, what: &str) {
        let done = self.series_done.fetch_add(1, Ordering::Relaxed) + 1;
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.set_message(format!("{done}/{} series", self.series_total)),
            (None, ProgressMode::Log) => {
                let photos = self.photos_done.load(Ordering::Relaxed);
                let minutes = self.started.elapsed().as_secs_f64() / 60.0;
                let rate = if minutes > 0.0 {
                    photos as f64 / minutes
                } else {
                    0.0
                };
                eprintln!(
                    "skintrack: batch: [{done}/{} series, {photos}/{} photos, {rate:.1} \
                     photos/min] {key}: {what}",
                    self.series_total, self.photos_total
                );
            }
            _ => {}
        }
    }

    /// Removes the bar (the final summary line follows it).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
