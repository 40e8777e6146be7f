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

use crate::definitions::{CLASS_NAMES, ClassMap, Rgb};
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
    if m.output.classes != CLASS_NAMES {
        return Err(format!(
            "output classes {:?}, expected {:?}",
            m.output.classes, CLASS_NAMES
        ));
    }
    if let Some(bias) = &m.output.class_bias
        && (bias.len() != m.output.classes.len() || bias.iter().any(|b| !b.is_finite()))
    {
        return Err(format!(
            "output class_bias needs one finite value per class ({}), got {bias:?}",
            m.output.classes.len()
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
        || !(m.input.value_range[1] > m.input.value_range[0])
    {
        return Err(
            "input mean, std and value_range must be finite, std positive, value_range increasing"
                .into(),
        );
    }
    let t = &m.tile;
    if t.multiple_of == 0
        || !(32..=2048).contains(&t.size)
        || t.size % t.multiple_of != 0
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
            image::imageops::resize(image, work_w, work_h, FilterType::Triangle)
        };
        let logits = self.logits(&working).map_err(fail)?;
        let bias = self.manifest.output.class_bias.clone().unwrap_or_default();
        let classes = upsample_argmax(&logits, &bias, work_w, work_h, width, height);
        Ok(Segmentation {
            classes,
            working_size: (work_w, work_h),
        })
    }

    /// Blended logits of the whole working image, [C][h·w] row-major.
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
        // One spawned state per worker: tract runs one call per thread, so parallel tiles
        // are what use the cores.
        let tiles: Vec<std::result::Result<(u32, u32, Tensor), String>> = origins
            .par_iter()
            .map_init(
                || self.plan.spawn().map_err(|e| format!("{e:#}")),
                |state, &(x0, y0)| {
                    let state = state.as_mut().map_err(|e| e.clone())?;
                    let input = tile_tensor(image, x0, y0, tile, spec);
                    Ok((x0, y0, run_state(state, input)?))
                },
            )
            .collect();
        let mut out = Logits {
            classes,
            width: w,
            height: h,
            data: vec![0.0; classes * (w * h) as usize],
        };
        let mut weight_sum = vec![0.0f32; (w * h) as usize];
        for result in tiles {
            let (x0, y0, tensor) = result?;
            let view = tensor
                .to_plain_array_view::<f32>()
                .map_err(|e| format!("{e:#}"))?;
            for ty in 0..tile {
                let y = y0 + ty;
                if y >= h {
                    break;
                }
                for tx in 0..tile {
                    let x = x0 + tx;
                    if x >= w {
                        break;
                    }
                    let wgt = weights[ty as usize] * weights[tx as usize];
                    let idx = (y * w + x) as usize;
                    weight_sum[idx] += wgt;
                    for c in 0..classes {
                        out.data[c * (w * h) as usize + idx] +=
                            wgt * view[[0, c, ty as usize, tx as usize]];
                    }
                }
            }
        }
        let plane = (w * h) as usize;
        for c in 0..classes {
            for (v, s) in out.data[c * plane..(c + 1) * plane]
                .iter_mut()
                .zip(&weight_sum)
            {
                *v /= s.max(1e-6);
            }
        }
        Ok(out)
    }
}

/// Builds the optimised plan: parse → fix the input shape → check the output → optimise.
fn build_plan(
    bytes: &[u8],
    manifest: &Manifest,
    tile: usize,
) -> TractResult<Arc<TypedRunnableModel>> {
    // Parse the ONNX protobuf into tract's inference graph.
    let mut model = tract_onnx::onnx().model_for_read(&mut std::io::Cursor::new(bytes))?;
    let input_outlet = model.input_outlets()?[0];
    let input_name = model.node(input_outlet.node).name.clone();
    anyhow::ensure!(
        input_name == manifest.input.name,
        "model input is named '{input_name}', manifest says '{}'",
        manifest.input.name
    );
    // Fix the input to one RGB tile so every shape below is concrete.
    model.set_input_fact(0, f32::fact([1, 3, tile, tile]).into())?;
    let typed = model.into_typed()?;
    let out_fact = typed.output_fact(0)?.clone();
    let expected = [1, manifest.output.classes.len(), tile, tile];
    let shape: Vec<Option<usize>> = out_fact
        .shape
        .iter()
        .map(|d| d.as_i64().map(|v| v as usize))
        .collect();
    anyhow::ensure!(
        shape == expected.iter().map(|&d| Some(d)).collect::<Vec<_>>(),
        "model output shape {:?} for a {tile}×{tile} tile, expected {:?} (classes {:?})",
        out_fact.shape,
        expected,
        manifest.output.classes
    );
    // Optimise with direct-spatial convolution off: im2col + matmul measured 1.25–1.7× faster
    // on this kind of network.
    let scope =
        tract_onnx::tract_core::knobs::KnobScope::new([("TRACT_DISABLE_DIRECT_SPATIAL", "true")])?;
    let optimized = scope.enter(|| typed.into_optimized())?;
    // A runnable plan, shared read-only by all workers.
    optimized.into_runnable()
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

/// Blended logits at working resolution, class-major.
struct Logits {
    classes: usize,
    width: u32,
    height: u32,
    data: Vec<f32>,
}

/// Bilinearly interpolates the logits to `out_w`×`out_h` (pixel centres aligned) and takes
/// the argmax per pixel, one row per task, without materialising full-resolution logits.
fn upsample_argmax(
    logits: &Logits,
    bias: &[f32],
    work_w: u32,
    work_h: u32,
    out_w: u32,
    out_h: u32,
) -> ClassMap {
    let (lw, lh) = (logits.width as usize, logits.height as usize);
    debug_assert_eq!((lw, lh), (work_w as usize, work_h as usize));
    let plane = lw * lh;
    let sx = work_w as f32 / out_w as f32;
    let sy = work_h as f32 / out_h as f32;
    let mut out = vec![0u8; (out_w * out_h) as usize];
    out.par_chunks_mut(out_w as usize)
        .enumerate()
        .for_each(|(y, row)| {
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (lh - 1) as f32);
            let y0 = fy.floor() as usize;
            let y1 = (y0 + 1).min(lh - 1);
            let wy = fy - y0 as f32;
            for (x, cell) in row.iter_mut().enumerate() {
                let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (lw - 1) as f32);
                let x0 = fx.floor() as usize;
                let x1 = (x0 + 1).min(lw - 1);
                let wx = fx - x0 as f32;
                let mut best = (0u8, f32::NEG_INFINITY);
                for c in 0..logits.classes {
                    let p = &logits.data[c * plane..(c + 1) * plane];
                    let top = p[y0 * lw + x0] * (1.0 - wx) + p[y0 * lw + x1] * wx;
                    let bottom = p[y1 * lw + x0] * (1.0 - wx) + p[y1 * lw + x1] * wx;
                    let v = top * (1.0 - wy) + bottom * wy + bias.get(c).copied().unwrap_or(0.0);
                    if v > best.1 {
                        best = (c as u8, v);
                    }
                }
                *cell = best.0;
            }
        });
    ClassMap::from_raw(out_w, out_h, out).unwrap_or_else(|| ClassMap::new(out_w, out_h))
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
            }
        }
        let logits = Logits {
            classes: 3,
            width: 4,
            height: 2,
            data,
        };
        let classes = upsample_argmax(&logits, &[], 4, 2, 16, 8);
        assert_eq!(classes.get_pixel(0, 0).0[0], 2);
        assert_eq!(classes.get_pixel(7, 7).0[0], 2);
        assert_eq!(classes.get_pixel(8, 0).0[0], 0);
        assert_eq!(classes.get_pixel(15, 3).0[0], 0);
    }
}
