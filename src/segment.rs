//! segment stage: runs the ONNX segmentation model (via tract) over a photo and gives a class
//! map (0 background, 1 fine line, 2 scar) at the photo's own size.
//!
//! The photo is resampled to the model's working scale (its manifest), cut into overlapping
//! tiles blended with a tapered weight so seams don't show, and the blended logits are
//! interpolated back to the photo's resolution before the per-pixel argmax. This is the only
//! module that knows tract.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::imageops::FilterType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

use crate::definitions::{
    CLASS_BACKGROUND, CLASS_LINE, CLASS_NAMES, CLASS_NON_SKIN, CLASS_SCAR, ClassMap, Homography,
    NON_SKIN_NAME, Rgb, catmull_rom_taps,
};
use crate::error::{Error, Result};

/// The model manifest (`models/NAME.json` beside `models/NAME.onnx`), DESIGN.md "The model
/// contract". Unknown fields are kept out of the way (training details, scores).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub tile: TileSpec,
    pub working_scale: WorkingScale,
    #[serde(default)]
    pub training: serde_json::Value,
    #[serde(default)]
    pub scores: serde_json::Value,
    #[serde(default)]
    pub reference: Option<ReferenceSpec>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InputSpec {
    pub name: String,
    pub layout: String,
    pub color: String,
    pub value_range: [f32; 2],
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Element type; only `float32` is supported. Absent means `float32`.
    #[serde(default)]
    pub dtype: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutputSpec {
    pub name: String,
    /// `logits` or `probabilities`: argmax is the same for both.
    pub kind: String,
    pub classes: Vec<String>,
    /// Added to each class's logit before the argmax (calibrated decision boundary); zeros
    /// when absent.
    #[serde(default)]
    pub class_bias: Option<Vec<f32>>,
    /// Hysteresis for scars: a connected scar region is kept only if its (biased) scar logit
    /// leads every other class's by at least this much somewhere; its weaker edge pixels are
    /// kept with it. Regions without such a confident core take their runner-up class. Absent:
    /// every scar pixel is kept.
    #[serde(default)]
    pub scar_core_margin: Option<f32>,
    /// Bridging for fine lines: a background pixel whose (biased) fine-line logit trails the
    /// best class's by at most this much, on a ridge of that difference, is a weak line pixel,
    /// and an 8-connected region of weak pixels that touches two or more separate fine-line
    /// pieces becomes fine line, joining them. A line that fades between sessions thins below
    /// the decision boundary in places; without this it breaks into pieces and the line count
    /// rises as the lines improve. Absent: no bridging.
    #[serde(default)]
    pub line_bridge_margin: Option<f32>,
    /// Element type; only `float32` is supported. Absent means `float32`.
    #[serde(default)]
    pub dtype: Option<String>,
}

impl OutputSpec {
    /// The class-map code of each model class, in output order: the measured classes keep
    /// their index, `non_skin` becomes [`CLASS_NON_SKIN`], any other extra class background.
    pub fn class_codes(&self) -> Vec<u8> {
        (0..self.classes.len())
            .map(|c| match self.classes[c].as_str() {
                _ if c < CLASS_NAMES.len() => c as u8,
                NON_SKIN_NAME => CLASS_NON_SKIN,
                _ => CLASS_BACKGROUND,
            })
            .collect()
    }

    /// Whether the model tells skin from non-skin.
    pub fn has_non_skin(&self) -> bool {
        self.classes
            .iter()
            .skip(CLASS_NAMES.len())
            .any(|c| c == NON_SKIN_NAME)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TileSpec {
    pub size: u32,
    pub overlap: u32,
    #[serde(default = "default_multiple")]
    pub multiple_of: u32,
}

fn default_multiple() -> u32 {
    16
}

/// The scale the model was trained at: px per mm when the photo's scale is known, else the
/// photo is resized to this longest side.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkingScale {
    pub px_per_mm: Option<f64>,
    pub longest_side: Option<u32>,
}

/// A stored input tile and the model's reference output for it, written at export time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReferenceSpec {
    pub input_png: String,
    pub output_f32le: String,
    pub shape: [usize; 4],
    /// Largest absolute difference allowed between the stored and a runtime's output.
    #[serde(default)]
    pub tolerance: Option<f32>,
}

/// The shipped model's file name in `models/`.
pub const DEFAULT_MODEL_FILE: &str = "skinseg-v1.onnx";

/// The path of the manifest that belongs to an ONNX file: same stem, `.json`.
pub fn manifest_path(onnx: &Path) -> PathBuf {
    onnx.with_extension("json")
}

/// Reads and parses a manifest.
///
/// # Errors
/// [`Error::Model`] naming the manifest when it is missing or malformed.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let fail = |reason: String| Error::Model {
        path: path.to_path_buf(),
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read manifest: {e}")))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| fail(format!("invalid manifest: {e}")))?;
    validate_manifest(&manifest).map_err(fail)?;
    Ok(manifest)
}

fn validate_manifest(m: &Manifest) -> std::result::Result<(), String> {
    if m.input.layout != "NCHW" || m.input.color != "RGB" {
        return Err(format!(
            "unsupported input layout {} / colour {} (expected NCHW / RGB)",
            m.input.layout, m.input.color
        ));
    }
    // The first classes are the ones skintrack measures; a model may add more after them:
    // `non_skin` is left out of every measurement, any other counts as background.
    if m.output.classes.len() < CLASS_NAMES.len()
        || m.output.classes[..CLASS_NAMES.len()] != CLASS_NAMES
    {
        return Err(format!(
            "output classes {:?}, expected {:?} first",
            m.output.classes, CLASS_NAMES
        ));
    }
    if m.output.kind != "logits" && m.output.kind != "probabilities" {
        return Err(format!(
            "output kind '{}', expected 'logits' or 'probabilities'",
            m.output.kind
        ));
    }
    for (what, dtype) in [("input", &m.input.dtype), ("output", &m.output.dtype)] {
        if let Some(d) = dtype
            && d != "float32"
        {
            return Err(format!("{what} dtype '{d}', only 'float32' is supported"));
        }
    }
    if let Some(bias) = &m.output.class_bias
        && (bias.len() != m.output.classes.len() || bias.iter().any(|b| !b.is_finite()))
    {
        return Err(format!(
            "output class_bias needs one finite value per class ({}), got {bias:?}",
            m.output.classes.len()
        ));
    }
    if let Some(margin) = m.output.scar_core_margin
        && !(margin.is_finite() && margin >= 0.0)
    {
        return Err(format!(
            "output scar_core_margin must be a finite logit margin ≥ 0, got {margin}"
        ));
    }
    if let Some(margin) = m.output.line_bridge_margin
        && !(margin.is_finite() && margin >= 0.0)
    {
        return Err(format!(
            "output line_bridge_margin must be a finite logit margin ≥ 0, got {margin}"
        ));
    }
    let finite = m
        .input
        .mean
        .iter()
        .chain(&m.input.value_range)
        .all(|v| v.is_finite());
    if !finite
        || m.input.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
        || m.input.value_range[1].partial_cmp(&m.input.value_range[0])
            != Some(std::cmp::Ordering::Greater)
    {
        return Err(
            "input mean, std and value_range must be finite, std positive, value_range increasing"
                .into(),
        );
    }
    let t = &m.tile;
    if t.multiple_of == 0
        || !(32..=2048).contains(&t.size)
        || !t.size.is_multiple_of(t.multiple_of)
        || t.overlap >= t.size / 2
    {
        return Err(format!(
            "tile size {} / overlap {} / multiple_of {} are inconsistent",
            t.size, t.overlap, t.multiple_of
        ));
    }
    if m.working_scale.px_per_mm.is_none() && m.working_scale.longest_side.is_none() {
        return Err("working_scale needs px_per_mm or longest_side".into());
    }
    Ok(())
}

/// Hex sha256 of a byte string.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Options of the segment stage.
#[derive(Clone, Debug, Default)]
pub struct SegmentOptions {
    /// Tiles run at once; 0 = rayon's thread count. One tract state per worker.
    pub parallel_tiles: usize,
}

/// A loaded model: one optimised plan shared by every worker thread.
pub struct Model {
    pub manifest: Manifest,
    pub path: PathBuf,
    plan: Arc<TypedRunnableModel>,
    tile: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("tile", &self.tile)
            .finish()
    }
}

/// The segmentation of one photo.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// Class per pixel at the photo's size.
    pub classes: ClassMap,
    /// Size the model actually saw.
    pub working_size: (u32, u32),
}

impl Model {
    /// Loads the ONNX model at `onnx_path` with its manifest beside it, checks the sha256 and
    /// the tensor shapes, and prepares it for tiles of the manifest's size.
    ///
    /// # Errors
    /// [`Error::Model`] naming the file: missing, checksum mismatch, unreadable ONNX, or
    /// input/output that disagree with the manifest.
    pub fn load(onnx_path: &Path) -> Result<Model> {
        let manifest = read_manifest(&manifest_path(onnx_path))?;
        let tile = manifest.tile.size as usize;
        Model::load_with_tile(onnx_path, manifest, tile)
    }

    /// As [`Model::load`] with an explicit manifest and tile size (tests use small tiles).
    ///
    /// # Errors
    /// As [`Model::load`].
    pub fn load_with_tile(onnx_path: &Path, manifest: Manifest, tile: usize) -> Result<Model> {
        let fail = |reason: String| Error::Model {
            path: onnx_path.to_path_buf(),
            reason,
        };
        let bytes =
            std::fs::read(onnx_path).map_err(|e| fail(format!("cannot read model: {e}")))?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(fail(format!(
                "sha256 mismatch: file is {actual}, manifest says {} (wrong or corrupted model file)",
                manifest.sha256
            )));
        }
        let plan = build_plan(&bytes, &manifest, tile).map_err(|e| fail(format!("{e:#}")))?;
        Ok(Model {
            manifest,
            path: onnx_path.to_path_buf(),
            plan,
            tile,
        })
    }

    /// Hex sha256 of the model file (checked against the manifest at load).
    pub fn sha256(&self) -> &str {
        &self.manifest.sha256
    }

    /// The manifest's decision settings applied to the logits (class bias, scar core
    /// margin, line bridge margin), as text: with the checksum, what a cached class map
    /// depends on.
    pub fn decision_key(&self) -> String {
        let out = &self.manifest.output;
        let mut key = format!(
            "class_bias {:?}|scar_core_margin {:?}",
            out.class_bias, out.scar_core_margin
        );
        // Absent keeps the key of earlier versions, so their cached class maps stay valid.
        if let Some(margin) = out.line_bridge_margin {
            key.push_str(&format!("|line_bridge_margin {margin:?}"));
        }
        key
    }

    /// Tile edge in pixels.
    pub fn tile_size(&self) -> usize {
        self.tile
    }

    /// Runs the network on one normalised tile [1, 3, tile, tile]; gives logits [1, C, tile, tile].
    ///
    /// # Errors
    /// tract errors, as text.
    pub fn run_tile(&self, input: Tensor) -> std::result::Result<Tensor, String> {
        let mut state = self.plan.spawn().map_err(|e| format!("{e:#}"))?;
        run_state(&mut state, input)
    }

    /// Raw logits [C·h·w] for one RGB tile of exactly the plan's tile size, normalised as
    /// the manifest says (the reference check of the tests and `model check`).
    ///
    /// # Errors
    /// A tile of the wrong size, or a tract error, as text.
    pub fn logits_for_tile(&self, tile: &Rgb) -> std::result::Result<Vec<f32>, String> {
        let size = self.tile as u32;
        if tile.dimensions() != (size, size) {
            return Err(format!(
                "tile is {:?}, the model is prepared for {size}×{size}",
                tile.dimensions()
            ));
        }
        let output = self.run_tile(tile_tensor(tile, 0, 0, size, &self.manifest.input))?;
        let view = output
            .to_plain_array_view::<f32>()
            .map_err(|e| format!("{e:#}"))?;
        Ok(view.iter().copied().collect())
    }

    /// The scale factor (working px per photo px) at which the model sees a photo.
    pub fn working_factor(&self, width: u32, height: u32, px_per_mm: Option<f64>) -> f64 {
        let ws = &self.manifest.working_scale;
        let factor = match (px_per_mm, ws.px_per_mm, ws.longest_side) {
            (Some(have), Some(want), _) if have > 0.0 => want / have,
            (_, _, Some(side)) => side as f64 / width.max(height) as f64,
            (_, Some(_), None) => 1.0,
            (_, None, None) => 1.0,
        };
        // Never blow a small photo up past 2× (no detail to gain), never below 1/16.
        factor.clamp(1.0 / 16.0, 2.0)
    }

    /// Segments a photo. `name` is used in error messages.
    ///
    /// # Errors
    /// [`Error::Segment`] when the network fails on a tile.
    pub fn segment(&self, image: &Rgb, px_per_mm: Option<f64>, name: &str) -> Result<Segmentation> {
        let (width, height) = image.dimensions();
        self.segment_in_frame(
            image,
            px_per_mm,
            name,
            &Homography::IDENTITY,
            (width, height),
        )
    }

    /// Segments a photo and gives its class map in another frame of `frame_size` (the
    /// baseline's), `photo_to_frame` mapping photo pixels into it. Each frame pixel takes the
    /// class of the logits interpolated once (Catmull-Rom) at its place in the model's working
    /// image: no class map is resampled a second time, so a lesion's edge does not move by the
    /// half pixel a nearest-neighbour warp of the photo-size map would add. Frame pixels whose
    /// source lies outside the photo are background.
    ///
    /// # Errors
    /// [`Error::Segment`] when the network fails on a tile.
    pub fn segment_in_frame(
        &self,
        image: &Rgb,
        px_per_mm: Option<f64>,
        name: &str,
        photo_to_frame: &Homography,
        frame_size: (u32, u32),
    ) -> Result<Segmentation> {
        let fail = |reason: String| Error::Segment {
            input: name.to_string(),
            reason,
        };
        let (width, height) = image.dimensions();
        let factor = self.working_factor(width, height, px_per_mm);
        let work_w = ((width as f64 * factor).round() as u32).max(1);
        let work_h = ((height as f64 * factor).round() as u32).max(1);
        let working = if (work_w, work_h) == (width, height) {
            image.clone()
        } else {
            image::imageops::resize(image, work_w, work_h, working_filter(factor))
        };
        let logits = self.logits(&working).map_err(fail)?;
        let scorer = ClassScorer {
            logits: &logits,
            codes: self.manifest.output.class_codes(),
            bias: self.manifest.output.class_bias.clone().unwrap_or_default(),
            scar_core_margin: self.manifest.output.scar_core_margin,
            line_bridge_margin: self.manifest.output.line_bridge_margin,
            photo_size: (width, height),
        };
        let classes = if *photo_to_frame == Homography::IDENTITY {
            scorer.classes(frame_size, |x, y| Some((x, y)))
        } else {
            let frame_to_photo = photo_to_frame.inverse().ok_or_else(|| {
                fail("the transform into the baseline frame cannot be inverted".into())
            })?;
            scorer.classes(frame_size, |x, y| frame_to_photo.apply(x, y))
        };
        Ok(Segmentation {
            classes,
            working_size: (work_w, work_h),
        })
    }

    /// Blended logits of the whole working image, [C][h·w] row-major.
    ///
    /// Tiles run in parallel, one spawned tract state per worker (tract runs one call per
    /// thread, so parallel tiles are what use the cores). They are taken a few rows of tiles
    /// at a time so that a large photo never holds every tile's output at once, and each
    /// batch is blended in tile order, so the result does not depend on the thread count.
    fn logits(&self, image: &Rgb) -> std::result::Result<Logits, String> {
        let (w, h) = image.dimensions();
        let tile = self.tile as u32;
        let overlap = self.manifest.tile.overlap;
        let xs = tile_origins(w, tile, overlap);
        let ys = tile_origins(h, tile, overlap);
        let origins: Vec<(u32, u32)> = ys
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
            .collect();
        let classes = self.manifest.output.classes.len();
        let weights = taper(tile as usize, overlap as usize);
        let spec = &self.manifest.input;
        let plane = (w * h) as usize;
        let mut out = Logits {
            classes,
            width: w,
            height: h,
            data: vec![0.0; classes * plane],
        };
        let mut weight_sum = vec![0.0f32; plane];
        // About 64 tiles per batch (whole rows of tiles): enough to keep every worker busy.
        let rows_per_batch = (64 / xs.len()).max(1);
        for batch in origins.chunks(rows_per_batch * xs.len()) {
            let outputs: Vec<std::result::Result<Tensor, String>> = batch
                .par_iter()
                .map_init(
                    || self.plan.spawn().map_err(|e| format!("{e:#}")),
                    |state, &(x0, y0)| {
                        let state = state.as_mut().map_err(|e| e.clone())?;
                        run_state(state, tile_tensor(image, x0, y0, tile, spec))
                    },
                )
                .collect();
            for (&(x0, y0), output) in batch.iter().zip(outputs) {
                let output = output?;
                let view = output
                    .to_plain_array_view::<f32>()
                    .map_err(|e| format!("{e:#}"))?;
                let values = view
                    .as_slice()
                    .ok_or("the model's output is not a contiguous tensor")?;
                if values.len() != classes * (tile * tile) as usize {
                    return Err(format!(
                        "the model gave {} values for a tile, expected {classes}×{tile}×{tile}",
                        values.len()
                    ));
                }
                blend_tile(&mut out, &mut weight_sum, values, &weights, (x0, y0), tile);
            }
        }
        out.data
            .par_chunks_mut(w as usize)
            .enumerate()
            .for_each(|(i, row)| {
                let y = i % h as usize;
                let sums = &weight_sum[y * w as usize..(y + 1) * w as usize];
                for (v, s) in row.iter_mut().zip(sums) {
                    *v /= s.max(1e-6);
                }
            });
        Ok(out)
    }
}

/// Adds one tile's logits [C][tile·tile], weighted by the separable taper, into the
/// image-wide sums at (x0, y0), and the weights into `weight_sum`.
fn blend_tile(
    out: &mut Logits,
    weight_sum: &mut [f32],
    values: &[f32],
    weights: &[f32],
    (x0, y0): (u32, u32),
    tile: u32,
) {
    let (w, h) = (out.width as usize, out.height as usize);
    let (x0, y0, t) = (x0 as usize, y0 as usize, tile as usize);
    let plane = w * h;
    // A tile can reach past a photo smaller than itself (mirrored pixels): drop that part.
    let cols = t.min(w - x0);
    let wx = &weights[..cols];
    for ty in 0..t.min(h - y0) {
        let wy = weights[ty];
        let at = (y0 + ty) * w + x0;
        for (s, &v) in weight_sum[at..at + cols].iter_mut().zip(wx) {
            *s += wy * v;
        }
        for c in 0..out.classes {
            let src = &values[c * t * t + ty * t..][..cols];
            let dst = &mut out.data[c * plane + at..][..cols];
            for ((d, &v), &wxi) in dst.iter_mut().zip(src).zip(wx) {
                *d += wy * wxi * v;
            }
        }
    }
}

/// What `skintrack model check` found on a model that matches its manifest.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub manifest: Manifest,
    /// The output shape for one tile, [1, classes, tile, tile].
    pub output_shape: Vec<usize>,
    /// Wall time of the network on one tile, one thread, after a warm-up run (milliseconds).
    pub tile_ms: f64,
    /// Largest absolute difference to the manifest's reference output, and its tolerance.
    pub reference: Option<(f32, f32)>,
}

/// Checks a model against its manifest: the manifest's own consistency, the sha256, the
/// input (name, element type, NCHW with 3 channels, fixed sizes against the tile size) and
/// the output (name, element type, number of classes, shape for one tile) as the ONNX graph
/// declares them; then runs one deterministic tile and checks that its output has the right
/// shape, is finite and agrees with `output.kind`; and reproduces the manifest's reference
/// output, when it names one.
///
/// # Errors
/// [`Error::Model`] naming the file at fault (manifest, model or reference file) and the first
/// mismatch found.
pub fn check(onnx_path: &Path) -> Result<CheckReport> {
    let manifest = read_manifest(&manifest_path(onnx_path))?;
    let tile = manifest.tile.size as usize;
    let model = Model::load_with_tile(onnx_path, manifest.clone(), tile)?;
    let fail = |reason: String| Error::Model {
        path: onnx_path.to_path_buf(),
        reason,
    };
    let input = tile_tensor(&check_tile(tile as u32), 0, 0, tile as u32, &manifest.input);
    let mut state = model.plan.spawn().map_err(|e| fail(format!("{e:#}")))?;
    // The first run allocates the plan's buffers: time the second.
    run_state(&mut state, input.clone()).map_err(&fail)?;
    let started = std::time::Instant::now();
    let output = run_state(&mut state, input).map_err(&fail)?;
    let tile_ms = started.elapsed().as_secs_f64() * 1e3;
    check_output_values(&output, &manifest, tile).map_err(&fail)?;
    let reference = match &manifest.reference {
        Some(spec) => Some(check_reference(onnx_path, &manifest, spec)?),
        None => None,
    };
    Ok(CheckReport {
        output_shape: output.shape().to_vec(),
        manifest,
        tile_ms,
        reference,
    })
}

/// A deterministic skin-coloured test tile with a gradient and a dark diagonal line.
fn check_tile(size: u32) -> Rgb {
    Rgb::from_fn(size, size, |x, y| {
        let g = ((x * 7 + y * 13) % 64) as u8;
        let line = if x.abs_diff(y) < 2 { 60 } else { 0 };
        image::Rgb([170 + g / 2 - line, 130 + g / 3 - line, 110 + g / 4 - line])
    })
}

/// One tile's output: shape [1, classes, tile, tile], finite, and logits or probabilities as
/// the manifest says (probabilities lie in [0, 1] and sum to 1 over the classes; logits of a
/// trained network do not do that everywhere).
fn check_output_values(
    output: &Tensor,
    manifest: &Manifest,
    tile: usize,
) -> std::result::Result<(), String> {
    let name = &manifest.output.name;
    let classes = manifest.output.classes.len();
    let expected = [1, classes, tile, tile];
    if output.shape() != expected {
        return Err(format!(
            "model output '{name}' has shape {:?} for a test tile, expected {expected:?}",
            output.shape()
        ));
    }
    let view = output
        .to_plain_array_view::<f32>()
        .map_err(|e| format!("{e:#}"))?;
    let bad = view.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return Err(format!(
            "model output '{name}' has {bad} non-finite values (NaN or infinity) on a test tile"
        ));
    }
    let plane = tile * tile;
    let values: Vec<f32> = view.iter().copied().collect();
    let like_probabilities = values.iter().all(|v| (-1e-4..=1.0 + 1e-4).contains(v))
        && (0..plane).all(|i| {
            let sum: f32 = (0..classes).map(|c| values[c * plane + i]).sum();
            (sum - 1.0).abs() < 1e-3
        });
    match (manifest.output.kind.as_str(), like_probabilities) {
        ("logits", true) => Err(format!(
            "model output '{name}' sums to 1 over the classes at every pixel (probabilities), \
             manifest says kind 'logits'"
        )),
        ("probabilities", false) => Err(format!(
            "model output '{name}' is not in [0, 1] summing to 1 over the classes, manifest \
             says kind 'probabilities'"
        )),
        _ => Ok(()),
    }
}

/// Runs the manifest's reference input and compares with its stored output: (largest absolute
/// difference, tolerance).
fn check_reference(
    onnx_path: &Path,
    manifest: &Manifest,
    spec: &ReferenceSpec,
) -> Result<(f32, f32)> {
    let dir = onnx_path.parent().unwrap_or(Path::new("."));
    let input_path = dir.join(&spec.input_png);
    let output_path = dir.join(&spec.output_f32le);
    let fail = |path: &Path, reason: String| Error::Model {
        path: path.to_path_buf(),
        reason,
    };
    let [n, c, h, w] = spec.shape;
    let classes = manifest.output.classes.len();
    if n != 1 || c != 3 || h != w || h == 0 {
        return Err(fail(
            &manifest_path(onnx_path),
            format!("reference shape {:?}, expected [1, 3, S, S]", spec.shape),
        ));
    }
    let tile = image::open(&input_path)
        .map_err(|e| fail(&input_path, format!("cannot read reference input: {e}")))?
        .to_rgb8();
    if tile.dimensions() != (w as u32, h as u32) {
        return Err(fail(
            &input_path,
            format!(
                "reference input is {:?}, manifest says {w}×{h}",
                tile.dimensions()
            ),
        ));
    }
    let bytes = std::fs::read(&output_path)
        .map_err(|e| fail(&output_path, format!("cannot read reference output: {e}")))?;
    if bytes.len() != classes * h * w * 4 {
        return Err(fail(
            &output_path,
            format!(
                "reference output has {} bytes, expected {classes}×{h}×{w} float32 = {}",
                bytes.len(),
                classes * h * w * 4
            ),
        ));
    }
    let model = Model::load_with_tile(onnx_path, manifest.clone(), w)?;
    let got = model
        .logits_for_tile(&tile)
        .map_err(|e| fail(onnx_path, e))?;
    let worst = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .zip(&got)
        .map(|(want, have)| (want - have).abs())
        .fold(
            0f32,
            |a, d| if d.is_nan() { f32::INFINITY } else { a.max(d) },
        );
    let tolerance = spec.tolerance.unwrap_or(1e-4);
    if worst > tolerance {
        return Err(fail(
            onnx_path,
            format!(
                "output differs from the reference {} by up to {worst:.2e} (tolerance {tolerance:.0e})",
                spec.output_f32le
            ),
        ));
    }
    Ok((worst, tolerance))
}

/// Builds the optimised plan: parse → check the declared input/output against the manifest →
/// fix the input shape → check the output shape → optimise.
fn build_plan(
    bytes: &[u8],
    manifest: &Manifest,
    tile: usize,
) -> TractResult<Arc<TypedRunnableModel>> {
    // Parse the ONNX protobuf into tract's inference graph.
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(|e| e.context("not a readable ONNX model"))?;
    check_declared_input(&model, manifest, tile)?;
    select_output(&mut model, manifest)?;
    // Fix the input to one RGB tile so every shape below is concrete.
    model.set_input_fact(0, f32::fact([1, 3, tile, tile]).into())?;
    let typed = model.into_typed().map_err(|e| {
        e.context(format!(
            "the model cannot run a {tile}×{tile} tile (manifest tile.size {tile})"
        ))
    })?;
    check_output_fact(typed.output_fact(0)?, manifest, tile)?;
    let mut typed = typed.into_decluttered()?;
    lower_wide_convs_through_matmul(&mut typed)?;
    let optimized = typed.into_optimized()?;
    // A runnable plan, shared read-only by all workers.
    optimized.into_runnable()
}

/// Convolutions with more inputs per output point than this go through im2col and a matrix
/// product rather than tract's direct-spatial kernel.
///
/// tract makes every f32 3×3 convolution with up to 576 inputs per output point direct-spatial.
/// On skinseg-v1 (AVX-512, one 256² tile, one thread) direct-spatial wins with 3 and 8 input
/// channels (27 and 72 inputs: 0.56 against 0.92 ms, 0.85 against 2.41, 2.02 against 4.16)
/// and loses with 16 (144 inputs: 3.2 against 2.1 ms, twice); bench/segment/RESULTS.md.
const DIRECT_SPATIAL_MAX_INPUTS: usize = 72;

/// Gives each convolution wider than [`DIRECT_SPATIAL_MAX_INPUTS`] its im2col + matrix-product
/// form now, with direct-spatial switched off for that one node, so that the optimiser leaves
/// it so and keeps direct-spatial for the narrow ones.
fn lower_wide_convs_through_matmul(model: &mut TypedModel) -> TractResult<()> {
    use tract_onnx::tract_core::internal::TypedOp;
    use tract_onnx::tract_core::knobs::KnobScope;
    use tract_onnx::tract_core::ops::cnn::Conv;
    let im2col_only = KnobScope::new([("TRACT_DISABLE_DIRECT_SPATIAL", "true")])?;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        let inputs = conv.input_channels() * conv.pool_spec.kernel_shape.iter().product::<usize>();
        if inputs <= DIRECT_SPATIAL_MAX_INPUTS {
            continue;
        }
        if let Some(patch) = im2col_only.enter(|| conv.codegen(model, node))? {
            patch.apply(model)?;
        }
    }
    Ok(())
}

/// The graph's one input, as the ONNX file declares it, against the manifest's `input` and
/// tile size: name, element type, rank 4 NCHW with batch 1 and 3 channels, and height/width
/// either dynamic or equal to the tile size.
fn check_declared_input(
    model: &InferenceModel,
    manifest: &Manifest,
    tile: usize,
) -> TractResult<()> {
    let inputs = model.input_outlets()?;
    anyhow::ensure!(
        inputs.len() == 1,
        "model has {} inputs, skintrack feeds exactly one",
        inputs.len()
    );
    let name = model.node(inputs[0].node).name.clone();
    anyhow::ensure!(
        name == manifest.input.name,
        "model input is named '{name}', manifest says '{}'",
        manifest.input.name
    );
    let fact = model.input_fact(0)?;
    if let GenericFactoid::Only(dt) = fact.datum_type {
        anyhow::ensure!(
            dt == f32::datum_type(),
            "model input '{name}' is {dt:?}, manifest says float32"
        );
    }
    if fact.shape.is_open() {
        return Ok(());
    }
    // None: dynamic (a symbol like `height`) or unknown.
    let dims: Vec<Option<i64>> = fact
        .shape
        .dims()
        .map(|d| d.concretize().and_then(|d| d.to_i64().ok()))
        .collect();
    let shown = show_dims(&dims);
    anyhow::ensure!(
        dims.len() == 4,
        "model input '{name}' has shape {shown}, manifest says NCHW (rank 4)"
    );
    if let Some(c) = dims[1]
        && c != 3
    {
        let hint = if dims[3] == Some(3) {
            " (channels last?)"
        } else {
            ""
        };
        anyhow::bail!(
            "model input '{name}' has shape {shown}{hint}, manifest says {} with 3 channels ({})",
            manifest.input.layout,
            manifest.input.color
        );
    }
    if let Some(n) = dims[0]
        && n != 1
    {
        anyhow::bail!(
            "model input '{name}' has batch {n} (shape {shown}), skintrack feeds batch 1"
        );
    }
    if dims[2..]
        .iter()
        .any(|d| d.is_some_and(|v| v != tile as i64))
    {
        anyhow::bail!(
            "model input '{name}' has fixed size {shown}, manifest tile size is {tile}×{tile}"
        );
    }
    Ok(())
}

/// Makes the output named in the manifest the model's only output (a model may have more
/// heads than skintrack uses).
fn select_output(model: &mut InferenceModel, manifest: &Manifest) -> TractResult<()> {
    let outlets = model.output_outlets()?.to_vec();
    let names: Vec<String> = outlets
        .iter()
        .map(|&o| {
            model
                .outlet_label(o)
                .map_or_else(|| model.node(o.node).name.clone(), str::to_string)
        })
        .collect();
    let Some(ix) = names.iter().position(|n| *n == manifest.output.name) else {
        anyhow::bail!(
            "model has no output named '{}' (its outputs: {})",
            manifest.output.name,
            names.join(", ")
        );
    };
    if outlets.len() > 1 {
        model.select_output_outlets(&[outlets[ix]])?;
    }
    Ok(())
}

/// The typed output for one tile must be float32 [1, classes, tile, tile].
fn check_output_fact(fact: &TypedFact, manifest: &Manifest, tile: usize) -> TractResult<()> {
    let name = &manifest.output.name;
    let classes = manifest.output.classes.len();
    anyhow::ensure!(
        fact.datum_type == f32::datum_type(),
        "model output '{name}' is {:?}, manifest says float32",
        fact.datum_type
    );
    let dims: Vec<Option<i64>> = fact.shape.iter().map(|d| d.to_i64().ok()).collect();
    let shown = show_dims(&dims);
    anyhow::ensure!(
        dims.len() == 4,
        "model output '{name}' has shape {shown}, expected [1, classes, height, width]"
    );
    if dims[1] != Some(classes as i64) {
        anyhow::bail!(
            "model output '{name}' has {} classes (shape {shown}), manifest lists {classes} {:?}",
            dims[1].map_or("an unknown number of".into(), |c| c.to_string()),
            manifest.output.classes
        );
    }
    let t = Some(tile as i64);
    anyhow::ensure!(
        dims[0] == Some(1) && dims[2] == t && dims[3] == t,
        "the model cannot run a {tile}×{tile} tile as the manifest says: output '{name}' has \
         shape {shown}, expected [1, {classes}, {tile}, {tile}]"
    );
    Ok(())
}

/// `[1, 3, ?, ?]`: a shape with unknown or symbolic dimensions as `?`.
fn show_dims(dims: &[Option<i64>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".into(), |v| v.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn run_state(state: &mut TypedSimpleState, input: Tensor) -> std::result::Result<Tensor, String> {
    let mut outputs = state
        .run(tvec!(input.into()))
        .map_err(|e| format!("{e:#}"))?;
    let out = outputs.remove(0).into_tensor();
    Ok(out)
}

/// Tile origins along one axis covering [0, len): step tile − overlap, last tile flush with
/// the end. A photo smaller than a tile gets one tile (padded by reflection).
fn tile_origins(len: u32, tile: u32, overlap: u32) -> Vec<u32> {
    if len <= tile {
        return vec![0];
    }
    let step = tile - overlap;
    let mut origins: Vec<u32> = (0..)
        .map(|i| i * step)
        .take_while(|&o| o + tile < len)
        .collect();
    origins.push(len - tile);
    origins
}

/// Per-axis blending weight: low at tile borders (where a network sees little context),
/// 1 in the interior.
fn taper(tile: usize, overlap: usize) -> Vec<f32> {
    let ramp = overlap.max(1) as f32;
    (0..tile)
        .map(|i| {
            let edge = i.min(tile - 1 - i) as f32;
            ((edge + 0.5) / ramp).min(1.0)
        })
        .collect()
}

/// A normalised NCHW tile at (x0, y0); pixels past the image border are mirrored.
fn tile_tensor(image: &Rgb, x0: u32, y0: u32, tile: u32, spec: &InputSpec) -> Tensor {
    let (w, h) = image.dimensions();
    let t = tile as usize;
    let [lo, hi] = spec.value_range;
    let mut data = vec![0f32; 3 * t * t];
    for ty in 0..t {
        let y = mirror(y0 as i64 + ty as i64, h);
        for tx in 0..t {
            let x = mirror(x0 as i64 + tx as i64, w);
            let px = image.get_pixel(x, y).0;
            for c in 0..3 {
                let v = lo + (hi - lo) * px[c] as f32 / 255.0;
                data[c * t * t + ty * t + tx] = (v - spec.mean[c]) / spec.std[c];
            }
        }
    }
    // Shape and length agree by construction.
    Tensor::from_shape(&[1, 3, t, t], &data)
        .unwrap_or_else(|_| Tensor::zero::<f32>(&[1, 3, t, t]).unwrap_or_default())
}

fn mirror(i: i64, len: u32) -> u32 {
    let n = len as i64;
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as u32
}

/// Below this working factor a photo is resampled with Lanczos3, from it up with Triangle.
pub const SHARP_RESAMPLING_BELOW_FACTOR: f64 = 1.5;

/// The filter that brings a photo to the working scale. The shipped model learnt sharp skin:
/// synthetic skin rendered at the working scale, so a photo near or above it is resampled with
/// Lanczos3, which keeps its edges (Triangle blurs them: at a factor of 1.05 every scar read
/// ~1 % smaller than in a photo taken at the working scale). Its real photos were all small
/// and enlarged ≥ 1.56× with Triangle in training, so a photo enlarged that much still is.
fn working_filter(factor: f64) -> FilterType {
    if factor < SHARP_RESAMPLING_BELOW_FACTOR {
        FilterType::Lanczos3
    } else {
        FilterType::Triangle
    }
}

/// Blended logits at working resolution, class-major.
struct Logits {
    classes: usize,
    width: u32,
    height: u32,
    data: Vec<f32>,
}

/// Classes from the blended working-resolution logits, at the photo's size or in another
/// frame.
struct ClassScorer<'a> {
    logits: &'a Logits,
    /// Class-map code per model class ([`OutputSpec::class_codes`]).
    codes: Vec<u8>,
    /// Added to each class's score before the argmax (`class_bias`).
    bias: Vec<f32>,
    /// `output.scar_core_margin`: scar regions need a pixel this confident.
    scar_core_margin: Option<f32>,
    /// `output.line_bridge_margin`: weak line pixels that join separate line pieces.
    line_bridge_margin: Option<f32>,
    /// Size of the photo the working image was resized from.
    photo_size: (u32, u32),
}

impl ClassScorer<'_> {
    /// The class map of `out_size`, `to_photo` placing each of its pixels in the photo (pixel
    /// centres at integer coordinates). Pixels placed outside the photo are background; the
    /// logits are interpolated between working pixel centres (Catmull-Rom, clamped at the
    /// border) and the best class taken; with a scar core margin, scar regions that never lead
    /// by it take their runner-up class ([`OutputSpec::scar_core_margin`]).
    ///
    /// Why cubic: a lesion's logit margin is curved (highest in its middle), and a bilinear
    /// blend of a curved margin falls below it between samples, so an off-grid frame (every
    /// session but the baseline) would read each scar and line slightly smaller than an
    /// on-grid one. Catmull-Rom reproduces quadratic fields exactly.
    fn classes(
        &self,
        (out_w, out_h): (u32, u32),
        to_photo: impl Fn(f64, f64) -> Option<(f64, f64)> + Sync,
    ) -> ClassMap {
        let logits = self.logits;
        let (lw, lh) = (logits.width as usize, logits.height as usize);
        let plane = lw * lh;
        let (pw, ph) = (self.photo_size.0 as f64, self.photo_size.1 as f64);
        let sx = lw as f64 / pw;
        let sy = lh as f64 / ph;
        let mut out = vec![CLASS_BACKGROUND; (out_w as usize) * (out_h as usize)];
        if out.is_empty() || plane == 0 {
            return ClassMap::from_raw(out_w, out_h, out)
                .unwrap_or_else(|| ClassMap::new(out_w, out_h));
        }
        // With a scar core margin, per pixel: NOT_SCAR, or a scar pixel that is (CORE) or is
        // not (EDGE) confident. An edge pixel holds its runner-up class until the hysteresis.
        // With a line bridge margin, per pixel: how far the fine-line score leads the best
        // other class's (negative where another class wins).
        let fill_row = |y: usize,
                        row: &mut [u8],
                        mut states: Option<&mut [u8]>,
                        mut line_margins: Option<&mut [f32]>| {
            for (x, cell) in row.iter_mut().enumerate() {
                let Some((u, v)) = to_photo(x as f64, y as f64) else {
                    continue;
                };
                // Inside the photo: the pixel whose centre is nearest lies in it.
                if !(u >= -0.5 && v >= -0.5 && u < pw - 0.5 && v < ph - 0.5) {
                    continue;
                }
                let fx = ((u + 0.5) * sx - 0.5).clamp(0.0, (lw - 1) as f64);
                let fy = ((v + 0.5) * sy - 0.5).clamp(0.0, (lh - 1) as f64);
                let (xs, wx) = catmull_rom_taps(fx, lw);
                let (ys, wy) = catmull_rom_taps(fy, lh);
                let ranked = ranked_classes(&self.codes, &self.bias, |c| {
                    let p = &logits.data[c * plane..(c + 1) * plane];
                    let mut sum = 0.0f32;
                    for (&yi, &wyi) in ys.iter().zip(&wy) {
                        let r = &p[yi * lw..(yi + 1) * lw];
                        let across: f32 = xs.iter().zip(&wx).map(|(&xi, &w)| r[xi] * w).sum();
                        sum += wyi * across;
                    }
                    sum
                });
                *cell = ranked.best;
                if let Some(margins) = line_margins.as_deref_mut() {
                    margins[x] = ranked.line_margin;
                }
                if let (Some(states), Some(core)) = (states.as_deref_mut(), self.scar_core_margin)
                    && ranked.best == CLASS_SCAR
                {
                    if ranked.lead >= core {
                        states[x] = SCAR_CORE;
                    } else {
                        states[x] = SCAR_EDGE;
                        *cell = ranked.runner_up;
                    }
                }
            }
        };
        let width = out_w as usize;
        // Only allocated for the hysteresis that needs them.
        let mut states = self.scar_core_margin.map(|_| vec![NOT_SCAR; out.len()]);
        let mut line_margins = self
            .line_bridge_margin
            .map(|_| vec![f32::NEG_INFINITY; out.len()]);
        let state_rows = states.as_mut().map(|s| s.par_chunks_mut(width).map(Some));
        let margin_rows = line_margins
            .as_mut()
            .map(|m| m.par_chunks_mut(width).map(Some));
        let rows = out.par_chunks_mut(width).enumerate();
        match (state_rows, margin_rows) {
            (Some(st), Some(mr)) => rows
                .zip(st)
                .zip(mr)
                .for_each(|(((y, row), s), m)| fill_row(y, row, s, m)),
            (Some(st), None) => rows
                .zip(st)
                .for_each(|((y, row), s)| fill_row(y, row, s, None)),
            (None, Some(mr)) => rows
                .zip(mr)
                .for_each(|((y, row), m)| fill_row(y, row, None, m)),
            (None, None) => rows.for_each(|(y, row)| fill_row(y, row, None, None)),
        }
        if let Some(states) = states.as_mut() {
            grow_scar_cores(&mut out, states, width);
        }
        if let (Some(margins), Some(bridge)) = (&line_margins, self.line_bridge_margin) {
            bridge_line_pieces(&mut out, margins, bridge, out_w, out_h);
        }
        ClassMap::from_raw(out_w, out_h, out).unwrap_or_else(|| ClassMap::new(out_w, out_h))
    }
}

const NOT_SCAR: u8 = 0;
const SCAR_EDGE: u8 = 1;
const SCAR_CORE: u8 = 2;

/// The two best classes of a pixel, as class-map codes, and how far the best leads.
struct Ranked {
    best: u8,
    runner_up: u8,
    lead: f32,
    /// The fine-line score minus the best other class's (−∞ without a fine-line class).
    line_margin: f32,
}

/// Ranks the model classes by biased score (`codes`: one per model class,
/// [`OutputSpec::class_codes`]). Ties go to the lower class.
fn ranked_classes(codes: &[u8], bias: &[f32], score: impl Fn(usize) -> f32) -> Ranked {
    let mut best = (0usize, f32::NEG_INFINITY);
    let mut second = (0usize, f32::NEG_INFINITY);
    let mut line = None;
    for (c, &code) in codes.iter().enumerate() {
        let v = score(c) + bias.get(c).copied().unwrap_or(0.0);
        if code == CLASS_LINE {
            line = Some((c, v));
        }
        if v > best.1 {
            second = best;
            best = (c, v);
        } else if v > second.1 {
            second = (c, v);
        }
    }
    let line_margin = match line {
        Some((c, v)) if c == best.0 => v - second.1,
        Some((_, v)) => v - best.1,
        None => f32::NEG_INFINITY,
    };
    Ranked {
        best: codes[best.0],
        runner_up: codes[second.0],
        lead: best.1 - second.1,
        line_margin,
    }
}

/// Hysteresis: every scar edge pixel 8-connected (through scar pixels) to a core becomes
/// scar; the others keep the runner-up class already in `classes`.
fn grow_scar_cores(classes: &mut [u8], state: &mut [u8], width: usize) {
    let height = classes.len() / width;
    let mut stack: Vec<usize> = (0..state.len())
        .filter(|&i| state[i] == SCAR_CORE)
        .collect();
    while let Some(i) = stack.pop() {
        for n in eight_neighbours(i, width, height) {
            if state[n] == SCAR_EDGE {
                state[n] = SCAR_CORE;
                classes[n] = CLASS_SCAR;
                stack.push(n);
            }
        }
    }
}

/// The indices of pixel `i`'s 8-connected neighbours inside a `width` × `height` row-major
/// frame.
fn eight_neighbours(i: usize, width: usize, height: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % width, i / width);
    (y.saturating_sub(1)..=(y + 1).min(height - 1)).flat_map(move |ny| {
        (x.saturating_sub(1)..=(x + 1).min(width - 1))
            .map(move |nx| ny * width + nx)
            .filter(move |&n| n != i)
    })
}

/// Bridging: a background pixel is a weak line pixel when the fine-line score trails by at
/// most `margin` there and the pixel lies on a ridge of that score (see [`is_ridge`]); every
/// 8-connected region of weak pixels that touches two or more separate fine-line pieces
/// (8-connected) becomes fine line. The ridge test keeps a bridge one line wide: without it the
/// faint rims beside a line would join too and thicken every line that has a gap.
///
/// Weak pixels and the line pixels they touch are few, so both are flood-filled from where
/// they are found instead of labelling the whole frame (two 32-bit label images would add
/// 8 bytes per frame pixel, 190 MB at 24 MP).
fn bridge_line_pieces(
    classes: &mut [u8],
    line_margins: &[f32],
    margin: f32,
    width: u32,
    height: u32,
) {
    let (w, h) = (width as usize, height as usize);
    let weak_at = |i: usize| {
        classes[i] == CLASS_BACKGROUND
            && line_margins[i] >= -margin
            && is_ridge(line_margins, w, h, i % w, i / w)
    };
    let neighbours = |i: usize| eight_neighbours(i, w, h);
    let mut seen_weak = vec![false; classes.len()];
    // Piece number of each line pixel reached so far (a piece is labelled whole when first met).
    let mut piece_of: std::collections::HashMap<usize, u32> = Default::default();
    let mut pieces = 0u32;
    let mut bridges = Vec::new();
    let (mut region, mut stack) = (Vec::new(), Vec::new());
    for start in 0..classes.len() {
        if seen_weak[start] || !weak_at(start) {
            continue;
        }
        seen_weak[start] = true;
        stack.push(start);
        region.clear();
        let (mut first_piece, mut joins) = (None, false);
        while let Some(i) = stack.pop() {
            region.push(i);
            for n in neighbours(i) {
                if classes[n] == CLASS_LINE {
                    if joins {
                        continue;
                    }
                    let piece = match piece_of.get(&n) {
                        Some(&p) => p,
                        None => {
                            pieces += 1;
                            let mut fill = vec![n];
                            piece_of.insert(n, pieces);
                            while let Some(j) = fill.pop() {
                                for m in neighbours(j) {
                                    if classes[m] == CLASS_LINE && !piece_of.contains_key(&m) {
                                        piece_of.insert(m, pieces);
                                        fill.push(m);
                                    }
                                }
                            }
                            pieces
                        }
                    };
                    match first_piece {
                        None => first_piece = Some(piece),
                        Some(first) if first != piece => joins = true,
                        Some(_) => {}
                    }
                } else if !seen_weak[n] && weak_at(n) {
                    seen_weak[n] = true;
                    stack.push(n);
                }
            }
        }
        if joins {
            bridges.extend_from_slice(&region);
        }
    }
    // Only now: a bridge must not change which pixels are weak or which pieces the others see.
    for i in bridges {
        classes[i] = CLASS_LINE;
    }
}

/// Whether pixel (x, y) of the `score` field (w × h, row-major) lies on a ridge: the
/// field's Hessian there has its strongest curvature negative (concave across, as across a
/// line), and the pixel is no lower than its two neighbours in that direction (taken as the
/// nearest of the four grid directions). Border pixels and non-finite neighbourhoods are not.
fn is_ridge(score: &[f32], w: usize, h: usize, x: usize, y: usize) -> bool {
    if x == 0 || y == 0 || x + 1 >= w || y + 1 >= h {
        return false;
    }
    let at = |dx: isize, dy: isize| {
        score[(y as isize + dy) as usize * w + (x as isize + dx) as usize] as f64
    };
    let centre = at(0, 0);
    let neighbourhood = [
        at(-1, -1),
        at(0, -1),
        at(1, -1),
        at(-1, 0),
        at(1, 0),
        at(-1, 1),
        at(0, 1),
        at(1, 1),
    ];
    if !centre.is_finite() || neighbourhood.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let sxx = at(1, 0) + at(-1, 0) - 2.0 * centre;
    let syy = at(0, 1) + at(0, -1) - 2.0 * centre;
    let sxy = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / 4.0;
    // Eigenvalues of [[sxx, sxy], [sxy, syy]]; the most negative one is the strongest
    // curvature only if it outweighs the other.
    let half_trace = (sxx + syy) / 2.0;
    let root = (((sxx - syy) / 2.0).powi(2) + sxy * sxy).sqrt();
    let (low, high) = (half_trace - root, half_trace + root);
    if !(low < 0.0 && -low >= high.abs()) {
        return false;
    }
    // Its eigenvector (sxy, low − sxx), or (low − syy, sxy), whichever is better conditioned.
    let (vx, vy) = if (low - sxx).abs() > (low - syy).abs() {
        (sxy, low - sxx)
    } else {
        (low - syy, sxy)
    };
    let angle = vy.atan2(vx).rem_euclid(std::f64::consts::PI);
    let step = (angle / std::f64::consts::FRAC_PI_4).round() as usize % 4;
    let (dx, dy) = [(1, 0), (1, 1), (0, 1), (-1, 1)][step];
    centre >= at(dx, dy) && centre >= at(-dx, -dy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_with_overlap() {
        assert_eq!(tile_origins(100, 256, 32), vec![0]);
        assert_eq!(tile_origins(256, 256, 32), vec![0]);
        let o = tile_origins(600, 256, 32);
        assert_eq!(o, vec![0, 224, 344]);
        for pair in o.windows(2) {
            assert!(pair[1] - pair[0] <= 256 - 32);
        }
    }

    #[test]
    fn only_narrow_convolutions_run_direct_spatial() {
        let onnx = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/skinseg-v1.onnx");
        let model = Model::load(&onnx).expect("the shipped model loads");
        let direct: Vec<&str> = model
            .plan
            .model()
            .nodes()
            .iter()
            .filter(|node| node.op().name() == "DirectSpatialConv")
            .map(|node| node.name.as_str())
            .collect();
        // 3 or 8 input channels (27 or 72 inputs per output point) keep direct-spatial; the
        // 16-channel `enc1` and `dec1` (144) go through im2col and a matrix product.
        assert_eq!(
            direct,
            ["/stem/conv/Conv", "/full/conv/Conv", "/dec0/conv/Conv"],
            "direct-spatial convolutions in the plan"
        );
    }

    #[test]
    fn mirror_reflects_inside() {
        assert_eq!(mirror(-1, 5), 1);
        assert_eq!(mirror(5, 5), 3);
        assert_eq!(mirror(2, 5), 2);
        assert_eq!(mirror(7, 1), 0);
    }

    #[test]
    fn upsampling_keeps_a_region_in_place() {
        // Class 2 wins on the left half of a 4×2 logit map; upsampled 4× it covers x < 8.
        let (w, h) = (4usize, 2usize);
        let mut data = vec![0.0f32; 3 * w * h];
        for y in 0..h {
            for x in 0..w {
                data[2 * w * h + y * w + x] = if x < 2 { 5.0 } else { -5.0 };
                data[w * h + y * w + x] = if x < 2 { -5.0 } else { 5.0 };
            }
        }
        let logits = Logits {
            classes: 3,
            width: 4,
            height: 2,
            data,
        };
        let scorer = ClassScorer {
            logits: &logits,
            codes: vec![0, 1, 2],
            bias: vec![],
            scar_core_margin: None,
            line_bridge_margin: None,
            photo_size: (16, 8),
        };
        let classes = scorer.classes((16, 8), |x, y| Some((x, y)));
        assert_eq!(classes.get_pixel(0, 0).0[0], 2);
        assert_eq!(classes.get_pixel(7, 7).0[0], 2);
        assert_eq!(classes.get_pixel(8, 0).0[0], 1);
        assert_eq!(classes.get_pixel(15, 3).0[0], 1);

        // The same photo placed 10.25 px right in a wider frame. Its class edge (photo x 7.5,
        // between working pixels 1 and 2) moves with it to frame x 17.75, its border (photo
        // x -0.5..15.5) to 9.75..25.75, and the frame outside the photo is background rather
        // than the nearest photo class.
        let shifted = scorer.classes((30, 8), |x, y| Some((x - 10.25, y)));
        let row: Vec<u8> = (0..30).map(|x| shifted.get_pixel(x, 4).0[0]).collect();
        assert_eq!(&row[..10], &[0; 10], "left of the photo");
        assert_eq!(&row[10..18], &[2; 8], "the class 2 half");
        assert_eq!(&row[18..26], &[1; 8], "the class 1 half");
        assert_eq!(&row[26..], &[0; 4], "right of the photo");
    }

    /// A 3-px line whose logit margin is a parabola across it, read in a frame shifted by
    /// sub-pixel amounts: Catmull-Rom places its edges exactly, where a bilinear blend thins
    /// it (at a 0.8 px shift, to half its rows).
    #[test]
    fn off_grid_frames_keep_a_thin_lines_width() {
        let (w, h) = (24usize, 24usize);
        let (centre, half_width, k) = (11.3f64, 1.55f64, 2.0f64);
        let margin = |y: f64| k * (half_width * half_width - (y - centre) * (y - centre));
        let mut data = vec![0.0f32; 2 * w * h];
        for y in 0..h {
            for x in 0..w {
                data[w * h + y * w + x] = margin(y as f64) as f32;
            }
        }
        let logits = Logits {
            classes: 2,
            width: w as u32,
            height: h as u32,
            data,
        };
        let scorer = ClassScorer {
            logits: &logits,
            codes: vec![0, CLASS_LINE],
            bias: vec![],
            scar_core_margin: None,
            line_bridge_margin: None,
            photo_size: (w as u32, h as u32),
        };
        for shift in [0.25, 0.5, 0.8] {
            let classes = scorer.classes((w as u32, h as u32), |x, y| Some((x, y + shift)));
            let rows: Vec<u32> = (0..h as u32)
                .filter(|&y| classes.get_pixel(5, y).0[0] == CLASS_LINE)
                .collect();
            let exact: Vec<u32> = (0..h as u32)
                .filter(|&y| margin(y as f64 + shift) > 0.0)
                .collect();
            assert_eq!(rows, exact, "shift {shift}");
            let bilinear: Vec<u32> = (0..h as u32)
                .filter(|&y| {
                    let f = y as f64 + shift;
                    let t = f - f.floor();
                    margin(f.floor()) * (1.0 - t) + margin(f.floor() + 1.0) * t > 0.0
                })
                .collect();
            if shift == 0.8 {
                assert_eq!(
                    (exact.len(), bilinear.len()),
                    (4, 2),
                    "the bias this guards against"
                );
            }
        }
    }

    /// The class map of background / fine-line / scar `logits` in their own frame, unbiased,
    /// with the given hysteresis settings.
    fn three_class_map(
        logits: &Logits,
        scar_core_margin: Option<f32>,
        line_bridge_margin: Option<f32>,
    ) -> ClassMap {
        let size = (logits.width, logits.height);
        let scorer = ClassScorer {
            logits,
            codes: vec![0, CLASS_LINE, CLASS_SCAR],
            bias: vec![],
            scar_core_margin,
            line_bridge_margin,
            photo_size: size,
        };
        scorer.classes(size, |x, y| Some((x, y)))
    }

    /// Two scar regions on a 40×12 frame: a confident one on the left (lead 6 at its centre,
    /// tapering to 0.5 at its edge) and a faint one on the right (lead 2 at most) that a
    /// fine-line logit trails. With a core margin of 4 the faint one takes its runner-up class,
    /// the confident one keeps its faint edge; without a margin both stay scar.
    #[test]
    fn faint_scar_regions_without_a_confident_core_take_their_runner_up() {
        let (w, h) = (40usize, 12usize);
        let plane = w * h;
        let mut data = vec![0.0f32; 3 * plane];
        let blob = |cx: f64, peak: f64, x: usize, y: usize| {
            let d = ((x as f64 - cx).powi(2) + (y as f64 - 6.0).powi(2)).sqrt();
            (d <= 4.0).then(|| 0.5 + (peak - 0.5) * (1.0 - d / 4.0))
        };
        for y in 0..h {
            for x in 0..w {
                data[plane + y * w + x] = -1.0; // fine line trails background by 1
                if let Some(lead) = blob(10.0, 6.0, x, y).or(blob(30.0, 2.0, x, y)) {
                    data[2 * plane + y * w + x] = lead as f32;
                    if x > 20 {
                        data[plane + y * w + x] = 0.2; // the faint scar's runner-up: a line
                    }
                }
            }
        }
        let logits = Logits {
            classes: 3,
            width: w as u32,
            height: h as u32,
            data,
        };
        let scar_px = |margin: Option<f32>| {
            let classes = three_class_map(&logits, margin, None);
            let count = |x0: u32, x1: u32, code: u8| {
                (x0..x1)
                    .flat_map(|x| (0..h as u32).map(move |y| (x, y)))
                    .filter(|&(x, y)| classes.get_pixel(x, y).0[0] == code)
                    .count()
            };
            (
                count(0, 20, CLASS_SCAR),
                count(20, 40, CLASS_SCAR),
                count(20, 40, CLASS_LINE),
            )
        };
        let disc = (0..w)
            .flat_map(|x| (0..h).map(move |y| (x, y)))
            .filter(|&(x, y)| x < 20 && blob(10.0, 6.0, x, y).is_some())
            .count();
        assert_eq!(scar_px(None), (disc, disc, 0));
        assert_eq!(scar_px(Some(4.0)), (disc, 0, disc));
        // A margin above every lead removes both.
        assert_eq!(scar_px(Some(7.0)), (0, 0, disc));
    }

    /// A fine line along y = 6 of a 40×12 frame whose middle (x 18..=22) fades to a fine-line
    /// logit 0.5 below background, and a faint spur (x = 8, y 7..=10) as faint that touches
    /// only the line. A bridge margin of 1 joins the two pieces and leaves the spur out; a
    /// margin below the fade, or none, leaves the line broken.
    #[test]
    fn weak_line_pixels_join_separate_pieces_and_nothing_else() {
        let (w, h) = (40usize, 12usize);
        let plane = w * h;
        let mut data = vec![0.0f32; 3 * plane];
        for y in 0..h {
            for x in 0..w {
                data[2 * plane + y * w + x] = -5.0; // scar far behind everywhere
                let line = &mut data[plane + y * w + x];
                *line = -3.0;
                if y == 6 && (2..38).contains(&x) {
                    *line = if (18..=22).contains(&x) { -0.5 } else { 1.0 };
                }
                if x == 8 && (7..=10).contains(&y) {
                    *line = -0.5;
                }
            }
        }
        let logits = Logits {
            classes: 3,
            width: w as u32,
            height: h as u32,
            data,
        };
        let line_px = |margin: Option<f32>| {
            let classes = three_class_map(&logits, None, margin);
            let is_line =
                |x: usize, y: usize| classes.get_pixel(x as u32, y as u32).0[0] == CLASS_LINE;
            let gap = (18..=22).filter(|&x| is_line(x, 6)).count();
            let spur = (7..=10).filter(|&y| is_line(8, y)).count();
            let total = (0..w)
                .flat_map(|x| (0..h).map(move |y| (x, y)))
                .filter(|&(x, y)| is_line(x, y))
                .count();
            (gap, spur, total)
        };
        assert_eq!(line_px(None), (0, 0, 31));
        assert_eq!(line_px(Some(0.4)), (0, 0, 31));
        assert_eq!(line_px(Some(1.0)), (5, 0, 36));
    }

    #[test]
    fn photos_near_or_above_the_working_scale_are_resampled_sharply() {
        // Clinic photos shrunk to the working scale, and re-captures a few % off it.
        for factor in [0.1, 0.4, 0.95, 1.05, 1.49] {
            assert_eq!(working_filter(factor), FilterType::Lanczos3, "{factor}");
        }
        // Small photos enlarged as the real training photos were (1.56–2×).
        for factor in [1.5, 1.56, 2.0] {
            assert_eq!(working_filter(factor), FilterType::Triangle, "{factor}");
        }
    }

    #[test]
    fn a_negative_or_infinite_scar_core_margin_is_refused() {
        let manifest_text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/skinseg-v1.json"),
        )
        .unwrap();
        let manifest: Manifest = serde_json::from_str(&manifest_text).unwrap();
        assert!(validate_manifest(&manifest).is_ok());
        for bad in [-1.0, f32::INFINITY, f32::NAN] {
            let mut m = manifest.clone();
            m.output.scar_core_margin = Some(bad);
            let reason = validate_manifest(&m).unwrap_err();
            assert!(reason.contains("scar_core_margin"), "{reason}");
        }
    }

    fn output(classes: &[&str]) -> OutputSpec {
        OutputSpec {
            name: "logits".into(),
            kind: "logits".into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            class_bias: None,
            scar_core_margin: None,
            line_bridge_margin: None,
            dtype: None,
        }
    }

    #[test]
    fn non_skin_gets_its_own_code_and_other_extra_classes_count_as_background() {
        let plain = output(&["background", "fine_line", "scar"]);
        assert_eq!(plain.class_codes(), vec![0, 1, 2]);
        assert!(!plain.has_non_skin());
        let skin = output(&["background", "fine_line", "scar", "mole", "non_skin"]);
        assert_eq!(skin.class_codes(), vec![0, 1, 2, 0, CLASS_NON_SKIN]);
        assert!(skin.has_non_skin());

        // 4 model classes; the non-skin logit wins on the right column only, the scar logit
        // on the left one, and a biased-down fine-line logit nowhere.
        let (w, h) = (2usize, 1usize);
        let mut data = vec![0.0f32; 4 * w * h];
        data[2 * w * h] = 3.0; // scar at x 0
        data[3 * w * h + 1] = 3.0; // non-skin at x 1
        data[w * h] = 2.5; // fine line at x 0, below scar once biased
        data[w * h + 1] = 2.9;
        let logits = Logits {
            classes: 4,
            width: 2,
            height: 1,
            data,
        };
        let codes = output(&["background", "fine_line", "scar", "non_skin"]).class_codes();
        let scorer = ClassScorer {
            logits: &logits,
            codes,
            bias: vec![0.0, -1.0, 0.0, 0.0],
            scar_core_margin: None,
            line_bridge_margin: None,
            photo_size: (2, 1),
        };
        let classes = scorer.classes((2, 1), |x, y| Some((x, y)));
        assert_eq!(classes.get_pixel(0, 0).0[0], CLASS_SCAR);
        assert_eq!(classes.get_pixel(1, 0).0[0], CLASS_NON_SKIN);
    }
}
