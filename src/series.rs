//! series: drives the stages over the photos of one treated area — load every session, align
//! each onto the baseline, segment, match lighting, measure on the common region — and gives
//! the [`Report`] plus the images the report draws.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::align::{self, AlignOptions, AlignStatus, Alignment};
use crate::calibration::{self, Target};
use crate::definitions::{
    CLASS_BACKGROUND, CLASS_NON_SKIN, ClassMap, Homography, MASK_ON, Mask, Rgb,
};
use crate::error::{Error, Result};
use crate::inputs::SessionInput;
use crate::load::{self, DateSource, LoadOptions, Photo};
use crate::measure::{self, MeasureOptions, Metrics};
use crate::report::{
    AlignmentReport, FocusReport, LightingReport, ModelInfo, RegionInfo, Report, SCHEMA_VERSION,
    ScaleInfo, SessionReport, SessionVisuals, StageTimings, TargetInfo, ToolInfo,
};
use crate::segment::Model;

mod repeatability;
mod trend;

pub use repeatability::{NOISE_FLOORS, fit_noise_floor, noise_floor, p95};
pub use trend::trend;

/// Options of a series run; defaults measure the whole common region without a scale.
#[derive(Clone, Debug, Default)]
pub struct SeriesOptions {
    /// Physical scale of the baseline photo, from the user.
    pub px_per_mm: Option<f64>,
    /// Limit measurement to [x, y, w, h] of the baseline frame.
    pub roi: Option<[u32; 4]>,
    /// Where the ROI came from, named in its errors (default `--roi`): a series file's or
    /// manifest's `roi` column.
    pub roi_origin: Option<String>,
    /// A grey or colour card in the baseline frame, [x, y, w, h]: when given, each session's
    /// lighting is matched on this patch instead of on plain skin.
    pub reference_patch: Option<[u32; 4]>,
    /// Name of the series in reports (default: the baseline's folder name).
    pub name: Option<String>,
    /// Record full input paths instead of file names.
    pub full_paths: bool,
    /// Diameter in mm of the calibration target's black disc (default
    /// [`calibration::DEFAULT_DISC_MM`]).
    pub target_disc_mm: Option<f64>,
    /// Measure the sessions in the given order (`compare BEFORE AFTER`) instead of by date.
    pub keep_order: bool,
    pub load: LoadOptions,
    pub align: AlignOptions,
    pub measure: MeasureOptions,
}

/// What a series run gives: the report and, per session, the images drawn in it.
pub struct SeriesResult {
    pub report: Report,
    pub visuals: Vec<SessionVisuals>,
}

/// `LightingReport::source` values: what each later session's colour was matched on.
pub const LIGHTING_FROM_PATCH: &str = "reference_patch";
/// The white label of a calibration target found in both photos (each in its own frame).
pub const LIGHTING_FROM_CALIBRATION_LABEL: &str = "calibration_label";
pub const LIGHTING_FROM_SKIN_OUTSIDE_ROI: &str = "skin_outside_roi";
pub const LIGHTING_FROM_MEASURED_SKIN: &str = "plain_skin";
/// Untreated skin outside the ROI is the lighting reference only with at least this many
/// pixels (a 70 px square); with fewer, the measured skin itself is.
const MIN_UNTREATED_FIT_PX: u64 = 5_000;

/// Pixels trimmed off the border of every session's valid area before measuring: the warp's
/// bilinear edge and the model's view of the black outside are not skin.
const BORDER_TRIM_PX: u32 = 6;

/// Loads the sessions' photos, orders them by date (unless `opts.keep_order`; only when every
/// session has one — a series file's date wins over the photo's own; otherwise the given order
/// is kept) and measures the series. The first session is the baseline.
///
/// # Errors
/// The first photo that cannot be loaded, two different photos with the same date, a session
/// that cannot be aligned onto the baseline (never measured), a model failure, or an ROI
/// outside the baseline frame.
pub fn run(inputs: &[SessionInput], model: &Model, opts: &SeriesOptions) -> Result<SeriesResult> {
    let mut timings = StageTimings::default();
    let started = Instant::now();
    let photos = inputs
        .par_iter()
        .map(|input| {
            let mut photo = load::load_photo(&input.path, &opts.load)?;
            if input.date.is_some() {
                photo.date = input.date;
                photo.date_source = DateSource::SeriesFile;
            }
            Ok(photo)
        })
        .collect::<Result<Vec<Photo>>>()?;
    let mut sessions: Vec<(Photo, SessionInput)> =
        photos.into_iter().zip(inputs.to_vec()).collect();
    if !opts.keep_order && sessions.iter().all(|(p, _)| p.date.is_some()) {
        sessions.sort_by_key(|(p, _)| p.date);
        refuse_duplicate_dates(&sessions)?;
    }
    timings.load = ms(started);
    let (photos, inputs): (Vec<Photo>, Vec<SessionInput>) = sessions.into_iter().unzip();
    measure_sessions(photos, &inputs, model, opts, timings)
}

/// Two different photos on one date make the session order (and so the baseline) a guess.
fn refuse_duplicate_dates(sorted: &[(Photo, SessionInput)]) -> Result<()> {
    for pair in sorted.windows(2) {
        let (a, b) = (&pair[0].0, &pair[1].0);
        if a.date == b.date && a.path != b.path {
            return Err(Error::Input {
                path: b.path.clone(),
                reason: format!(
                    "has the same date ({}) as {}: one photo per session (list the sessions \
                     in a series.csv to choose)",
                    b.date.map_or_else(String::new, |d| d.to_string()),
                    a.path.display()
                ),
            });
        }
    }
    Ok(())
}

/// Measures already loaded photos, in the given order; the first is the baseline.
///
/// # Errors
/// As [`run`].
pub fn measure_photos(
    photos: &[Photo],
    model: &Model,
    opts: &SeriesOptions,
    timings: StageTimings,
) -> Result<SeriesResult> {
    let inputs: Vec<SessionInput> = photos
        .iter()
        .map(|p| SessionInput::from_path(&p.path))
        .collect();
    measure_sessions(photos.to_vec(), &inputs, model, opts, timings)
}

/// Where the baseline's scale came from, and its value: the user's option wins over the
/// series file, which wins over a calibration target found in the baseline photo.
pub fn baseline_scale(
    opts: &SeriesOptions,
    baseline: &SessionInput,
    target: Option<&Target>,
) -> (Option<f64>, &'static str) {
    match (opts.px_per_mm, baseline.px_per_mm, target) {
        (Some(v), _, _) => (Some(v), "user"),
        (None, Some(v), _) => (Some(v), "series_file"),
        (None, None, Some(t)) => (Some(t.px_per_mm()), "calibration_target"),
        (None, None, None) => (None, "none"),
    }
}

/// Measures loaded photos with what the user said about each (`inputs[i]` belongs to
/// `photos[i]`), in the given order; the first is the baseline.
///
/// # Errors
/// As [`run`].
pub fn measure_sessions(
    photos: Vec<Photo>,
    inputs: &[SessionInput],
    model: &Model,
    opts: &SeriesOptions,
    mut timings: StageTimings,
) -> Result<SeriesResult> {
    if inputs.len() != photos.len() {
        return Err(Error::Input {
            path: PathBuf::from("-"),
            reason: format!(
                "{} photos but {} session inputs",
                photos.len(),
                inputs.len()
            ),
        });
    }
    let Some(baseline) = photos.first() else {
        return Err(Error::Input {
            path: PathBuf::from("-"),
            reason: "no photos given".into(),
        });
    };
    // Calibration targets: they give the scale and are not skin, so never measured.
    let targets: Vec<Option<Target>> = photos.par_iter().map(|p| find_target(p, opts)).collect();
    let scale = baseline_scale(opts, &inputs[0], targets[0].as_ref());

    // Align every later session onto the baseline. One that cannot be aligned directly is
    // aligned onto the nearest earlier session that was, and the two transforms composed
    // (a course drifts: month 12 may no longer match month 0 but still match month 10).
    // A session that aligns onto nothing is refused.
    let started = Instant::now();
    let mut alignments: Vec<Option<(Alignment, Option<usize>)>> = vec![None];
    for (i, photo) in photos.iter().enumerate().skip(1) {
        let direct = align_session(baseline, photo, opts);
        if direct.status != AlignStatus::Failed {
            alignments.push(Some((direct, None)));
            continue;
        }
        let chained = (1..i).rev().find_map(|j| {
            let (to_base, _) = alignments[j].as_ref()?;
            let step = align::align(&photos[j].image, &photo.image, &opts.align);
            (step.status != AlignStatus::Failed).then(|| chain(to_base, step, j))
        });
        match chained {
            Some(found) => alignments.push(Some(found)),
            None => {
                return Err(Error::Align {
                    // Errors name files as the user gave them, so two same-named photos in
                    // different folders stay distinguishable.
                    baseline: baseline.path.display().to_string(),
                    later: photo.path.display().to_string(),
                    reason: direct
                        .reason
                        .clone()
                        .unwrap_or_else(|| "alignment failed".into()),
                });
            }
        }
    }
    timings.align = ms(started);

    // Segment each photo as the camera took it, then bring its classes into the baseline frame.
    let started = Instant::now();
    let classes: Vec<ClassMap> = photos
        .iter()
        .zip(inputs)
        .zip(&alignments)
        .zip(&targets)
        .map(|(((photo, input), alignment), target)| {
            segment_session(
                photo,
                input,
                alignment.as_ref().map(|(a, _)| a),
                target.as_ref(),
                scale,
                &baseline.image,
                model,
                opts,
            )
        })
        .collect::<Result<_>>()?;
    timings.segment = ms(started);
    measure_prepared(
        photos,
        inputs,
        &alignments,
        classes,
        &targets,
        model,
        opts,
        timings,
    )
}

// Per-session steps, separated from the series-wide measuring so that a caller (`batch`) can
// store each session's alignment and class map and measure the series later from them.

/// A later session's alignment onto the baseline, and the session it was chained through
/// (`None`: aligned directly).
pub type SessionAlignment = (Alignment, Option<usize>);

/// The calibration target in a photo, if any: it gives the scale and is not skin, so it is
/// never measured.
pub fn find_target(photo: &Photo, opts: &SeriesOptions) -> Option<Target> {
    let disc_mm = opts.target_disc_mm.unwrap_or(calibration::DEFAULT_DISC_MM);
    calibration::find_target(&photo.image, disc_mm)
}

/// Aligns a later session directly onto the baseline (the result may have status failed).
pub fn align_session(baseline: &Photo, photo: &Photo, opts: &SeriesOptions) -> Alignment {
    let (width, height) = baseline.image.dimensions();
    let mut direct = align::align(&baseline.image, &photo.image, &opts.align);
    // The same view (e.g. the same photo twice) must measure as exactly no change:
    // a residual below a twentieth of a pixel is estimation noise, not motion.
    if photo.image.dimensions() == (width, height)
        && direct
            .later_to_baseline
            .grid_error(&Homography::IDENTITY, width, height, 5)
            .1
            < 0.05
    {
        direct.later_to_baseline = Homography::IDENTITY;
    }
    direct
}

/// Composes `step` (a later session aligned onto session `via`) with `via`'s own alignment
/// onto the baseline.
pub fn chain(to_base: &Alignment, step: Alignment, via: usize) -> SessionAlignment {
    let mut composed = step;
    composed.later_to_baseline = to_base.later_to_baseline.after(&composed.later_to_baseline);
    (composed, Some(via))
}

/// The scale (px per mm) at which a session is segmented. `scale` is the series' (from
/// [`baseline_scale`]); `target` the session's own calibration target.
pub fn session_scale(
    photo: &Photo,
    input: &SessionInput,
    alignment: Option<&Alignment>,
    target: Option<&Target>,
    scale: (Option<f64>, &'static str),
    opts: &SeriesOptions,
) -> Option<f64> {
    let (px_per_mm, scale_source) = scale;
    let h = alignment.map_or(Homography::IDENTITY, |a| a.later_to_baseline);
    // A session's own stated or measured scale wins (unless the user fixed the
    // baseline's); otherwise the baseline's, carried through the alignment.
    let own_target = (scale_source == "calibration_target")
        .then(|| target.map(Target::px_per_mm))
        .flatten();
    match (alignment, input.px_per_mm, own_target) {
        (Some(_), Some(own), _) if opts.px_per_mm.is_none() => Some(own),
        (Some(_), None, Some(own)) => Some(own),
        _ => px_per_mm.map(|ppm| ppm / area_scale(&h, &photo.image)),
    }
}

/// Segments one session's photo as the camera took it (resampling first would soften thin
/// lines and widen them) but relit to the `baseline` photo's light ([`under_baseline_light`]),
/// at the model's scale for that photo ([`session_scale`]), and takes its classes straight in
/// the baseline frame from the interpolated logits ([`Model::segment_in_frame`]).
///
/// # Errors
/// [`Error::Segment`] when the model fails.
#[allow(clippy::too_many_arguments)]
pub fn segment_session(
    photo: &Photo,
    input: &SessionInput,
    alignment: Option<&Alignment>,
    target: Option<&Target>,
    scale: (Option<f64>, &'static str),
    baseline: &Rgb,
    model: &Model,
    opts: &SeriesOptions,
) -> Result<ClassMap> {
    let (width, height) = baseline.dimensions();
    let h = alignment.map_or(Homography::IDENTITY, |a| a.later_to_baseline);
    let session_px_per_mm = session_scale(photo, input, alignment, target, scale, opts);
    let relit;
    let image = match alignment {
        Some(a) => {
            relit = under_baseline_light(&photo.image, baseline, &a.later_to_baseline);
            &relit
        }
        None => &photo.image,
    };
    Ok(model
        .segment_in_frame(image, session_px_per_mm, &photo.name, &h, (width, height))?
        .classes)
}

/// How [`segment_session`] makes a session's class map, for caches keyed by it: the photo
/// relit to the baseline's exposure and white balance, resampled to the working scale with
/// Lanczos3 below a factor of 1.5, classes from logits interpolated (Catmull-Rom) straight
/// into the baseline frame.
pub const SEGMENTATION_METHOD: &str = "baseline-light|logits-in-frame|catmull-rom|lanczos3<1.5";

/// A later photo, as taken, under the baseline's exposure and white balance: the per-channel
/// gains [`measure::lighting::match_lighting`] fits on every co-located pixel of the two
/// (the later one warped into the baseline frame), applied to the unwarped photo.
///
/// The model then sees each session's skin at the same brightness and colour, so its edges
/// fall in the same place: on the synthetic repeatability study this took the 95th
/// percentile of the fine-line density's change from 2.9 % to 2.4 %.
pub fn under_baseline_light(photo: &Rgb, baseline: &Rgb, later_to_baseline: &Homography) -> Rgb {
    let (width, height) = baseline.dimensions();
    let (warped, valid) = align::warp_to_baseline(photo, later_to_baseline, width, height);
    let (_, gains) = measure::lighting::match_lighting(&warped, baseline, &valid);
    gains.apply(photo)
}

fn focus_report(session: &Metrics, baseline: &Metrics) -> FocusReport {
    let ratio = measure::fine_detail_ratio(session.fine_detail, baseline.fine_detail);
    FocusReport {
        fine_detail_ratio: ratio,
        roughness_comparable: measure::focus_comparable(ratio),
    }
}

/// Whether a photo's valid pixels carry no colour: nearly all (98 %) have their three
/// channels within 10 levels of each other (JPEG leaves a little chroma noise in grey photos).
fn is_black_and_white(image: &Rgb, valid: &Mask) -> bool {
    let (mut grey, mut total) = (0u64, 0u64);
    for (p, v) in image.pixels().zip(valid.pixels()) {
        if v.0[0] != MASK_ON {
            continue;
        }
        let [r, g, b] = p.0;
        total += 1;
        if r.max(g).max(b) - r.min(g).min(b) <= 10 {
            grey += 1;
        }
    }
    total > 0 && grey * 100 >= total * 98
}

/// The series-wide part of [`measure_sessions`]: from each session's alignment (`None` for
/// the baseline, `photos[0]`), class map in the baseline frame and calibration target, warps
/// the photos, finds the common region, matches lighting, measures and builds the report.
/// `timings.align` gains the warping time.
///
/// # Errors
/// Mismatched lengths, no common region, an ROI or reference patch outside the frame.
#[allow(clippy::too_many_arguments)]
pub fn measure_prepared(
    mut photos: Vec<Photo>,
    inputs: &[SessionInput],
    alignments: &[Option<SessionAlignment>],
    classes: Vec<ClassMap>,
    targets: &[Option<Target>],
    model: &Model,
    opts: &SeriesOptions,
    mut timings: StageTimings,
) -> Result<SeriesResult> {
    let Some(baseline) = photos.first() else {
        return Err(Error::Input {
            path: PathBuf::from("-"),
            reason: "no photos given".into(),
        });
    };
    let n = photos.len();
    if inputs.len() != n || alignments.len() != n || classes.len() != n || targets.len() != n {
        return Err(Error::Input {
            path: baseline.path.clone(),
            reason: format!(
                "{n} photos but {} inputs, {} alignments, {} class maps, {} targets",
                inputs.len(),
                alignments.len(),
                classes.len(),
                targets.len()
            ),
        });
    }
    let (width, height) = baseline.image.dimensions();
    let baseline_path = baseline.path.clone();
    let (px_per_mm, scale_source) = baseline_scale(opts, &inputs[0], targets[0].as_ref());
    // A calibration target's white label, read in each photo as taken: a neutral reference for
    // the lighting match (the label may sit elsewhere in each session, so not co-located).
    // A card the user named comes first, so then the labels are not read.
    let label_colours: Vec<Option<calibration::LabelColour>> = photos
        .par_iter()
        .zip(targets)
        .map(|(photo, target)| {
            target
                .as_ref()
                .filter(|_| opts.reference_patch.is_none())
                .and_then(|t| calibration::label_colour(&photo.image, t))
        })
        .collect();
    let started = Instant::now();
    // The photos' pixels are only needed warped: each decoded image is moved out (or dropped
    // once warped), so a series of large photos holds one copy of each session, not two.
    let sizes: Vec<[u32; 2]> = photos
        .iter()
        .map(|p| [p.image.width(), p.image.height()])
        .collect();
    let mut warped: Vec<(Rgb, Mask)> = photos
        .par_iter_mut()
        .zip(alignments)
        .map(|(photo, alignment)| {
            let image = std::mem::take(&mut photo.image);
            match alignment.as_ref().map(|(a, _)| a) {
                Some(a) if a.later_to_baseline != Homography::IDENTITY => {
                    align::warp_to_baseline(&image, &a.later_to_baseline, width, height)
                }
                _ => (
                    image,
                    Mask::from_pixel(width, height, image::Luma([MASK_ON])),
                ),
            }
        })
        .collect();
    timings.align += ms(started);

    let roi = opts
        .roi
        .map(|rect| (rect, opts.roi_origin.as_deref().unwrap_or("--roi")));
    let mut region = common_region(warped.iter().map(|(_, valid)| valid), width, height, roi)?;
    // With an ROI (the treated area) and no card, the skin every session shows outside it is
    // the lighting reference: untreated skin, whose colour the treatment did not change.
    let mut outside_roi = match (opts.roi, opts.reference_patch) {
        (Some(roi), None) => {
            let mut outside =
                common_region(warped.iter().map(|(_, valid)| valid), width, height, None)?;
            clear_rect(&mut outside, roi);
            Some(outside)
        }
        _ => None,
    };
    for (target, alignment) in targets.iter().zip(alignments) {
        let Some(t) = target else { continue };
        let h = alignment
            .as_ref()
            .map_or(Homography::IDENTITY, |(a, _)| a.later_to_baseline);
        if let Some(centre) = h.apply(t.centre.0, t.centre.1) {
            let radius = t.exclusion_radius_px() * h.local_scale(t.centre.0, t.centre.1);
            exclude_disc(&mut region, centre, radius);
            if let Some(outside) = outside_roi.as_mut() {
                exclude_disc(outside, centre, radius);
            }
        }
    }
    if region.pixels().all(|p| p.0[0] != MASK_ON) {
        return Err(Error::Input {
            path: baseline_path.clone(),
            reason: "the sessions have no region in common to measure".into(),
        });
    }
    // Non-skin in any session, and the skin beside it, is neither measured nor a lighting
    // reference.
    let non_skin = non_skin_margin(&classes);
    let non_skin_px = non_skin
        .as_ref()
        .map_or(0, |margin| remove_margin(&mut region, margin));
    if let (Some(outside), Some(margin)) = (outside_roi.as_mut(), non_skin.as_ref()) {
        remove_margin(outside, margin);
    }
    drop(non_skin); // a full-frame mask, not needed any more
    let region_px = count_on(&region);
    if region_px == 0 {
        // The skin class leans on colour, so a black-and-white photo is all "not skin": say so.
        let grey: Vec<&str> = warped
            .iter()
            .zip(&photos)
            .filter(|((image, valid), _)| is_black_and_white(image, valid))
            .map(|(_, p)| p.name.as_str())
            .collect();
        let hint = if grey.is_empty() {
            String::new()
        } else {
            format!(
                " ({} black and white; skin is told from hair and background by its colour: \
                 use colour photos)",
                if grey.len() == 1 {
                    format!("{} is", grey[0])
                } else {
                    format!("{} are", grey.join(", "))
                }
            )
        };
        return Err(Error::Input {
            path: baseline_path.clone(),
            reason: format!(
                "no skin to measure: all {non_skin_px} px the sessions have in common are \
                 segmented as not skin{hint}"
            ),
        });
    }

    // Bring each session's colour to the baseline's, fitted on plain skin in both, then measure.
    let started = Instant::now();
    let measure_opts = MeasureOptions {
        px_per_mm,
        ..opts.measure.clone()
    };
    let baseline_metrics =
        measure::measure(&warped[0].0, &classes[0], &region, &measure_opts, None);
    let mut lighting = vec![None];
    let mut metrics = vec![baseline_metrics.clone()];
    for i in 1..photos.len() {
        let untreated = outside_roi
            .as_ref()
            .map(|outside| plain_skin(outside, &classes[0], &classes[i]))
            .filter(|mask| count_on(mask) >= MIN_UNTREATED_FIT_PX);
        let labels = label_colours[0].as_ref().zip(label_colours[i].as_ref());
        let fit = |fit_mask: &Mask| {
            measure::lighting::match_lighting(&warped[i].0, &warped[0].0, fit_mask)
        };
        // A card the user named, then a calibration label, then untreated skin outside the
        // ROI, then the measured skin itself: the first that is neither treated nor measured.
        let ((matched, transform), source) = match (opts.reference_patch, labels, untreated) {
            (Some(patch), _, _) => (
                fit(&patch_mask(patch, &warped[i].1, width, height)?),
                LIGHTING_FROM_PATCH,
            ),
            (None, Some((baseline_label, session_label)), untreated) => {
                let label = label_transform(
                    baseline_label,
                    session_label,
                    median_colour(&warped[i].0, &region),
                );
                let skin =
                    untreated.unwrap_or_else(|| plain_skin(&region, &classes[0], &classes[i]));
                let t = label_balance(&fit(&skin).1, &label);
                ((t.apply(&warped[i].0), t), LIGHTING_FROM_CALIBRATION_LABEL)
            }
            (None, None, Some(untreated)) => (fit(&untreated), LIGHTING_FROM_SKIN_OUTSIDE_ROI),
            (None, None, None) => (
                fit(&plain_skin(&region, &classes[0], &classes[i])),
                LIGHTING_FROM_MEASURED_SKIN,
            ),
        };
        metrics.push(measure::measure(
            &matched,
            &classes[i],
            &region,
            &measure_opts,
            Some(baseline_metrics.a_median),
        ));
        lighting.push(Some(LightingReport {
            gain: transform.gain,
            offset: transform.offset,
            fit_pixels: transform.fit_pixels,
            source: source.into(),
        }));
        // The unmatched warp is not needed any more: the matched one takes its place.
        warped[i].0 = matched;
    }
    let scar_floor = noise_floor("scar_area_pct", None, region_px);
    let turnover: Vec<_> = (0..photos.len())
        .map(|i| {
            (i > 0).then(|| {
                let compare = measure::scar_turnover::scar_turnover;
                let mut t = compare(&classes[0], &classes[i], &region, &measure_opts);
                if let Some(floor) = &scar_floor {
                    t.weigh_against(floor, metrics[0].scar_area_pct);
                }
                t
            })
        })
        .collect();
    timings.measure = ms(started);

    let started = Instant::now();
    let visuals: Vec<SessionVisuals> = warped
        .into_par_iter()
        .zip(classes.par_iter())
        .zip(turnover.par_iter())
        .map(|(((aligned, valid), classes), turnover)| {
            let mut overlay = crate::report::draw_overlay(&aligned, classes, &valid);
            if let Some(t) = turnover.as_ref().filter(|t| t.needs_check()) {
                crate::report::mark_turnover(&mut overlay, &t.regions);
            }
            SessionVisuals {
                aligned,
                overlay,
                valid,
            }
        })
        .collect();
    timings.report = ms(started);

    let dates: Vec<_> = photos.iter().map(|p| p.date).collect();
    let metric_series = trend::metric_series(&metrics, &dates, px_per_mm);
    let sessions = photos
        .iter()
        .enumerate()
        .map(|(i, photo)| SessionReport {
            index: i,
            input: display_name(photo, opts.full_paths),
            date: photo.date.map(|d| d.format("%Y-%m-%d").to_string()),
            date_source: photo.date_source.as_str().to_string(),
            size: sizes[i],
            label: inputs[i].label.clone(),
            notes: inputs[i].notes.clone(),
            alignment: alignments[i]
                .as_ref()
                .map(|(a, via)| alignment_report(a, *via)),
            lighting: lighting[i].clone(),
            overlay: format!("overlay_s{i}.png"),
            redness_recovered: trend::redness_recovered(&metric_series, i),
            focus: (i > 0).then(|| focus_report(&metrics[i], &metrics[0])),
            scar_turnover: turnover[i].clone(),
        })
        .collect();
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| series_name(&baseline_path));
    let report = Report {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo {
            name: "skintrack".into(),
            version: crate::VERSION.into(),
        },
        model: ModelInfo {
            name: model.manifest.name.clone(),
            version: model.manifest.version.clone(),
            sha256: model.sha256().to_string(),
            file: load::file_name(&model.path),
            class_bias: model.manifest.output.class_bias.clone(),
            scar_core_margin: model.manifest.output.scar_core_margin,
            line_bridge_margin: model.manifest.output.line_bridge_margin,
        },
        series: name,
        scale: ScaleInfo {
            px_per_mm,
            source: scale_source.into(),
            target: targets[0].as_ref().map(|t| TargetInfo {
                centre: [t.centre.0, t.centre.1],
                diameter_px: t.diameter_px,
                diameter_mm: t.diameter_mm,
            }),
        },
        roi: opts.roi,
        common_region: RegionInfo {
            pixels: region_px,
            fraction_of_baseline: region_px as f64 / (width as f64 * height as f64),
            non_skin_px,
            skin_segmented: model.manifest.output.has_non_skin(),
        },
        sessions,
        metrics: metric_series,
        notes: Vec::new(),
        timings_ms: timings,
    };
    Ok(SeriesResult { report, visuals })
}

/// The per-channel gains that bring a session's calibration label to the baseline's colour.
///
/// Light scales linear values, not sRGB codes: the ratio is taken in linear light, then turned
/// into the code-value gain that is exact at the session's typical skin value (`skin`, per
/// channel), since the label is far brighter than skin and sRGB's curve is not a pure power.
fn label_transform(
    baseline: &calibration::LabelColour,
    session: &calibration::LabelColour,
    skin: [f64; 3],
) -> measure::lighting::LightingTransform {
    use measure::color::{linear_to_srgb, srgb_to_linear};
    let (low, high) = measure::lighting::GAIN_RANGE;
    let gain = std::array::from_fn(|c| {
        let linear_gain = srgb_to_linear(baseline.rgb[c]) / srgb_to_linear(session.rgb[c]);
        let at = skin[c].max(1.0);
        (linear_to_srgb(srgb_to_linear(at) * linear_gain) / at).clamp(low, high)
    });
    measure::lighting::LightingTransform {
        gain,
        offset: [0.0; 3],
        fit_pixels: session.pixels,
    }
}

/// White balance from the calibration label, exposure from the skin: the label's gains
/// scaled so that green takes the skin fit's gain. The label is small and lit where it sits,
/// so its brightness follows the local light; its colour balance is what skin cannot give
/// (skin reddened all over would be matched away). Without a skin fit, the label's own gains.
fn label_balance(
    skin: &measure::lighting::LightingTransform,
    label: &measure::lighting::LightingTransform,
) -> measure::lighting::LightingTransform {
    if skin.fit_pixels == 0 {
        return label.clone();
    }
    let (low, high) = measure::lighting::GAIN_RANGE;
    let exposure = skin.gain[1] / label.gain[1];
    measure::lighting::LightingTransform {
        gain: label.gain.map(|g| (g * exposure).clamp(low, high)),
        ..label.clone()
    }
}

/// Median R, G, B of `image` over `region`'s pixels (0 where it has none).
fn median_colour(image: &Rgb, region: &Mask) -> [f64; 3] {
    let mut histograms = [[0u64; 256]; 3];
    let mut n = 0u64;
    for (p, r) in image.pixels().zip(region.pixels()) {
        if r.0[0] == MASK_ON {
            n += 1;
            for c in 0..3 {
                histograms[c][p.0[c] as usize] += 1;
            }
        }
    }
    histograms.map(|h| {
        let mut seen = 0;
        for (v, count) in h.iter().enumerate() {
            seen += count;
            if seen * 2 > n {
                return v as f64;
            }
        }
        0.0
    })
}

/// Linear scale of a homography (baseline px per later px) at the later photo's centre.
fn area_scale(h: &Homography, later: &Rgb) -> f64 {
    let scale = h.local_scale(later.width() as f64 / 2.0, later.height() as f64 / 2.0);
    if scale.is_finite() && scale > 1e-3 {
        scale
    } else {
        1.0
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn display_name(photo: &Photo, full_paths: bool) -> String {
    if full_paths {
        photo.path.display().to_string()
    } else {
        photo.name.clone()
    }
}

/// The series is named after the folder holding the baseline photo.
fn series_name(baseline: &Path) -> String {
    baseline
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "series".into())
}

fn alignment_report(a: &Alignment, via_session: Option<usize>) -> AlignmentReport {
    AlignmentReport {
        later_to_baseline: a.later_to_baseline,
        matches: a.matches,
        inliers: a.inliers,
        rms_px: a.rms_px,
        overlap: a.overlap,
        correlation: a.correlation,
        status: a.status.as_str().into(),
        reason: a.reason.clone(),
        via_session,
    }
}

/// Where every session has valid pixels, inside the ROI, minus a thin border. The ROI comes
/// with where it was given, for its error.
fn common_region<'a>(
    valid: impl Iterator<Item = &'a Mask>,
    width: u32,
    height: u32,
    roi: Option<([u32; 4], &str)>,
) -> Result<Mask> {
    let mut region = Mask::from_pixel(width, height, image::Luma([MASK_ON]));
    if let Some(([x, y, w, h], origin)) = roi {
        check_inside([x, y, w, h], width, height, origin, "ROI")?;
        for (px, py, p) in region.enumerate_pixels_mut() {
            let inside = px >= x && px < x + w && py >= y && py < y + h;
            p.0[0] = if inside { MASK_ON } else { 0 };
        }
    }
    for mask in valid {
        for (r, v) in region.iter_mut().zip(mask.iter()) {
            *r = (*r).min(*v);
        }
    }
    // Trim the border (and the frame's own edge) so resampling edges are never measured.
    let mut trimmed = imageproc::morphology::erode(
        &region,
        imageproc::distance_transform::Norm::LInf,
        BORDER_TRIM_PX as u8,
    );
    for (x, y, p) in trimmed.enumerate_pixels_mut() {
        if x < BORDER_TRIM_PX
            || y < BORDER_TRIM_PX
            || x + BORDER_TRIM_PX >= width
            || y + BORDER_TRIM_PX >= height
        {
            p.0[0] = 0;
        }
    }
    Ok(trimmed)
}

/// Every pixel that some session's class map calls non-skin, and the skin within
/// [`BORDER_TRIM_PX`] of it; `None` when no session has any non-skin. Removed from the
/// measured region ([`remove_margin`]), so all sessions are measured on the same skin and the
/// edge where skin meets hair or backdrop (traced as a "line" or a scar rim by the model) is
/// never measured, as at the frame's border.
fn non_skin_margin(classes: &[ClassMap]) -> Option<Mask> {
    let first = classes.first()?;
    let mut non_skin = Mask::new(first.width(), first.height());
    let mut any = false;
    for map in classes {
        for (n, c) in non_skin.iter_mut().zip(map.iter()) {
            if *c == CLASS_NON_SKIN {
                *n = MASK_ON;
                any = true;
            }
        }
    }
    any.then(|| {
        imageproc::morphology::dilate(
            &non_skin,
            imageproc::distance_transform::Norm::LInf,
            BORDER_TRIM_PX as u8,
        )
    })
}

/// Removes the `margin` ([`non_skin_margin`]) from `region`; returns how many pixels went.
fn remove_margin(region: &mut Mask, margin: &Mask) -> u64 {
    let mut removed = 0;
    for (r, n) in region.iter_mut().zip(margin.iter()) {
        if *r == MASK_ON && *n == MASK_ON {
            *r = 0;
            removed += 1;
        }
    }
    removed
}

/// Removes a disc (a calibration target's label) from the measured region.
fn exclude_disc(region: &mut Mask, (cx, cy): (f64, f64), radius: f64) {
    let (w, h) = region.dimensions();
    let x0 = (cx - radius).floor().max(0.0) as u32;
    let y0 = (cy - radius).floor().max(0.0) as u32;
    let x1 = ((cx + radius).ceil().max(0.0) as u32).min(w);
    let y1 = ((cy + radius).ceil().max(0.0) as u32).min(h);
    for y in y0..y1 {
        for x in x0..x1 {
            if (x as f64 - cx).hypot(y as f64 - cy) <= radius {
                region.put_pixel(x, y, image::Luma([0]));
            }
        }
    }
}

/// A rectangle given by the user must lie inside the baseline frame; `origin` (an option or a
/// file's column) is named in the error.
fn check_inside(rect: [u32; 4], width: u32, height: u32, origin: &str, what: &str) -> Result<()> {
    let [x, y, w, h] = rect;
    if w == 0 || h == 0 || x.saturating_add(w) > width || y.saturating_add(h) > height {
        return Err(Error::Input {
            path: PathBuf::from(origin),
            reason: format!(
                "{what} {x},{y},{w},{h} is not inside the {width}×{height} baseline frame"
            ),
        });
    }
    Ok(())
}

/// The reference patch where the session has valid pixels (an error when the patch is outside
/// the frame; a session that does not see it gets too few fit pixels and keeps its lighting).
fn patch_mask(patch: [u32; 4], valid: &Mask, width: u32, height: u32) -> Result<Mask> {
    check_inside(patch, width, height, "--reference-patch", "patch")?;
    let [x, y, w, h] = patch;
    let mut mask = Mask::new(width, height);
    for py in y..y + h {
        for px in x..x + w {
            if valid.get_pixel(px, py).0[0] == MASK_ON {
                mask.put_pixel(px, py, image::Luma([MASK_ON]));
            }
        }
    }
    Ok(mask)
}

/// Clears the rectangle [x, y, w, h] (clipped to the mask) from `mask`.
fn clear_rect(mask: &mut Mask, [x, y, w, h]: [u32; 4]) {
    for py in y..(y + h).min(mask.height()) {
        for px in x..(x + w).min(mask.width()) {
            mask.put_pixel(px, py, image::Luma([0]));
        }
    }
}

fn count_on(mask: &Mask) -> u64 {
    mask.iter().filter(|&&v| v == MASK_ON).count() as u64
}

/// Region pixels that are plain skin (neither line nor scar) in both sessions: the lighting
/// fit must not see real change in lesions.
fn plain_skin(region: &Mask, baseline: &ClassMap, session: &ClassMap) -> Mask {
    let mut out = region.clone();
    for ((o, b), s) in out.iter_mut().zip(baseline.iter()).zip(session.iter()) {
        if *b != CLASS_BACKGROUND || *s != CLASS_BACKGROUND {
            *o = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change of light (per-channel linear gains, as exposure and white balance act) seen on
    /// a white label brings the session's skin back to the baseline's skin, though skin is far
    /// darker than the label and sRGB is not a pure power: within a tenth of a code value.
    #[test]
    fn a_label_seen_under_new_light_gives_the_gains_that_restore_the_skin() {
        use measure::color::{linear_to_srgb, srgb_to_linear};
        let light = [1.15, 1.0, 0.85];
        let seen = |code: [f64; 3]| -> [f64; 3] {
            std::array::from_fn(|c| linear_to_srgb(srgb_to_linear(code[c]) * light[c]))
        };
        let (label, skin) = ([236.0, 236.0, 232.0], [198.0, 150.0, 128.0]);
        let colour = |rgb| calibration::LabelColour { rgb, pixels: 1000 };
        let t = label_transform(&colour(label), &colour(seen(label)), seen(skin));
        let restored: [f64; 3] = std::array::from_fn(|c| t.gain[c] * seen(skin)[c]);
        for c in 0..3 {
            assert!(
                (restored[c] - skin[c]).abs() < 0.1,
                "{restored:?} vs {skin:?}"
            );
        }
        // Code-value ratios of the label alone miss it by up to 0.4 code values here.
        let naive: [f64; 3] = std::array::from_fn(|c| label[c] / seen(label)[c] * seen(skin)[c]);
        assert!(
            (0..3).any(|c| (naive[c] - skin[c]).abs() > 0.3),
            "{naive:?}"
        );
    }

    /// [`non_skin_margin`] removed from `region`: how many pixels went.
    fn exclude_non_skin(region: &mut Mask, classes: &[ClassMap]) -> u64 {
        non_skin_margin(classes).map_or(0, |margin| remove_margin(region, &margin))
    }

    #[test]
    fn a_later_photo_is_relit_to_the_baseline_as_taken_not_warped() {
        // Skin-like texture; the later photo sees it shifted 6 px right and 4 px down, darker
        // and bluer (gains 0.8, 0.9, 1.1 on R, G, B).
        let texture = |x: i64, y: i64| {
            let v = ((x * 7 + y * 13) % 40) as f64;
            [150.0 + v, 110.0 + v / 2.0, 90.0 + v / 3.0]
        };
        let baseline = Rgb::from_fn(120, 90, |x, y| {
            image::Rgb(texture(x as i64, y as i64).map(|v| v as u8))
        });
        let gains = [0.8, 0.9, 1.1];
        let later = Rgb::from_fn(120, 90, |x, y| {
            let t = texture(x as i64 - 6, y as i64 - 4);
            image::Rgb(std::array::from_fn(|c| (t[c] * gains[c]).round() as u8))
        });
        let later_to_baseline = Homography([[1.0, 0.0, -6.0], [0.0, 1.0, -4.0], [0.0, 0.0, 1.0]]);
        let relit = under_baseline_light(&later, &baseline, &later_to_baseline);
        assert_eq!(relit.dimensions(), later.dimensions(), "the photo as taken");
        let mut worst = 0.0f64;
        for y in 4..90 {
            for x in 6..120 {
                let want = baseline.get_pixel(x - 6, y - 4).0;
                let got = relit.get_pixel(x, y).0;
                for c in 0..3 {
                    worst = worst.max((got[c] as f64 - want[c] as f64).abs());
                }
            }
        }
        // Rounding twice (8-bit later photo, 8-bit relit one) leaves at most 2 levels.
        assert!(
            worst <= 2.0,
            "relit photo differs from the baseline by {worst} levels"
        );
    }

    #[test]
    fn black_and_white_means_no_colour_in_the_valid_pixels() {
        let valid = Mask::from_pixel(10, 10, image::Luma([MASK_ON]));
        let mut grey = Rgb::from_fn(10, 10, |x, y| {
            let v = (x * 20 + y) as u8;
            image::Rgb([v, v.saturating_add(3), v.saturating_sub(4)])
        });
        assert!(is_black_and_white(&grey, &valid));
        // One skin-coloured pixel in a hundred is JPEG noise; three are a colour photo.
        for x in 0..3 {
            grey.put_pixel(x, 0, image::Rgb([200, 150, 120]));
        }
        assert!(!is_black_and_white(&grey, &valid));
        // Colour outside the valid pixels does not count; no valid pixel is no verdict.
        let mut only_rest = valid.clone();
        for x in 0..3 {
            only_rest.put_pixel(x, 0, image::Luma([0]));
        }
        assert!(is_black_and_white(&grey, &only_rest));
        assert!(!is_black_and_white(&grey, &Mask::new(10, 10)));
    }

    #[test]
    fn non_skin_in_any_session_leaves_the_region_once_with_a_margin() {
        // 40 px wide, 1 row: non-skin at x 0 (both sessions) and x 30 (later session only);
        // x 39 is outside the region already.
        let (w, last) = (40u32, 39u32);
        let mut region = Mask::from_pixel(w, 1, image::Luma([MASK_ON]));
        region.put_pixel(last, 0, image::Luma([0]));
        let mut baseline = ClassMap::new(w, 1);
        baseline.put_pixel(0, 0, image::Luma([CLASS_NON_SKIN]));
        let mut later = baseline.clone();
        later.put_pixel(30, 0, image::Luma([CLASS_NON_SKIN]));
        later.put_pixel(12, 0, image::Luma([2]));
        let removed = exclude_non_skin(&mut region, &[baseline, later]);
        let m = BORDER_TRIM_PX;
        let kept: Vec<u32> = (0..w)
            .filter(|&x| region.get_pixel(x, 0)[0] == MASK_ON)
            .collect();
        let expect: Vec<u32> = (0..w)
            .filter(|&x| x > m && (x + m < 30 || x > 30 + m) && x != last)
            .collect();
        assert_eq!(kept, expect);
        // Each pixel counted once, the one already outside not at all.
        assert_eq!(removed, (w - 1) as u64 - expect.len() as u64);
        assert_eq!(exclude_non_skin(&mut region, &[ClassMap::new(w, 1)]), 0);
    }
}
