//! Repeatability study: how far each metric moves between photos of an UNCHANGED area taken
//! with a different pose, lighting, white balance, noise and JPEG compression. Prints the 95th
//! percentile of the relative change per source (synthetic: with a bootstrap interval), how
//! many re-captures read higher and lower than their baseline (a lopsided split is a bias),
//! and the noise floor fitted on all of it:
//! |change| ≤ absolute + relative × |reference| for 95 % of the synthetic pairs and 95 % of the
//! real ones, lowest at their mean reference (skintrack's floors:
//! `src/series/repeatability.rs`, README "Repeatability"), with the share of each source that
//! skintrack's current floor covers. The scar (line) metrics of synthetic series whose truth
//! has no scar (line) enter the floor but not the p95; every metric of every real photo enters
//! the floor, though the real p95 reads scar metrics on the scar close-ups only and line metrics
//! on the wrinkled faces only. Then scar area's p95 over the later sessions the report flags for scar
//! regions seen in one photo only (`scar_turnover.beyond_noise`) and over the others, with how
//! many of each the floor reads as a real change. Then the focus check: how often it flags, and the median change of
//! roughness and the lesion metrics in photos softer than, as sharp as and sharper than their
//! baseline.
//!
//! ```text
//! cargo run --locked --example repeatability -- [SYNTHETIC_SERIES] [REAL_PHOTOS_PER_SET] [MODEL.onnx]
//! ```
//! MODEL (with its manifest beside it) defaults to the shipped `models/skinseg-v1.onnx`; another
//! one is how a retrained candidate is judged before it replaces it. With the environment
//! variable `REPEATABILITY_PAIRS=FILE`, every pair is also written to FILE, one per line:
//! `source, photo or series, metric, change, |reference|` (tab-separated), to fit or check
//! floors outside the study.
//! Synthetic: `skintrack synth` series with `unchanged` lesions (3 sessions each, 1200×900 at
//! 20 px/mm). Real: photos from `../shared/realdata` (skipped when absent; never copied into
//! the repository), each captured twice, as at two visits: each photo through its own random
//! view, lighting and noise.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skintrack::definitions::{Homography, Rgb};
use skintrack::load::{self, LoadOptions, Photo};
use skintrack::report::{ABSOLUTE_CHANGE_METRICS, StageTimings};
use skintrack::segment::Model;
use skintrack::series::{self, SeriesOptions, fit_noise_floor, p95};
use skintrack::synth::{self, SynthOptions};

/// Every metric's changes, per source (synthetic / real): (change, |reference|), in the
/// scale-free unit (line density in px/MP; scar area in % only).
type Changes = BTreeMap<String, Vec<(f64, f64)>>;

/// Not metrics: per later session, (fine-detail ratio against the baseline, the metric's change
/// in %) under `"focus: " + metric`, for the focus tables.
const FOCUS_PREFIX: &str = "focus: ";
/// Not metrics: a later session's scar area change, (change, |reference|), under
/// `ONE_PHOTO_ONLY` when the session or its baseline has scar regions the other does not,
/// together beyond scar area's noise floor (`scar_turnover`: the report asks to check them),
/// else under `SEEN_IN_BOTH`.
/// (Named after scar area so that scar-free synthetic series leave them out of the p95 alike.)
const ONE_PHOTO_ONLY: &str = "scar_area_pct (one photo only)";
const SEEN_IN_BOTH: &str = "scar_area_pct (seen in both)";

/// The metrics whose change is set against focus: roughness (the check exists for it) and the
/// lesion metrics, which a softer photo may read differently too.
const FOCUS_METRICS: [&str; 4] = [
    "roughness",
    "line_length_px_per_mp",
    "line_area_pct",
    "scar_area_pct",
];

/// Lesion metrics whose large changes are listed on stderr, with their series and session.
const LESION_METRICS: [&str; 3] = ["scar_area_pct", "line_length_px_per_mp", "line_area_pct"];
/// A change this large (a share of the baseline's value) is listed.
const LARGE_CHANGE: f64 = 0.1;

/// Sessions per synthetic series: a baseline and two re-captures that share it.
const SYNTHETIC_SESSIONS: usize = 3;

/// Bootstrap resamples for the interval of a p95.
const BOOTSTRAP_RESAMPLES: usize = 2000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let synthetic_series: u64 = args.first().map_or(Ok(12), |a| a.parse())?;
    let real_per_set: usize = args.get(1).map_or(Ok(12), |a| a.parse())?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let model_path = args
        .get(2)
        .map_or_else(|| root.join("models/skinseg-v1.onnx"), PathBuf::from);
    let model = Model::load(&model_path)?;
    let mut pairs_out = match std::env::var_os("REPEATABILITY_PAIRS") {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };

    let mut synthetic = Changes::new();
    // Lesion metrics of synthetic series whose truth has no lesion of that kind: a speck read
    // at baseline and lost later is a 100 % change of nothing. Like a scar area on an acne
    // face, they have no meaningful relative change, so they join the floor fit (their
    // absolute changes are real noise) but not the relative p95.
    let mut synthetic_lesion_free = Changes::new();
    let mut lesion_free_series = BTreeMap::<&str, usize>::new();
    let work = tempfile::tempdir()?;
    for seed in 0..synthetic_series {
        let opts = SynthOptions {
            seed: 9000 + seed,
            sessions: SYNTHETIC_SESSIONS,
            width: 1200,
            height: 900,
            unchanged: true,
            ..Default::default()
        };
        let dir = work.path().join(format!("s{seed}"));
        let generated = synth::generate(&opts);
        let truth = &generated.sessions[0];
        let (has_scars, has_lines) = (truth.scar_area_px > 0, truth.line_area_px > 0);
        synth::write_series(&generated, &dir)?;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        paths.sort();
        let photos = paths
            .iter()
            .map(|p| load::load_photo(p, &LoadOptions::default()))
            .collect::<Result<Vec<_>, _>>()?;
        let opts = SeriesOptions {
            px_per_mm: Some(20.0),
            ..Default::default()
        };
        let mut changes = Changes::new();
        collect(
            &photos,
            &model,
            &opts,
            &mut changes,
            &format!("synthetic {seed}"),
        );
        for (kind, present) in [("scar", has_scars), ("line", has_lines)] {
            if !present {
                *lesion_free_series.entry(kind).or_default() += 1;
            }
        }
        write_pairs(
            &mut pairs_out,
            "synthetic",
            &format!("synthetic {seed}"),
            &changes,
        )?;
        for (name, values) in changes {
            let metric = name.strip_prefix(FOCUS_PREFIX).unwrap_or(&name);
            let absent = (metric.starts_with("scar_") && !has_scars)
                || (metric.starts_with("line_") && !has_lines);
            let into = if absent {
                &mut synthetic_lesion_free
            } else {
                &mut synthetic
            };
            into.entry(name).or_default().extend(values);
        }
    }

    let mut real = Changes::new();
    // Every metric of every real photo, for the floor: an unchanged photo's scar area or line
    // density is noise whatever the set, and a report shows it.
    let mut real_all = Changes::new();
    let realdata = root.join("../shared/realdata");
    if realdata.is_dir() {
        // Each set speaks for what it shows: scar metrics come from the scar close-ups, line
        // metrics from the wrinkled faces, skin metrics (colour, texture, tone) from all. A
        // scar area that is ~0 on an acne face (or a line density on a scar close-up) has no
        // meaningful relative change.
        let sets: [(&str, &[&str]); 3] = [
            ("scarcare_scar_types/atrophic", &["scar_"]),
            ("javad71_facial_wrinkle_boxes/images", &["line_"]),
            ("acne04_roboflow_voc/images", &[]),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        for (set, lesions) in sets {
            for path in photos_in(&realdata.join(set), real_per_set) {
                let Ok(original) = image::open(&path).map(|i| i.to_rgb8()) else {
                    continue;
                };
                let (baseline, later) = two_visits(&original, &mut rng);
                let photos = [
                    as_photo(&baseline, "baseline.jpg")?,
                    as_photo(&later, "later.jpg")?,
                ];
                let label = format!("{set}/{}", path.file_name().unwrap().to_string_lossy());
                let mut changes = Changes::new();
                collect(
                    &photos,
                    &model,
                    &SeriesOptions::default(),
                    &mut changes,
                    &label,
                );
                write_pairs(&mut pairs_out, set, &label, &changes)?;
                for (name, values) in changes {
                    let metric = name.strip_prefix(FOCUS_PREFIX).unwrap_or(&name);
                    let lesion_metric = metric.starts_with("scar_") || metric.starts_with("line_");
                    if !lesion_metric || lesions.iter().any(|l| metric.starts_with(l)) {
                        real.entry(name.clone()).or_default().extend(&values);
                    }
                    real_all.entry(name).or_default().extend(values);
                }
            }
        }
    } else {
        eprintln!("skipped real photos: {} not found", realdata.display());
    }

    println!(
        "| metric | synthetic p95 of abs Δ% (n) | synthetic p95: 95 % interval | synthetic CV % | synthetic up / down | real p95 of abs Δ% (n) | real CV % | real up / down | floor: relative % | floor: absolute | current floor covers: synthetic / real |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let names: std::collections::BTreeSet<&String> = synthetic
        .keys()
        .chain(real.keys())
        .filter(|name| is_metric(name))
        .collect();
    for name in names {
        let values = synthetic.get(name).cloned().unwrap_or_default();
        let real_values = real.get(name).cloned().unwrap_or_default();
        let lesion_free = synthetic_lesion_free.get(name).cloned().unwrap_or_default();
        let synthetic_pairs = with_absolute_change(values.iter().chain(&lesion_free));
        let real_pairs = with_absolute_change(real_all.get(name).into_iter().flatten());
        // A ratio means nothing for angles and colour coordinates (ITA can be negative).
        let ratio_metric = !ABSOLUTE_CHANGE_METRICS.contains(&name.as_str());
        let cv = |values: &[(f64, f64)]| {
            if ratio_metric {
                fmt(cv_rms(values))
            } else {
                "-".to_string()
            }
        };
        let (relative, absolute) = fit_noise_floor(&[&synthetic_pairs, &real_pairs], ratio_metric)
            .map_or(("-".into(), "-".into()), |f| {
                (
                    format!("{:.1}", f.relative_pct),
                    format!("{:.4}", f.absolute),
                )
            });
        let covered = |pairs: &[(f64, f64)]| match series::noise_floor(name, None, 0) {
            Some(floor) if !pairs.is_empty() => {
                let inside = pairs.iter().filter(|(d, r)| floor.contains(*d, *r)).count();
                format!("{:.0} %", 100.0 * inside as f64 / pairs.len() as f64)
            }
            _ => "-".to_string(),
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {relative} | {absolute} | {} / {} |",
            p95_rel(&values),
            p95_interval(&values, SYNTHETIC_SESSIONS - 1),
            cv(&values),
            up_down(&values),
            p95_rel(&real_values),
            cv(&real_values),
            up_down(&real_values),
            covered(&synthetic_pairs),
            covered(&real_pairs),
        );
    }
    println!();
    println!(
        "Synthetic series without scars in their truth: {}; without fine lines: {} (their \
         scar or line changes are in the floor fit, not in the relative p95).",
        lesion_free_series.get("scar").unwrap_or(&0),
        lesion_free_series.get("line").unwrap_or(&0),
    );
    println!();
    let sources = [("synthetic", &synthetic), ("real", &real)];
    print_turnover_table(&sources);
    println!();
    print_focus_table(&sources);
    println!();
    print_focus_bias_table(&sources);
    Ok(())
}

/// Per source: the spread of the later sessions' fine-detail ratio, how many fall outside
/// [`skintrack::measure::FOCUS_RATIO_LIMITS`] (roughness marked not comparable), and the
/// roughness p95 over all sessions, the comparable ones and the others (its median change by
/// focus is in [`print_focus_bias_table`]).
fn print_focus_table(sources: &[(&str, &Changes)]) {
    let (lo, hi) = skintrack::measure::FOCUS_RATIO_LIMITS;
    println!(
        "| source | fine-detail ratio p2.5 / p50 / p97.5 | outside {lo:.2}–{hi:.2} | roughness p95 of abs Δ%: all / comparable / outside |"
    );
    println!("|---|---|---|---|");
    for (source, changes) in sources {
        let pairs = changes
            .get(&format!("{FOCUS_PREFIX}roughness"))
            .cloned()
            .unwrap_or_default();
        if pairs.is_empty() {
            continue;
        }
        let mut ratios: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        ratios.sort_by(f64::total_cmp);
        let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        let outside = ratios.iter().filter(|r| !(lo..=hi).contains(*r)).count();
        let rough = |keep: &dyn Fn(f64) -> bool| {
            let abs: Vec<f64> = pairs
                .iter()
                .filter(|p| keep(p.0))
                .map(|p| p.1.abs())
                .collect();
            fmt(p95(abs))
        };
        println!(
            "| {source} | {:.3} / {:.3} / {:.3} | {outside} of {} | {} / {} / {} |",
            at(0.025),
            at(0.5),
            at(0.975),
            ratios.len(),
            rough(&|_| true),
            rough(&|r| (lo..=hi).contains(&r)),
            rough(&|r| !(lo..=hi).contains(&r)),
        );
    }
}

/// Per source: how many later sessions the report flags for scar regions seen in one photo
/// only (covering more than scar area's noise floor), scar area's p95 over the others (how far
/// scar area moves on unchanged skin when the report raises no flag), and how many unchanged
/// pairs of each kind the shipped floor reads as a real change.
fn print_turnover_table(sources: &[(&str, &Changes)]) {
    println!(
        "| source | scar area pairs | flagged: scar regions in one photo only | p95 of abs Δ% (n): all / not flagged / flagged | read as a real change: not flagged / flagged |"
    );
    println!("|---|---|---|---|---|");
    let floor = skintrack::series::noise_floor("scar_area_pct", None, 0)
        .expect("scar area has a noise floor");
    let beyond = |pairs: &[(f64, f64)]| {
        pairs
            .iter()
            .filter(|&&(delta, reference)| !floor.contains(delta, reference))
            .count()
    };
    for (source, changes) in sources {
        let flagged = changes.get(ONE_PHOTO_ONLY).cloned().unwrap_or_default();
        let clear = changes.get(SEEN_IN_BOTH).cloned().unwrap_or_default();
        let all: Vec<_> = flagged.iter().chain(&clear).copied().collect();
        println!(
            "| {source} | {} | {} | {} / {} / {} | {} / {} |",
            all.len(),
            flagged.len(),
            p95_rel(&all),
            p95_rel(&clear),
            p95_rel(&flagged),
            beyond(&clear),
            beyond(&flagged),
        );
    }
}

/// Median of the changes (in %) of the `pairs` (fine-detail ratio, change) whose ratio `keep`
/// accepts, with their count.
fn median_change(pairs: &[(f64, f64)], keep: &dyn Fn(f64) -> bool) -> String {
    let mut changes: Vec<f64> = pairs.iter().filter(|p| keep(p.0)).map(|p| p.1).collect();
    changes.sort_by(f64::total_cmp);
    let n = changes.len();
    let median = match n {
        0 => "-".to_string(),
        _ if n % 2 == 1 => format!("{:+.2}", changes[n / 2]),
        _ => format!("{:+.2}", (changes[n / 2 - 1] + changes[n / 2]) / 2.0),
    };
    format!("{median} ({n})")
}

/// Per metric of [`FOCUS_METRICS`] and source: the median change in % of the later sessions
/// softer than, as sharp as, and sharper than the baseline (by the focus check's limits). A
/// metric the check should guard moves with focus: its softer and sharper medians part.
fn print_focus_bias_table(sources: &[(&str, &Changes)]) {
    let (lo, hi) = skintrack::measure::FOCUS_RATIO_LIMITS;
    println!("| metric | source | median Δ% (n): softer / comparable / sharper |");
    println!("|---|---|---|");
    for metric in FOCUS_METRICS {
        for (source, changes) in sources {
            let Some(pairs) = changes.get(&format!("{FOCUS_PREFIX}{metric}")) else {
                continue;
            };
            println!(
                "| {metric} | {source} | {} / {} / {} |",
                median_change(pairs, &|r| r < lo),
                median_change(pairs, &|r| (lo..=hi).contains(&r)),
                median_change(pairs, &|r| r > hi),
            );
        }
    }
}

/// Measures a series of one unchanged area and records every later session's change against
/// the baseline, line density converted to px/MP and scar area kept in % (the mm units are
/// the same quantities: skintrack converts their floors).
fn collect(photos: &[Photo], model: &Model, opts: &SeriesOptions, out: &mut Changes, label: &str) {
    match series::measure_photos(photos, model, opts, StageTimings::default()) {
        Ok(run) => {
            for metric in &run.report.metrics {
                let (name, per_unit) = match (metric.name.as_str(), run.report.scale.px_per_mm) {
                    ("scar_area_mm2", _) => continue,
                    ("line_length_mm_per_cm2", Some(s)) => ("line_length_px_per_mp", 1e4 / s),
                    (name, _) => (name, 1.0),
                };
                let reference = metric.values[0].value.abs() * per_unit;
                for (session, v) in metric.values.iter().enumerate().skip(1) {
                    out.entry(name.to_string())
                        .or_default()
                        .push((v.delta * per_unit, reference));
                    // Against the focus check's verdict; a change of nothing (a zero baseline)
                    // has no relative size.
                    let focus = run.report.sessions[session].focus.as_ref();
                    if let (true, Some(focus), Some(change)) =
                        (FOCUS_METRICS.contains(&name), focus, v.delta_pct)
                    {
                        out.entry(format!("{FOCUS_PREFIX}{name}"))
                            .or_default()
                            .push((focus.fine_detail_ratio, change));
                    }
                    if name == "scar_area_pct" {
                        let turnover = run.report.sessions[session].scar_turnover.as_ref();
                        let key = if turnover.is_some_and(|t| t.needs_check()) {
                            ONE_PHOTO_ONLY
                        } else {
                            SEEN_IN_BOTH
                        };
                        out.entry(key.to_string())
                            .or_default()
                            .push((v.delta * per_unit, reference));
                    }
                    // The pairs that set a p95: which series and session, for the diagnosis.
                    if LESION_METRICS.contains(&name)
                        && (v.delta * per_unit).abs()
                            > LARGE_CHANGE * reference.max(f64::MIN_POSITIVE)
                    {
                        eprintln!(
                            "{label}: large change: {name} session {session}: {:.4} -> {:.4} \
                             (common region {} px, {} px left out as non-skin)",
                            reference,
                            reference + v.delta * per_unit,
                            run.report.common_region.pixels,
                            run.report.common_region.non_skin_px
                        );
                    }
                }
            }
            eprintln!("{label}: measured");
        }
        Err(e) => eprintln!("{label}: not measured: {e}"),
    }
}

/// Whether a key of [`Changes`] is a metric's, not one of the focus or turnover tables'.
fn is_metric(name: &str) -> bool {
    !name.starts_with(FOCUS_PREFIX) && ![ONE_PHOTO_ONLY, SEEN_IN_BOTH].contains(&name)
}

/// (|change|, reference) of each pair, as the floor fit takes them.
fn with_absolute_change<'a>(pairs: impl Iterator<Item = &'a (f64, f64)>) -> Vec<(f64, f64)> {
    pairs.map(|&(d, r)| (d.abs(), r)).collect()
}

/// Every pair of one series' `changes` (metrics only), as tab-separated lines
/// `source, label, metric, change, |reference|`, for fitting floors outside the study.
fn write_pairs(
    out: &mut Option<impl std::io::Write>,
    source: &str,
    label: &str,
    changes: &Changes,
) -> std::io::Result<()> {
    let Some(out) = out else { return Ok(()) };
    for (name, values) in changes.iter().filter(|(name, _)| is_metric(name)) {
        for (change, reference) in values {
            writeln!(out, "{source}\t{label}\t{name}\t{change}\t{reference}")?;
        }
    }
    Ok(())
}

/// |change| in % of the reference, for the pairs with a non-zero reference.
fn relative(values: &[(f64, f64)]) -> Vec<f64> {
    values
        .iter()
        .filter(|(_, r)| *r > 0.0)
        .map(|(d, r)| 100.0 * d.abs() / r)
        .collect()
}

/// p95 of |change| in % of the reference, over the pairs with a non-zero reference (n).
fn p95_rel(values: &[(f64, f64)]) -> String {
    let rel = relative(values);
    let n = rel.len();
    format!("{} ({n})", fmt(p95(rel)))
}

/// Within-subject coefficient of variation in %, the way instrument repeatability is usually
/// published: per pair of readings b, l of the same skin, their standard deviation
/// |l − b| / √2 over their mean (b + l) / 2; the root mean square over the pairs with a
/// positive mean. Less strict than the p95 (it is about the typical pair, not the worst 5 %),
/// printed to compare like with like.
fn cv_rms(values: &[(f64, f64)]) -> Option<f64> {
    let squares: Vec<f64> = values
        .iter()
        .filter_map(|&(d, r)| {
            let (b, l) = (r, r + d);
            let mean = (b + l) / 2.0;
            (mean > 0.0).then(|| {
                let cv = d.abs() / std::f64::consts::SQRT_2 / mean;
                cv * cv
            })
        })
        .collect();
    (!squares.is_empty())
        .then(|| 100.0 * (squares.iter().sum::<f64>() / squares.len() as f64).sqrt())
}

/// 95 % interval (2.5th to 97.5th percentile of a bootstrap, fixed seed) of `p95_rel`. A p95
/// of ~46 pairs rests on its three largest values, so the interval says how sure "target met"
/// or "missed" is. The `per_series` re-captures of one series share its baseline and are not
/// independent, so whole series are resampled (values come in series order, `per_series` each).
fn p95_interval(values: &[(f64, f64)], per_series: usize) -> String {
    let series: Vec<&[(f64, f64)]> = values.chunks(per_series).collect();
    if series.is_empty() {
        return "-".into();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(95);
    let mut estimates: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .filter_map(|_| {
            let resample: Vec<(f64, f64)> = (0..series.len())
                .flat_map(|_| series[rng.random_range(0..series.len())].iter().copied())
                .collect();
            p95(relative(&resample))
        })
        .collect();
    if estimates.is_empty() {
        return "-".into();
    }
    estimates.sort_by(f64::total_cmp);
    let at = |q: f64| estimates[((estimates.len() - 1) as f64 * q).round() as usize];
    format!("{:.2}–{:.2}", at(0.025), at(0.975))
}

/// How many re-captures read higher and how many lower than their baseline. Unchanged skin
/// should split about evenly; a lopsided split is a bias (a step that treats the baseline
/// and later sessions differently), which a p95 alone does not show.
fn up_down(values: &[(f64, f64)]) -> String {
    let up = values.iter().filter(|(d, _)| *d > 0.0).count();
    let down = values.iter().filter(|(d, _)| *d < 0.0).count();
    format!("{up} / {down}")
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// Every `len / n`-th photo of a folder, in name order (none when it cannot be listed).
fn photos_in(dir: &Path, n: usize) -> Vec<PathBuf> {
    let paths = skintrack::inputs::list_photos(dir).unwrap_or_default();
    let step = (paths.len() / n.max(1)).max(1);
    paths.into_iter().step_by(step).take(n).collect()
}

/// Two visits to the same skin: a baseline and a later photo of the central 70 % of
/// `original`, each captured through its own random view (rotation ±8°, scale 0.92–1.08,
/// shift ±4 %, slight perspective) with its own exposure, white balance, lighting gradient and
/// sensor noise. A baseline cropped straight from the original would be the one photo that
/// never went through a capture: the later photo alone would carry the noise, and what a
/// capture does to a reading (redness, skin tone, fine texture) would show as a bias.
fn two_visits(original: &Rgb, rng: &mut ChaCha8Rng) -> (Rgb, Rgb) {
    let baseline = capture(original, rng);
    let later = capture(original, rng);
    (baseline, later)
}

/// One capture of the central 70 % of `original` through a random view and light.
fn capture(original: &Rgb, rng: &mut ChaCha8Rng) -> Rgb {
    let (ow, oh) = (original.width() as f64, original.height() as f64);
    let (w, h) = ((ow * 0.7) as u32, (oh * 0.7) as u32);
    let (x0, y0) = ((ow - w as f64) / 2.0, (oh - h as f64) / 2.0);
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    // photo pixel → crop pixel, drawn until the whole photo lies inside the original.
    let view = loop {
        let angle = rng.random_range(-8.0f64..8.0).to_radians();
        let scale = rng.random_range(0.92..1.08);
        let (tx, ty) = (
            rng.random_range(-0.04..0.04) * w as f64,
            rng.random_range(-0.04..0.04) * h as f64,
        );
        let (p, q) = (
            rng.random_range(-0.04..0.04) / w as f64,
            rng.random_range(-0.04..0.04) / h as f64,
        );
        let (s, c) = angle.sin_cos();
        let centred = Homography([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]]);
        let motion = Homography([
            [scale * c, -scale * s, tx],
            [scale * s, scale * c, ty],
            [p, q, 1.0],
        ]);
        let back = Homography([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]]);
        let view = back.after(&motion).after(&centred);
        let inside = [
            (0.0, 0.0),
            (w as f64, 0.0),
            (0.0, h as f64),
            (w as f64, h as f64),
        ]
        .iter()
        .all(|&(x, y)| {
            view.apply(x, y).is_some_and(|(bx, by)| {
                bx + x0 >= 1.0 && by + y0 >= 1.0 && bx + x0 < ow - 2.0 && by + y0 < oh - 2.0
            })
        });
        if inside {
            break view;
        }
    };
    let exposure = rng.random_range(0.8..1.2);
    let balance: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.93..1.07));
    let gradient = rng.random_range(-0.1..0.1);
    let mut photo = Rgb::new(w, h);
    for (x, y, pixel) in photo.enumerate_pixels_mut() {
        let (bx, by) = view.apply(x as f64, y as f64).unwrap_or((0.0, 0.0));
        let rgb = bilinear(original, bx + x0, by + y0);
        let light = exposure * (1.0 + gradient * (x as f64 / w as f64 - 0.5));
        for ch in 0..3 {
            let noise: f64 = rng.random_range(-2.0..2.0);
            pixel.0[ch] = (rgb[ch] * light * balance[ch] + noise).clamp(0.0, 255.0) as u8;
        }
    }
    photo
}

fn bilinear(img: &Rgb, x: f64, y: f64) -> [f64; 3] {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let p = |dx: u32, dy: u32| img.get_pixel(x0 + dx, y0 + dy).0;
    std::array::from_fn(|c| {
        let top = p(0, 0)[c] as f64 * (1.0 - fx) + p(1, 0)[c] as f64 * fx;
        let bottom = p(0, 1)[c] as f64 * (1.0 - fx) + p(1, 1)[c] as f64 * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// The image as a JPEG-90 photo, loaded the way skintrack loads files.
fn as_photo(image: &Rgb, name: &str) -> anyhow::Result<Photo> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(Cursor::new(&mut bytes), 90).encode_image(image)?;
    Ok(load::load_photo_bytes(
        &bytes,
        name,
        &LoadOptions::default(),
    )?)
}
