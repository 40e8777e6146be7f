//! synth: skin-like photos of one treated area over several sessions, with exact truth.
//!
//! Takes [`SynthOptions`] (seed, session count, frame size, scale, dates) and gives a
//! [`SynthSeries`]: per session the photo as the camera saw it, exact class maps (0 skin,
//! 1 fine line, 2 scar) in the session's own frame and in the baseline frame, the exact
//! `later_to_baseline` homography, the lighting applied and the lesion areas.
//! [`write_series`] stores it as JPEG photos, PNG label maps and `truth.json` ([`Truth`]).
//!
//! The skin is procedural: a function of continuous baseline-frame coordinates (see
//! `world`). A session photo's pixel (u, v) shows the world at `later_to_baseline(u, v)`,
//! so warps are exact and there is no resampling. Lesions shrink from session to session by a
//! known amount (the treatment effect), and the recorded areas are counted from the rendered
//! baseline-frame label maps, so they are exact.

mod camera;
pub mod clinical;
mod noise;
mod world;

use std::path::Path;

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::definitions::{CLASS_LINE, CLASS_SCAR, ClassMap, Homography, Rgb};
use crate::{Error, Result};
pub use camera::Lighting;
use world::{Lesions, World};

/// What to generate. Defaults: seed 1, 4 sessions, 1600×1200 at 20 px/mm, first session on
/// 2026-01-05, one session every 42 days, JPEG quality 92.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthOptions {
    /// Seeds everything: same options give identical output.
    pub seed: u64,
    /// Number of sessions; session 0 is the baseline.
    pub sessions: usize,
    pub width: u32,
    pub height: u32,
    /// Scale of the baseline frame (lesion sizes are drawn in mm). Values outside
    /// 0.5..=1000 or not finite are replaced by 20.
    pub px_per_mm: f64,
    pub start_date: NaiveDate,
    pub interval_days: i64,
    /// JPEG quality of written photos (clamped to 1..=100).
    pub jpeg_quality: u8,
    /// Share of each side of the baseline frame kept free of lesions. `None` (default): 0.18
    /// when there are several sessions, so every lesion stays in view in every session, and
    /// 0.03 for a single session (training images with lesions anywhere). Values outside
    /// 0..=0.45 count as `None`.
    #[serde(default)]
    pub lesion_margin: Option<f64>,
    /// Draw a calibration target (README "Physical scale": a black disc of this diameter in mm
    /// on a white label 1.6× as wide) in the lesion-free band at the left edge of the
    /// baseline frame, seen by every session.
    #[serde(default)]
    pub target_mm: Option<f64>,
    /// Lesions stay as at the baseline in every session (repeatability studies: only pose,
    /// lighting and noise change).
    #[serde(default)]
    pub unchanged: bool,
    /// The clinical variety (see the `clinical` module): branching lines, ice-pick, boxcar,
    /// rolling and raised scars, stretch marks, and look-alikes labelled skin (freckles,
    /// pigment spots, acne papules and red marks, hairs, shine). Off by default so that the
    /// fixtures and the measurement tests keep their plain, well-understood skin; training
    /// data and model scores use it.
    #[serde(default)]
    pub clinical: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 1,
            sessions: 4,
            width: 1600,
            height: 1200,
            px_per_mm: 20.0,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 5).expect("valid constant date"),
            interval_days: 42,
            jpeg_quality: 92,
            lesion_margin: None,
            unchanged: false,
            target_mm: None,
            clinical: false,
        }
    }
}

impl SynthOptions {
    /// The lesion margin actually used (see [`SynthOptions::lesion_margin`]).
    pub fn effective_lesion_margin(&self) -> f64 {
        match self.lesion_margin {
            Some(m) if (0.0..=0.45).contains(&m) => m,
            _ if self.sessions <= 1 => 0.03,
            _ => 0.18,
        }
    }

    /// The scale actually used (see [`SynthOptions::px_per_mm`]).
    pub fn effective_px_per_mm(&self) -> f64 {
        if self.px_per_mm.is_finite() && (0.5..=1000.0).contains(&self.px_per_mm) {
            self.px_per_mm
        } else {
            20.0
        }
    }
}

/// One generated session with its exact truth.
#[derive(Clone, Debug)]
pub struct SynthSession {
    pub index: usize,
    pub date: NaiveDate,
    /// The photo as the camera saw it, in the session's own frame (before JPEG).
    pub image: Rgb,
    /// Exact labels (0/1/2) in the session's own frame, at pixel centres.
    pub classes: ClassMap,
    /// This session's lesions rendered in the baseline frame.
    pub classes_in_baseline: ClassMap,
    /// Clinical variety only: which look-alike each pixel of the photo shows (codes
    /// `clinical::LOOK_*`), own frame.
    pub look_alikes: Option<ClassMap>,
    /// Maps this session's pixels into the baseline frame; identity for session 0.
    pub later_to_baseline: Homography,
    /// Class-1 pixels of `classes_in_baseline`.
    pub line_area_px: u64,
    /// Class-2 pixels of `classes_in_baseline`.
    pub scar_area_px: u64,
    /// Total centreline length of the lines outside scars, baseline-frame pixels.
    pub line_length_px: f64,
    /// Lines (drawn curves) with some part outside scars.
    pub line_count: usize,
    pub scar_count: usize,
    /// The exposure/white balance/shading/noise applied.
    pub lighting: Lighting,
}

/// A generated series: the options, the skin tone and the sessions in order.
#[derive(Clone, Debug)]
pub struct SynthSeries {
    pub options: SynthOptions,
    /// Individual typology angle of the base skin colour, degrees.
    pub skin_ita_deg: f64,
    /// The base skin colour, sRGB.
    pub skin_rgb: [u8; 3],
    pub sessions: Vec<SynthSession>,
}

/// `truth.json`: what [`write_series`] wrote and the exact answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub schema_version: u32,
    pub generator: String,
    pub options: SynthOptions,
    pub width: u32,
    pub height: u32,
    pub px_per_mm: f64,
    pub skin_ita_deg: f64,
    pub skin_rgb: [u8; 3],
    pub sessions: Vec<TruthSession>,
}

/// One session in `truth.json`. File names are relative to the series folder; areas are in
/// the baseline frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthSession {
    pub index: usize,
    pub date: NaiveDate,
    pub photo: String,
    pub classes: String,
    pub classes_baseline: String,
    /// Clinical variety only: the look-alike map of the photo (gray values `LOOK_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_alikes: Option<String>,
    /// Row-major 3×3, maps the session photo's pixels into the baseline frame.
    pub later_to_baseline: Homography,
    pub lighting: Lighting,
    pub line_area_px: u64,
    pub scar_area_px: u64,
    pub line_length_px: f64,
    pub line_count: usize,
    pub scar_count: usize,
    /// Areas as % of the baseline frame.
    pub line_area_pct: f64,
    pub scar_area_pct: f64,
    /// Scar area in mm² at `px_per_mm`.
    pub scar_area_mm2: f64,
    /// Line length in mm at `px_per_mm`.
    pub line_length_mm: f64,
}

/// Version of the `truth.json` layout.
pub const TRUTH_SCHEMA_VERSION: u32 = 1;

impl Truth {
    /// The truth record of a series (file names as [`write_series`] writes them).
    pub fn of(series: &SynthSeries) -> Truth {
        let o = &series.options;
        let frame = (o.width as f64 * o.height as f64).max(1.0);
        let ppm = o.effective_px_per_mm();
        let sessions = series
            .sessions
            .iter()
            .map(|s| {
                let stem = file_stem(s);
                TruthSession {
                    index: s.index,
                    date: s.date,
                    photo: format!("{stem}.jpg"),
                    classes: format!("truth/{stem}_classes.png"),
                    classes_baseline: format!("truth/{stem}_classes_baseline.png"),
                    look_alikes: s
                        .look_alikes
                        .as_ref()
                        .map(|_| format!("truth/{stem}_look_alikes.png")),
                    later_to_baseline: s.later_to_baseline,
                    lighting: s.lighting.clone(),
                    line_area_px: s.line_area_px,
                    scar_area_px: s.scar_area_px,
                    line_length_px: s.line_length_px,
                    line_count: s.line_count,
                    scar_count: s.scar_count,
                    line_area_pct: s.line_area_px as f64 / frame * 100.0,
                    scar_area_pct: s.scar_area_px as f64 / frame * 100.0,
                    scar_area_mm2: s.scar_area_px as f64 / (ppm * ppm),
                    line_length_mm: s.line_length_px / ppm,
                }
            })
            .collect();
        Truth {
            schema_version: TRUTH_SCHEMA_VERSION,
            generator: format!("skintrack synth {}", crate::VERSION),
            options: o.clone(),
            width: o.width,
            height: o.height,
            px_per_mm: ppm,
            skin_ita_deg: series.skin_ita_deg,
            skin_rgb: series.skin_rgb,
            sessions,
        }
    }
}

fn file_stem(s: &SynthSession) -> String {
    format!("{}_s{}", s.date.format("%Y-%m-%d"), s.index)
}

/// Draws the skin tone: ITA uniform over very light (60°) to dark (−50°), as CIELAB.
fn draw_skin_tone(rng: &mut ChaCha8Rng) -> [f64; 3] {
    let ita: f64 = rng.random_range(-50.0..60.0);
    let b = rng.random_range(13.0..19.0);
    let l = (50.0 + b * ita.to_radians().tan()).clamp(22.0, 82.0);
    let a = rng.random_range(8.0..18.0);
    world::lab_to_srgb(l, a, b)
}

/// The world of a series with its base skin colour and that colour's ITA (degrees).
fn draw_world(opts: &SynthOptions) -> (World, [u8; 3], f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let base = draw_skin_tone(&mut rng);
    let skin_rgb = base.map(|c| (c * 255.0).round().clamp(0.0, 255.0) as u8);
    let lab = world::srgb_to_lab(skin_rgb);
    let mut clinical_rng = opts
        .clinical
        .then(|| ChaCha8Rng::seed_from_u64(noise::mix64(opts.seed ^ 0xC11_41CA1)));
    let world = World::draw(
        &mut rng,
        base,
        (opts.width, opts.height),
        opts.effective_px_per_mm(),
        opts.effective_lesion_margin(),
        clinical_rng.as_mut(),
    );
    (world, skin_rgb, (lab[0] - 50.0).atan2(lab[2]).to_degrees())
}

/// A session's random choices.
struct Plan {
    later_to_baseline: Homography,
    lighting: Lighting,
    les: Lesions,
    noise_seed: u64,
}

/// Draws session `k`'s view, lighting and lesion state from a random source that depends
/// only on the seed and k.
fn plan_session(opts: &SynthOptions, world: &World, must_see: &[[f64; 2]], k: usize) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(noise::mix64(opts.seed ^ noise::mix64(k as u64 + 1)));
    let later_to_baseline = if k == 0 {
        Homography::IDENTITY
    } else {
        camera::draw_view(&mut rng, opts.width, opts.height, must_see)
    };
    let lighting = if k == 0 {
        Lighting::baseline(&mut rng)
    } else {
        Lighting::draw(&mut rng)
    };
    let mut les = Lesions::draw(&mut rng, world, k);
    if opts.unchanged {
        // Drawn anyway so that the random stream (and so the view and noise) is the same.
        les = Lesions::draw(&mut rng, world, 0);
    }
    Plan {
        later_to_baseline,
        lighting,
        les,
        noise_seed: rng.random(),
    }
}

/// Generates a series (deterministic in `opts`). Session k's random choices depend only on
/// the seed and k, so fewer sessions give the same first sessions.
pub fn generate(opts: &SynthOptions) -> SynthSeries {
    let (w, h) = (opts.width, opts.height);
    let (world, skin_rgb, skin_ita_deg) = draw_world(opts);
    let mut must_see = world.key_points();
    let target = opts.target_mm.map(|mm| CalibrationTarget::place(opts, mm));
    if let Some(t) = &target {
        must_see.extend(t.corners());
    }
    let sessions = (0..opts.sessions)
        .map(|k| {
            let Plan {
                later_to_baseline,
                lighting,
                les,
                noise_seed,
            } = plan_session(opts, &world, &must_see, k);
            let (image, classes, look_alikes) = render(
                &world,
                &les,
                target.as_ref(),
                &later_to_baseline,
                &lighting,
                (w, h),
                noise_seed,
            );
            let classes_in_baseline = if k == 0 {
                classes.clone()
            } else {
                render_labels(&world, &les, w, h)
            };
            let count = |c: u8| {
                classes_in_baseline
                    .as_raw()
                    .iter()
                    .filter(|&&v| v == c)
                    .count() as u64
            };
            let lengths: Vec<f64> = (0..world.lines.len())
                .map(|l| world.visible_length(&les, l))
                .collect();
            SynthSession {
                index: k,
                date: opts.start_date
                    + chrono::Duration::days(opts.interval_days.saturating_mul(k as i64)),
                image,
                classes,
                look_alikes,
                line_area_px: count(CLASS_LINE),
                scar_area_px: count(CLASS_SCAR),
                classes_in_baseline,
                later_to_baseline,
                line_length_px: lengths.iter().sum(),
                line_count: lengths.iter().filter(|&&l| l > 0.0).count(),
                scar_count: world.scars.len(),
                lighting,
            }
        })
        .collect();
    SynthSeries {
        options: opts.clone(),
        skin_ita_deg,
        skin_rgb,
        sessions,
    }
}

/// Renders a session photo, its labels and (clinical variety) its look-alike map: pixel
/// (u, v) shows the world at `view(u, v)`, colour averaged over 2×2 sub-samples where lesions
/// are near, label at the centre; then the camera's lighting and noise.
fn render(
    world: &World,
    les: &Lesions,
    target: Option<&CalibrationTarget>,
    view: &Homography,
    light: &Lighting,
    (w, h): (u32, u32),
    noise_seed: u64,
) -> (Rgb, ClassMap, Option<ClassMap>) {
    let (mut img, mut lab, mut looks) = (Rgb::new(w, h), ClassMap::new(w, h), ClassMap::new(w, h));
    let clinical = world.look_alikes.is_some();
    if w == 0 || h == 0 {
        return (img, lab, clinical.then_some(looks));
    }
    let (cx, cy) = (0.5 * (w as f64 - 1.0), 0.5 * (h as f64 - 1.0));
    let half_diag = 0.5 * (w as f64).hypot(h as f64);
    let dir = light.gradient_angle_deg.to_radians();
    let (gx, gy) = (
        dir.cos() * light.gradient_amplitude / half_diag,
        dir.sin() * light.gradient_amplitude / half_diag,
    );
    let gains = light.white_balance.map(|g| g * light.exposure);
    let unit_gain = gains.iter().all(|&g| g == 1.0);
    let map = |u: f64, v: f64| view.apply(u, v).map(|(x, y)| [x, y]);
    let (wu, row_len) = (w as usize, w as usize * 3);
    // Colours in 0..1 (before blur and noise), row by row.
    let mut colour = vec![0f32; row_len * h as usize];
    colour
        .par_chunks_mut(row_len)
        .zip(lab.par_chunks_mut(wu))
        .zip(looks.par_chunks_mut(wu))
        .enumerate()
        .for_each(|(v, ((row, labels), codes))| {
            let vf = v as f64;
            for u in 0..wu {
                let uf = u as f64;
                let Some(centre) = map(uf, vf) else { continue };
                let subs = [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)]
                    .map(|(du, dv)| map(uf + du, vf + dv).unwrap_or(centre));
                let on_target = target.filter(|t| t.near(centre));
                let mut c = match on_target {
                    Some(t) => t.colour(centre, &subs),
                    None => {
                        let (c, code) = world.colour(les, centre, &subs);
                        codes[u] = code;
                        labels[u] = world.label(les, centre[0], centre[1]);
                        c
                    }
                };
                if !unit_gain {
                    for k in 0..3 {
                        c[k] =
                            world::linear_to_srgb(world::srgb_to_linear(c[k].max(0.0)) * gains[k]);
                    }
                }
                let shade = gx * (uf - cx) + gy * (vf - cy);
                for k in 0..3 {
                    row[3 * u + k] = (c[k] + shade) as f32;
                }
            }
        });
    blur(&mut colour, wu, light.blur_sigma_px);
    img.par_chunks_mut(row_len)
        .zip(colour.par_chunks(row_len))
        .enumerate()
        .for_each(|(v, (out, row))| {
            for (i, (o, &c)) in out.iter_mut().zip(row).enumerate() {
                let idx = (v * wu + i / 3) as i64;
                let n =
                    light.noise_sigma * noise::gauss(noise::hash2(noise_seed, idx, (i % 3) as i64));
                *o = (c as f64 * 255.0 + n).round().clamp(0.0, 255.0) as u8;
            }
        });
    (img, lab, clinical.then_some(looks))
}

/// A calibration target in the baseline frame: black disc on a white square label.
struct CalibrationTarget {
    centre: [f64; 2],
    disc_radius: f64,
    half_label: f64,
}

impl CalibrationTarget {
    /// Middle of the lesion-free band at the left edge: every view keeps it in frame.
    fn place(opts: &SynthOptions, disc_mm: f64) -> CalibrationTarget {
        let margin = opts.effective_lesion_margin() * opts.width as f64;
        let disc = disc_mm.clamp(0.5, 100.0) * opts.px_per_mm;
        CalibrationTarget {
            centre: [margin / 2.0, opts.height as f64 / 2.0],
            disc_radius: disc / 2.0,
            half_label: 0.8 * disc,
        }
    }

    fn corners(&self) -> [[f64; 2]; 4] {
        let ([x, y], r) = (self.centre, self.half_label);
        [
            [x - r, y - r],
            [x + r, y - r],
            [x - r, y + r],
            [x + r, y + r],
        ]
    }

    /// On the label or within a pixel of it (where its edge blends into the skin).
    fn near(&self, p: [f64; 2]) -> bool {
        (p[0] - self.centre[0]).abs() <= self.half_label + 1.0
            && (p[1] - self.centre[1]).abs() <= self.half_label + 1.0
    }

    /// Colour averaged over the pixel centre and its sub-samples, so the disc's edge is
    /// anti-aliased and its area exact on average; label edges blend into plain skin tone.
    fn colour(&self, centre: [f64; 2], subs: &[[f64; 2]; 4]) -> [f64; 3] {
        let skin = [0.78, 0.6, 0.52];
        let at = |p: [f64; 2]| {
            let (dx, dy) = (p[0] - self.centre[0], p[1] - self.centre[1]);
            if dx.hypot(dy) < self.disc_radius {
                [0.09, 0.09, 0.1]
            } else if dx.abs() < self.half_label && dy.abs() < self.half_label {
                [0.93, 0.93, 0.91]
            } else {
                skin
            }
        };
        let mut sum = at(centre);
        for p in subs {
            let c = at(*p);
            for k in 0..3 {
                sum[k] += c[k];
            }
        }
        sum.map(|v| v / 5.0)
    }
}

/// Separable Gaussian blur of an interleaved RGB float image `w` pixels wide, in place
/// (edges clamp); a camera's slight defocus. Does nothing for `sigma` under 0.05 px.
fn blur(img: &mut [f32], w: usize, sigma: f64) {
    if sigma < 0.05 || w == 0 {
        return;
    }
    let r = (3.0 * sigma).ceil() as isize;
    let mut kernel: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let sum: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    let h = img.len() / (3 * w);
    let (wi, hi) = (w as isize, h as isize);
    // Rows.
    img.par_chunks_mut(3 * w).for_each(|row| {
        let src = row.to_vec();
        for u in 0..wi {
            for c in 0..3 {
                row[(3 * u + c) as usize] = (-r..=r)
                    .map(|d| {
                        kernel[(d + r) as usize] * src[(3 * (u + d).clamp(0, wi - 1) + c) as usize]
                    })
                    .sum();
            }
        }
    });
    // Columns, from a copy.
    let src = img.to_vec();
    img.par_chunks_mut(3 * w).enumerate().for_each(|(v, row)| {
        for (i, px) in row.iter_mut().enumerate() {
            *px = (-r..=r)
                .map(|d| {
                    kernel[(d + r) as usize]
                        * src[(v as isize + d).clamp(0, hi - 1) as usize * 3 * w + i]
                })
                .sum();
        }
    });
}

/// Labels of a session's lesions in the baseline frame.
fn render_labels(world: &World, les: &Lesions, w: u32, h: u32) -> ClassMap {
    let mut lab = ClassMap::new(w, h);
    if w == 0 || h == 0 {
        return lab;
    }
    lab.par_chunks_mut(w as usize)
        .enumerate()
        .for_each(|(v, row)| {
            for (u, px) in row.iter_mut().enumerate() {
                *px = world.label(les, u as f64, v as f64);
            }
        });
    lab
}

/// Writes `bytes` to `path` via `path.tmp` in the same folder and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

fn encode_png(img: &ClassMap, path: &Path) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Output {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(out.into_inner())
}

/// Writes the series into `dir` (created if missing): photos `{YYYY-MM-DD}_s{k}.jpg`,
/// `truth/{YYYY-MM-DD}_s{k}_classes.png` (own frame, gray values 0/1/2),
/// `truth/{YYYY-MM-DD}_s{k}_classes_baseline.png` and `truth.json` ([`Truth`]). Every file is
/// written atomically (`name.tmp`, then renamed).
///
/// # Errors
/// [`Error::Output`] naming the file when a folder cannot be created, an image cannot be
/// encoded (e.g. a 0-pixel frame) or a file cannot be written.
pub fn write_series(series: &SynthSeries, dir: &Path) -> Result<()> {
    let truth_dir = dir.join("truth");
    std::fs::create_dir_all(&truth_dir).map_err(|e| Error::Output {
        path: truth_dir.clone(),
        reason: e.to_string(),
    })?;
    let truth = Truth::of(series);
    let quality = series.options.jpeg_quality.clamp(1, 100);
    for (s, t) in series.sessions.iter().zip(&truth.sessions) {
        let photo = dir.join(&t.photo);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality)
            .encode_image(&s.image)
            .map_err(|e| Error::Output {
                path: photo.clone(),
                reason: e.to_string(),
            })?;
        write_atomic(&photo, &jpeg)?;
        let looks = s.look_alikes.as_ref().zip(t.look_alikes.as_ref());
        for (img, name) in [
            (&s.classes, &t.classes),
            (&s.classes_in_baseline, &t.classes_baseline),
        ]
        .into_iter()
        .chain(looks)
        {
            let path = dir.join(name);
            write_atomic(&path, &encode_png(img, &path)?)?;
        }
    }
    let path = dir.join("truth.json");
    let json = serde_json::to_vec_pretty(&truth).map_err(|e| Error::Output {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(&path, &json)
}

#[cfg(test)]
mod tests;
