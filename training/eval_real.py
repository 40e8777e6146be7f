"""Score a segmentation model on the real photos of ../shared/realdata (issue 7).

The shipped model is trained on synthetic skin only; these photos (never copied into the
repository) are the check of what it does on real faces. There are no pixel-accurate line or
scar masks for real photos, so the measurements are the weak ones the annotations allow.

Inference mirrors skintrack's Rust side (src/segment.rs) for a photo without a physical scale:
- working factor = clamp(working_scale.longest_side / max(w, h), 1/16, 2); working size =
  round(w * factor) x round(h * factor) (half away from zero), resized with a re-implementation
  of the image crate's Lanczos3 filter below a factor of 1.5, its Triangle filter from 1.5 up
  (resize_image; every real photo here is enlarged >= 1.56x, so Triangle);
- the manifest's tile size / overlap; tiles start every size - overlap px, the last one flush
  with the edge; pixels past the border are mirrored; tile logits are blended with the same
  separable taper weight (min((d + 0.5) / overlap, 1), d = distance to the tile edge);
- the blended logits are interpolated with Catmull-Rom weights (pixel centres aligned) to the
  photo's size, `output.class_bias` is added and the argmax taken per pixel (as skintrack
  does: a smoother map than a nearest-neighbour upsampling of the working class map); scar
  regions whose lead never reaches `output.scar_core_margin` take their runner-up class.
The whole frame is measured (skintrack additionally trims a 6-px border from its region).

Measurements (pixel counts pooled over the photos of a set unless said otherwise):
- wrinkles, javad71_facial_wrinkle_boxes (YOLO boxes `class cx cy w h`, normalised; a box covers
  the pixel columns round(x0) .. round(x1) - 1 and rows likewise, x0/x1 = (cx -/+ w/2) * width):
  `line_px_in_boxes_frac` = predicted fine-line pixels inside any box / all predicted fine-line
  pixels, next to `chance_box_area_frac` = box pixels / all pixels (what lines scattered at
  random would give) and their ratio `enrichment`; `line_density_in_boxes` / `_outside_boxes`
  = line pixels / pixels inside resp. outside the boxes, mean over photos (and pooled).
- acne, acne04_roboflow_voc (Pascal VOC boxes; a box covers columns xmin .. xmax - 1 and rows
  ymin .. ymax - 1): a lesion box is "labelled scar" when >= 25% of its pixels are predicted
  scar (likewise "labelled line" for fine line); `boxes_labelled_scar_frac` over all boxes (issue
  7 target: under 10%), by lesion class; `scar_px_frac` / `line_px_frac` = predicted scar / line
  pixels over all pixels of these photos (false-positive load: none of them is annotated as a
  scar or a line), and the share of photos in which a scar is "found" (rule below).
- scars, scarcare_scar_types/atrophic (label only): a scar is "found" in a photo when at least
  one 8-connected component of predicted scar has >= 40 px at photo resolution (skintrack's
  default `min_scar_px`); `found_frac` = photos with a scar found / photos (target: over 90%).
  Also the predicted scar area. Note this is a recall-only check: a model that calls everything
  scar passes it; read it next to the acne numbers.
- nasolabial, wrinklearea3d_nasolabial_polygons, photos not flagged `likely_ai_generated`:
  predicted fine-line pixels inside the rendered fold masks / all predicted line pixels, next to
  the masks' share of the pixels (chance).
- skin region, wrinkles and acne sets: `measured_not_skin_coloured_*` = share of the measured
  region (pixels not called non_skin) that is not skin-coloured by a crude chroma rule
  (`measured_not_skin_coloured`), median and p75 over the colour photos, and how many exceed
  20 %: white walls, beige blurred rooms and pale shirts measured as skin show up here; the
  `*_non_skin_frac` of the annotation boxes (which lie on skin) show the other side, skin
  wrongly dropped.

Usage: python training/eval_real.py [MODEL.onnx] [--realdata DIR] [--overlays DIR] [--write-manifest]
Prints the scores as JSON on stdout; `--write-manifest` also stores them (without the per-class
breakdowns) as `scores.real_photos` in the model's manifest. Exits 0 with a message when the
real-photo folder is absent. `--overlays DIR` (refused inside the repository) writes, for the
first `--overlays-per-set` photos of each set (sorted by name), PNGs of the photo beside a copy
with predicted fine lines in cyan, scars in magenta (filled at 45%, outlined) and the annotation
boxes / fold outlines in yellow. No photo or overlay is ever written into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Iterator

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # modest and reproducible: BLAS on one thread by default

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from scipy import ndimage  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MODELS_DIR, REALDATA_DIR, REPO_DIR, decide_classes, json_float, load_rgb,  # noqa: E402
                    tile_origins)

DEFAULT_REALDATA = REALDATA_DIR
WRINKLES = "javad71_facial_wrinkle_boxes"
ACNE = "acne04_roboflow_voc"
SCARS = "scarcare_scar_types/atrophic"
NASOLABIAL = "wrinklearea3d_nasolabial_polygons"

LINE, SCAR, NON_SKIN = 1, 2, 3  # skintrack's class-map codes (src/definitions.rs)
SHARP_RESAMPLING_BELOW_FACTOR = 1.5  # skintrack's segment::SHARP_RESAMPLING_BELOW_FACTOR
MIN_SCAR_PX = 40            # skintrack's default min_scar_px (src/measure/mod.rs)
BOX_LABEL_FRAC = 0.25       # a box is "labelled scar/line" at >= this share of its pixels
EIGHT = np.ones((3, 3), bool)

LINE_COLOUR = (0, 229, 255)   # skintrack's overlay colours (src/report/overlay.rs)
SCAR_COLOUR = (255, 0, 200)
NON_SKIN_COLOUR = (70, 90, 140)
BOX_COLOUR = (255, 220, 0)

# A classifier maps an RGB uint8 photo (HxWx3) to a class map (HxW uint8, 0/1/2/3) at its size.
Classifier = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------- inference

def round_half_away(v: float) -> int:
    """Rust's f64::round (halves away from zero) for non-negative values."""
    return int(math.floor(v + 0.5))


def working_factor(width: int, height: int, manifest: dict) -> float:
    """skintrack's working factor for a photo without a physical scale (Model::working_factor)."""
    side = manifest["working_scale"].get("longest_side")
    factor = side / max(width, height) if side else 1.0
    return min(max(factor, 1.0 / 16.0), 2.0)


def triangle_kernel(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.float32(1.0) - np.abs(x), 0).astype(np.float32)


def lanczos3_kernel(x: np.ndarray) -> np.ndarray:
    """The image crate's lanczos3_kernel: sinc(x) sinc(x / 3) inside |x| < 3, in float32."""
    x = x.astype(np.float32)

    def sinc(t: np.ndarray) -> np.ndarray:
        a = t * np.float32(math.pi)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(t == 0, np.float32(1.0), np.sin(a) / a).astype(np.float32)

    return np.where(np.abs(x) < 3, sinc(x) * sinc(x / np.float32(3.0)), np.float32(0.0)).astype(np.float32)


# name -> (kernel, support): the image crate's FilterType::Triangle and ::Lanczos3.
RESIZE_FILTERS = {"triangle": (triangle_kernel, 1.0), "lanczos3": (lanczos3_kernel, 3.0)}


def filter_weights(n_in: int, n_out: int, name: str = "triangle") -> np.ndarray:
    """n_out x n_in float32 weights of the image crate's resampling along one axis with filter
    `name` (image 0.25 imageops::sample: centre (o + 0.5) * ratio, the support widened by the
    ratio when shrinking, weights normalised to sum 1)."""
    kernel, support = RESIZE_FILTERS[name]
    ratio = np.float32(n_in / n_out)
    sratio = max(np.float32(1.0), ratio)
    support = np.float32(support) * sratio
    wts = np.zeros((n_out, n_in), np.float32)
    for o in range(n_out):
        centre = (np.float32(o) + np.float32(0.5)) * ratio
        left = min(max(int(math.floor(centre - support)), 0), n_in - 1)
        right = min(max(int(math.ceil(centre + support)), left + 1), n_in)
        i = np.arange(left, right, dtype=np.float32)
        w = kernel((i - (centre - np.float32(0.5))) / sratio)
        wts[o, left:right] = w / w.sum(dtype=np.float32)
    return wts


def triangle_weights(n_in: int, n_out: int) -> np.ndarray:
    """filter_weights with the Triangle filter (training crops of real photos)."""
    return filter_weights(n_in, n_out, "triangle")


def resize_image(rgb: np.ndarray, out_w: int, out_h: int, name: str = "triangle") -> np.ndarray:
    """`image::imageops::resize(.., FilterType::<name>)`: vertical pass into float, then the
    horizontal pass, clamped and rounded half away from zero to uint8."""
    h, w = rgb.shape[:2]
    if (out_w, out_h) == (w, h):
        return rgb
    wv, wh = filter_weights(h, out_h, name), filter_weights(w, out_w, name).T
    out = np.empty((out_h, out_w, rgb.shape[2]), np.uint8)
    for c in range(rgb.shape[2]):
        t = (wv @ rgb[:, :, c].astype(np.float32)) @ wh
        out[:, :, c] = np.floor(np.clip(t, 0, 255) + np.float32(0.5))
    return out


def to_working(rgb: np.ndarray, manifest: dict) -> np.ndarray:
    """The photo resampled to the model's working size, as skintrack does: Lanczos3 below a
    factor of SHARP_RESAMPLING_BELOW_FACTOR, Triangle from it up (segment::working_filter)."""
    h, w = rgb.shape[:2]
    f = working_factor(w, h, manifest)
    ww, wh = max(round_half_away(w * f), 1), max(round_half_away(h * f), 1)
    return resize_image(rgb, ww, wh, "lanczos3" if f < SHARP_RESAMPLING_BELOW_FACTOR else "triangle")


def taper(tile: int, overlap: int) -> np.ndarray:
    """Per-axis blending weight of skintrack's tiles: low at the borders, 1 inside."""
    i = np.arange(tile)
    edge = np.minimum(i, tile - 1 - i).astype(np.float32)
    return np.minimum((edge + 0.5) / np.float32(max(overlap, 1)), 1.0).astype(np.float32)


def mirror(idx: np.ndarray, n: int) -> np.ndarray:
    """skintrack's mirrored index (reflection without repeating the edge pixel)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m < n, m, period - m)


def normalise_manifest(rgb: np.ndarray, spec: dict) -> np.ndarray:
    """HxWx3 uint8 -> 3xHxW float32 normalised as the manifest's input spec says."""
    lo, hi = spec["value_range"]
    x = lo + (hi - lo) * rgb.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def blended_logits(run_tile: Callable[[np.ndarray], np.ndarray], image: np.ndarray,
                   manifest: dict) -> np.ndarray:
    """Blended logits (CxHxW float32) of a working-size RGB image, tiled like skintrack."""
    tile, overlap = manifest["tile"]["size"], manifest["tile"]["overlap"]
    h, w = image.shape[:2]
    x = normalise_manifest(image, manifest["input"])
    wt = taper(tile, overlap)
    acc = None
    wsum = np.zeros((h, w), np.float32)
    for y0 in tile_origins(h, tile, overlap):
        rows = mirror(np.arange(y0, y0 + tile), h)
        for x0 in tile_origins(w, tile, overlap):
            cols = mirror(np.arange(x0, x0 + tile), w)
            t = np.ascontiguousarray(x[:, rows][:, :, cols][None])
            out = run_tile(t)[0]
            if acc is None:
                acc = np.zeros((out.shape[0], h, w), np.float32)
            th, tw = min(tile, h - y0), min(tile, w - x0)  # drop mirrored rows/cols
            wgt = wt[:th, None] * wt[None, :tw]
            acc[:, y0:y0 + th, x0:x0 + tw] += out[:, :th, :tw] * wgt
            wsum[y0:y0 + th, x0:x0 + tw] += wgt
    return acc / np.maximum(wsum, np.float32(1e-6))


def catmull_rom_taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output position (pixel centres aligned, edges clamped): 4 input indices and their
    Catmull-Rom weights, as skintrack's segment::cubic_taps."""
    f = np.clip((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i = np.floor(f)
    t = (f - i).astype(np.float32)[:, None]
    w = np.float32(0.5) * np.concatenate([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2,
                                          -3 * t**3 + 4 * t**2 + t, t**3 - t**2], axis=1)
    idx = np.clip(i[:, None].astype(np.int64) + np.arange(-1, 3), 0, n_in - 1)
    return idx, w.astype(np.float32)


def bilinear_taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output position (pixel centres aligned, edges clamped): 2 input indices and their
    linear weights (positions in float32, as the classical baseline's scores were made)."""
    s = np.float32(n_in / n_out)
    f = np.clip((np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * s - np.float32(0.5),
                0, n_in - 1).astype(np.float32)
    i0 = np.floor(f).astype(np.int64)
    t = (f - i0).astype(np.float32)
    return np.stack([i0, np.minimum(i0 + 1, n_in - 1)], axis=1), np.stack([1 - t, t], axis=1)


def resize_separable(planes: np.ndarray, out_w: int, out_h: int,
                     taps: Callable[[int, int], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """CxHxW float planes interpolated to CxOUT_HxOUT_W with a separable kernel whose per-axis
    indices and weights `taps` gives (catmull_rom_taps: skintrack's segment::ClassScorer
    before the argmax; bilinear_taps: the classical baseline's response map)."""
    c, lh, lw = planes.shape
    if (lw, lh) == (out_w, out_h):
        return planes
    planes = planes.astype(np.float32, copy=False)
    yi, wy = taps(out_h, lh)
    xi, wx = taps(out_w, lw)
    out = np.empty((c, out_h, out_w), np.float32)
    for r in range(0, out_h, 256):  # row chunks keep large photos in bounds
        sl = slice(r, min(r + 256, out_h))
        acc = np.zeros((c, sl.stop - sl.start, out_w), np.float32)
        for j in range(yi.shape[1]):
            rows = planes[:, yi[sl, j]]  # C x rows x lw
            across = sum(rows[:, :, xi[:, k]] * wx[:, k] for k in range(xi.shape[1]))
            acc += across * wy[sl, j][None, :, None]
        out[:, sl] = acc
    return out


def load_manifest(onnx_path: Path) -> dict:
    """The manifest NAME.json beside NAME.onnx."""
    with open(onnx_path.with_suffix(".json")) as f:
        return json.load(f)


def model_scorer(onnx_path: Path, threads: int = 1) -> tuple[dict, np.ndarray, Callable[..., np.ndarray]]:
    """The manifest, the class code of each model class, and a function giving a photo's
    biased class scores (CxHxW at photo size) as skintrack computes them before its argmax.
    `at_working_scale=True` skips the resize to and from the working size (a photo already at
    the model's working scale, as skintrack reads one whose px/mm matches)."""
    import onnxruntime as ort

    manifest = load_manifest(onnx_path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    bias = np.asarray(manifest["output"].get("class_bias") or [0.0] * len(manifest["output"]["classes"]),
                      np.float32)
    # as in skintrack: non_skin gets its own code, any other extra class counts as background
    codes = np.array([c if c <= SCAR else NON_SKIN if n == "non_skin" else 0
                      for c, n in enumerate(manifest["output"]["classes"])], np.uint8)

    def scores(rgb: np.ndarray, at_working_scale: bool = False) -> np.ndarray:
        h, w = rgb.shape[:2]
        work = rgb if at_working_scale else to_working(rgb, manifest)
        logits = blended_logits(lambda t: sess.run(None, {name: t})[0], work, manifest)
        if not at_working_scale:
            logits = resize_separable(logits, w, h, catmull_rom_taps)
        return logits + bias[:, None, None]

    return manifest, codes, scores


def model_classifier(onnx_path: Path, threads: int = 1, scar_core_margin: float | None = None) -> Classifier:
    """A skintrack-equivalent classifier (onnxruntime) for the model and its manifest
    (`scar_core_margin` overrides the manifest's, to try values)."""
    manifest, codes, scores = model_scorer(onnx_path, threads)
    core = manifest["output"].get("scar_core_margin") if scar_core_margin is None else scar_core_margin
    bridge = manifest["output"].get("line_bridge_margin")
    return lambda rgb: decide_classes(scores(rgb), codes, core, bridge)


# ----------------------------------------------------------------------------- the data

def yolo_boxes(label_file: Path, width: int, height: int) -> list[tuple[int, int, int, int, int]]:
    """(class, x0, y0, x1, y1) pixel boxes (x1, y1 exclusive) of a YOLO label file."""
    out = []
    for line in label_file.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        c, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
        x0 = max(0, round_half_away((cx - bw / 2) * width))
        x1 = min(width, round_half_away((cx + bw / 2) * width))
        y0 = max(0, round_half_away((cy - bh / 2) * height))
        y1 = min(height, round_half_away((cy + bh / 2) * height))
        if x1 > x0 and y1 > y0:
            out.append((c, x0, y0, x1, y1))
    return out


def voc_boxes(xml_file: Path, width: int, height: int) -> list[tuple[str, int, int, int, int]]:
    """(name, x0, y0, x1, y1) pixel boxes (x1, y1 exclusive) of a Pascal VOC file."""
    out = []
    for obj in ET.parse(xml_file).getroot().iter("object"):
        bb = obj.find("bndbox")
        v = {k: int(round(float(bb.find(k).text))) for k in ("xmin", "ymin", "xmax", "ymax")}
        x0, y0 = max(0, v["xmin"]), max(0, v["ymin"])
        x1, y1 = min(width, v["xmax"]), min(height, v["ymax"])
        if x1 > x0 and y1 > y0:
            out.append((obj.find("name").text.strip(), x0, y0, x1, y1))
    return out


def box_mask(shape: tuple[int, int], boxes) -> np.ndarray:
    m = np.zeros(shape, bool)
    for _, x0, y0, x1, y1 in boxes:
        m[y0:y1, x0:x1] = True
    return m


def wrinkle_photos(root: Path) -> Iterator[tuple[str, np.ndarray, list]]:
    """(name, rgb, boxes) of the javad71 wrinkle photos, sorted by name."""
    d = root / WRINKLES
    for img in sorted((d / "images").glob("*.jpg")):
        rgb = load_rgb(img)
        lab = d / "labels" / (img.stem + ".txt")
        boxes = yolo_boxes(lab, rgb.shape[1], rgb.shape[0]) if lab.exists() else []
        yield img.name, rgb, boxes


def wrinkle_class_names(root: Path) -> list[str]:
    for line in (root / WRINKLES / "data.yaml").read_text().splitlines():
        if line.startswith("names:"):
            return [s.strip().strip("'\"") for s in line.split(":", 1)[1].strip(" []").split(",")]
    return []


def acne_photos(root: Path) -> Iterator[tuple[str, np.ndarray, list]]:
    d = root / ACNE
    for img in sorted((d / "images").glob("*.jpg")):
        rgb = load_rgb(img)
        xml = d / "annotations_voc" / (img.stem + ".xml")
        boxes = voc_boxes(xml, rgb.shape[1], rgb.shape[0]) if xml.exists() else []
        yield img.name, rgb, boxes


def scar_photos(root: Path) -> Iterator[tuple[str, np.ndarray]]:
    for img in sorted((root / SCARS).glob("*.jpg")):
        yield img.name, load_rgb(img)


def nasolabial_photos(root: Path) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rgb, fold mask) of the nasolabial photos not flagged likely_ai_generated."""
    d = root / NASOLABIAL
    for e in sorted(json.loads((d / "manifest.json").read_text()), key=lambda e: e["image"]):
        if e.get("likely_ai_generated"):
            continue
        rgb = load_rgb(d / e["image"])
        with Image.open(d / e["mask"]) as im:
            mask = np.asarray(im.convert("L")) > 127
        yield Path(e["image"]).name, rgb, mask


# ----------------------------------------------------------------------------- overlays

def overlay(rgb: np.ndarray, cls: np.ndarray, boxes=(), outline: np.ndarray | None = None) -> Image.Image:
    """The photo beside a copy with lines (cyan), scars (magenta, 45% fill, solid outline)
    and annotations (yellow) drawn on it."""
    over = rgb.astype(np.float32).copy()
    scar = cls == SCAR
    over[scar] = over[scar] * 0.55 + np.asarray(SCAR_COLOUR, np.float32) * 0.45
    edge = scar & ~ndimage.binary_erosion(scar, EIGHT, border_value=1)
    over[edge] = SCAR_COLOUR
    over[cls == LINE] = LINE_COLOUR
    non = cls == NON_SKIN
    over[non] = over[non] * 0.45 + np.asarray(NON_SKIN_COLOUR, np.float32) * 0.55
    if outline is not None:
        over[outline & ~ndimage.binary_erosion(outline, EIGHT, border_value=1)] = BOX_COLOUR
    im = Image.fromarray(np.round(over).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _, x0, y0, x1, y1 in boxes:
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=BOX_COLOUR, width=1)
    h, w = rgb.shape[:2]
    both = Image.new("RGB", (2 * w + 8, h), (255, 255, 255))
    both.paste(Image.fromarray(rgb), (0, 0))
    both.paste(im, (w + 8, 0))
    return both


class Overlays:
    """Writes the first `per_set` overlays of each set into `out` (nothing when out is None)."""

    def __init__(self, out: Path | None, per_set: int, prefix: str = "") -> None:
        self.out, self.per_set, self.prefix = out, per_set, prefix
        self.done: dict[str, int] = {}
        if out is not None:
            if out.resolve().is_relative_to(REPO_DIR.resolve()):
                raise SystemExit(f"--overlays {out}: inside the repository; real photos must stay out of it")
            out.mkdir(parents=True, exist_ok=True)

    def want(self, kind: str) -> bool:
        return self.out is not None and self.done.get(kind, 0) < self.per_set

    def save(self, kind: str, name: str, image: Image.Image) -> None:
        self.done[kind] = self.done.get(kind, 0) + 1
        image.save(self.out / f"{self.prefix}{kind}_{Path(name).stem[:40]}.png")


def ycrcb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Luma Y and chroma Cr, Cb (BT.601, 0-255 with grey at 128) of an HxWx3 uint8 photo."""
    f = rgb.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return y, (f[..., 0] - y) * 0.713 + 128, (f[..., 2] - y) * 0.564 + 128


def measured_not_skin_coloured(rgb: np.ndarray, cls: np.ndarray) -> float | None:
    """Share of the measured region (every pixel not called non_skin) that is not skin-
    coloured: YCrCb Cr < 133 (too little red for any skin tone under roughly neutral light) or
    nearly grey (|Cr - 128| + |Cb - 128| < 8). None for a black-and-white photo (median
    chroma under 3). Crude by design, an upper bound: shadowed or very pale skin can fail the
    rule; white walls, grey shirts and blue backdrops always do."""
    _, cr, cb = ycrcb(rgb)
    grey = np.abs(cr - 128) + np.abs(cb - 128)
    if np.median(grey) < 3:
        return None
    measured = cls != NON_SKIN
    off = (cr < 133) | (grey < 8)
    return float(np.count_nonzero(measured & off)) / max(int(np.count_nonzero(measured)), 1)


def off_skin_summary(shares: list[float]) -> dict:
    """The figures of `measured_not_skin_coloured` over a set's colour photos."""
    v = np.array(shares, float)
    if not len(v):
        return {"colour_photos": 0}
    return {
        "colour_photos": len(v),
        "measured_not_skin_coloured_median": json_float(float(np.median(v)), 4),
        "measured_not_skin_coloured_p75": json_float(float(np.percentile(v, 75)), 4),
        "photos_measured_not_skin_coloured_over_20pct": int((v > 0.2).sum()),
    }


# ----------------------------------------------------------------------------- measurements

def score_wrinkles(root: Path, classify: Classifier, overlays: Overlays | None = None) -> dict:
    """Where predicted fine lines fall relative to the javad71 wrinkle boxes (docstring)."""
    names = wrinkle_class_names(root)
    line_in = line_all = box_px = all_px = 0
    dens_in, dens_out = [], []
    n_boxes = 0
    per_class = {}
    photos = no_line = 0
    non_px = non_in = 0
    off_skin = []
    for name, rgb, boxes in wrinkle_photos(root):
        cls = classify(rgb)
        if (share := measured_not_skin_coloured(rgb, cls)) is not None:
            off_skin.append(share)
        line = cls == LINE
        inside = box_mask(line.shape, boxes)
        non_px += int(np.count_nonzero(cls == NON_SKIN))
        non_in += int(np.count_nonzero((cls == NON_SKIN) & inside))
        photos += 1
        n_boxes += len(boxes)
        li, la = int(np.count_nonzero(line & inside)), int(np.count_nonzero(line))
        line_in += li
        line_all += la
        box_px += int(inside.sum())
        all_px += line.size
        no_line += la == 0
        if inside.any() and (~inside).any():
            dens_in.append(li / inside.sum())
            dens_out.append((la - li) / (~inside).sum())
        for c, x0, y0, x1, y1 in boxes:
            k = names[c] if c < len(names) else str(c)
            pc = per_class.setdefault(k, [0, 0, 0])
            pc[0] += 1
            pc[1] += int(np.count_nonzero(line[y0:y1, x0:x1]))
            pc[2] += (y1 - y0) * (x1 - x0)
        if overlays is not None and overlays.want("wrinkles"):
            overlays.save("wrinkles", name, overlay(rgb, cls, boxes))
    frac = line_in / line_all if line_all else float("nan")
    chance = box_px / all_px
    return {
        "photos": photos,
        "boxes": n_boxes,
        "line_px_frac": json_float(line_all / all_px, 5),
        "photos_without_lines": no_line,
        "line_px_in_boxes_frac": json_float(frac),
        "chance_box_area_frac": json_float(chance),
        "enrichment": json_float(frac / chance if chance else float("nan"), 3),
        "line_density_in_boxes": json_float(float(np.mean(dens_in)) if dens_in else float("nan"), 5),
        "line_density_outside_boxes": json_float(float(np.mean(dens_out)) if dens_out else float("nan"), 5),
        "line_density_in_boxes_pooled": json_float(line_in / box_px if box_px else float("nan"), 5),
        "line_density_outside_boxes_pooled": json_float((line_all - line_in) / (all_px - box_px), 5),
        "line_density_in_boxes_by_class": {k: json_float(v[1] / v[2], 5) for k, v in sorted(per_class.items())},
        "non_skin_px_frac": json_float(non_px / all_px, 4),
        "box_px_non_skin_frac": json_float(non_in / box_px if box_px else float("nan"), 4),
        **off_skin_summary(off_skin),
    }


def scar_components(cls: np.ndarray) -> np.ndarray:
    """Pixel sizes of the 8-connected predicted-scar components."""
    lab, n = ndimage.label(cls == SCAR, structure=EIGHT)
    return np.bincount(lab.ravel(), minlength=n + 1)[1:]


def score_acne(root: Path, classify: Classifier, overlays: Overlays | None = None) -> dict:
    """How often acne lesions (and the rest of the acne photos) are called scar or line."""
    n_boxes = as_scar = as_line = 0
    by_class: dict[str, list[int]] = {}
    scar_px = line_px = all_px = 0
    photos = found = 0
    non_px = box_px = box_non = 0
    off_skin = []
    for name, rgb, boxes in acne_photos(root):
        cls = classify(rgb)
        if (share := measured_not_skin_coloured(rgb, cls)) is not None:
            off_skin.append(share)
        photos += 1
        non_px += int(np.count_nonzero(cls == NON_SKIN))
        lesions = box_mask(cls.shape, boxes)
        box_px += int(lesions.sum())
        box_non += int(np.count_nonzero(lesions & (cls == NON_SKIN)))
        scar_px += int(np.count_nonzero(cls == SCAR))
        line_px += int(np.count_nonzero(cls == LINE))
        all_px += cls.size
        found += bool((scar_components(cls) >= MIN_SCAR_PX).any())
        for k, x0, y0, x1, y1 in boxes:
            sub = cls[y0:y1, x0:x1]
            s = np.count_nonzero(sub == SCAR) >= BOX_LABEL_FRAC * sub.size
            ln = np.count_nonzero(sub == LINE) >= BOX_LABEL_FRAC * sub.size
            n_boxes += 1
            as_scar += s
            as_line += ln
            bc = by_class.setdefault(k, [0, 0])
            bc[0] += 1
            bc[1] += s
        if overlays is not None and overlays.want("acne"):
            overlays.save("acne", name, overlay(rgb, cls, boxes))
    return {
        "photos": photos,
        "boxes": n_boxes,
        "rule": f"box labelled scar when >= {BOX_LABEL_FRAC:.0%} of its pixels are predicted scar",
        "boxes_labelled_scar_frac": json_float(as_scar / n_boxes if n_boxes else float("nan")),
        "target_boxes_labelled_scar_frac_below": 0.10,
        "boxes_labelled_line_frac": json_float(as_line / n_boxes if n_boxes else float("nan")),
        "boxes_labelled_scar_frac_by_class": {k: json_float(v[1] / v[0]) for k, v in sorted(by_class.items())},
        "scar_px_frac": json_float(scar_px / all_px, 5),
        "scar_px_frac_of_skin": json_float(scar_px / (all_px - non_px) if all_px > non_px else float("nan"), 5),
        "line_px_frac": json_float(line_px / all_px, 5),
        "photos_with_scar_found_frac": json_float(found / photos if photos else float("nan")),
        "non_skin_px_frac": json_float(non_px / all_px, 4),
        "lesion_box_px_non_skin_frac": json_float(box_non / box_px if box_px else float("nan"), 4),
        **off_skin_summary(off_skin),
    }


def score_scars(root: Path, classify: Classifier, overlays: Overlays | None = None) -> dict:
    """Share of atrophic-scar close-ups in which a scar is found (>= 40 px component)."""
    photos = found = 0
    scar_px = all_px = non_px = 0
    counts = []
    for name, rgb in scar_photos(root):
        cls = classify(rgb)
        non_px += int(np.count_nonzero(cls == NON_SKIN))
        sizes = scar_components(cls)
        n = int((sizes >= MIN_SCAR_PX).sum())
        photos += 1
        found += n > 0
        counts.append(n)
        scar_px += int(np.count_nonzero(cls == SCAR))
        all_px += cls.size
        if overlays is not None and overlays.want("scars"):
            overlays.save("scars", name, overlay(rgb, cls))
    return {
        "photos": photos,
        "rule": f"found = an 8-connected predicted-scar component of >= {MIN_SCAR_PX} px at photo resolution",
        "found_frac": json_float(found / photos if photos else float("nan")),
        "target_found_frac_above": 0.90,
        "scar_px_frac": json_float(scar_px / all_px if all_px else float("nan"), 5),
        "scar_px_frac_of_skin": json_float(scar_px / (all_px - non_px) if all_px > non_px else float("nan"), 5),
        "scar_components_median": json_float(float(np.median(counts)) if counts else float("nan"), 1),
        "non_skin_px_frac": json_float(non_px / all_px if all_px else float("nan"), 4),
    }


def score_nasolabial(root: Path, classify: Classifier, overlays: Overlays | None = None) -> dict:
    """Predicted fine-line pixels inside the nasolabial fold masks (not-AI photos only)."""
    photos = line_in = line_all = mask_px = all_px = mask_non = 0
    for name, rgb, mask in nasolabial_photos(root):
        cls = classify(rgb)
        if mask.shape != cls.shape:
            raise SystemExit(f"{name}: mask {mask.shape} vs photo {cls.shape}")
        line = cls == LINE
        photos += 1
        line_in += int(np.count_nonzero(line & mask))
        line_all += int(np.count_nonzero(line))
        mask_px += int(mask.sum())
        mask_non += int(np.count_nonzero(mask & (cls == NON_SKIN)))
        all_px += mask.size
        if overlays is not None and overlays.want("nasolabial"):
            overlays.save("nasolabial", name, overlay(rgb, cls, outline=mask))
    frac = line_in / line_all if line_all else float("nan")
    chance = mask_px / all_px if all_px else float("nan")
    return {
        "photos": photos,
        "line_px_frac": json_float(line_all / all_px if all_px else float("nan"), 5),
        "line_px_in_masks_frac": json_float(frac),
        "chance_mask_area_frac": json_float(chance),
        "enrichment": json_float(frac / chance if chance else float("nan"), 3),
        "mask_px_non_skin_frac": json_float(mask_non / mask_px if mask_px else float("nan"), 4),
    }


def write_manifest_scores(manifest_path: Path, key: str, value: dict) -> None:
    """Sets manifest["scores"][key] (with today's date) and rewrites the manifest in the format
    export.py / calibrate.py use (indent 2, trailing newline); everything else stays as it was."""
    manifest = json.loads(manifest_path.read_text())
    manifest.setdefault("scores", {})[key] = {"measured": time.strftime("%Y-%m-%d"), **value}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote scores.{key} into {manifest_path}", file=sys.stderr)


def manifest_summary(scores: dict) -> dict:
    """The real-photo scores without the per-class breakdowns (kept lean for the manifest)."""
    drop = ("line_density_in_boxes_by_class", "boxes_labelled_scar_frac_by_class")
    return {k: {kk: vv for kk, vv in v.items() if kk not in drop} if isinstance(v, dict) else v
            for k, v in scores.items()}


def realdata_dir(arg: str | None) -> Path | None:
    """The real-photo folder, or None (after a message on stderr) when it is absent."""
    root = Path(arg) if arg else DEFAULT_REALDATA
    if not root.is_dir():
        print(f"real photos not found at {root}: skipping (see training/README.md, 'Real photos')",
              file=sys.stderr)
        return None
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx", nargs="?", default=str(MODELS_DIR / "skinseg-v1.onnx"))
    ap.add_argument("--realdata", help=f"real-photo folder (default {DEFAULT_REALDATA})")
    ap.add_argument("--overlays", type=Path, help="write overlay PNGs here (outside the repository)")
    ap.add_argument("--overlays-per-set", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-nasolabial", action="store_true")
    ap.add_argument("--scar-core-margin", type=float,
                    help="override the manifest's output.scar_core_margin (0: no hysteresis)")
    ap.add_argument("--write-manifest", action="store_true",
                    help="also store the scores as scores.real_photos in the model's manifest")
    a = ap.parse_args()
    root = realdata_dir(a.realdata)
    if root is None:
        return
    t0 = time.time()
    onnx = Path(a.onnx)
    manifest = load_manifest(onnx)
    core = manifest["output"].get("scar_core_margin") if a.scar_core_margin is None else a.scar_core_margin
    classify = model_classifier(onnx, a.threads, core)
    ov = Overlays(a.overlays, a.overlays_per_set)
    out = {
        "model": onnx.name,
        "sha256": manifest.get("sha256"),
        "inference": "skintrack without a physical scale: working factor clamp(%d / longest side, 1/16, 2), "
                     "Lanczos3 resize below a factor of %g else Triangle, "
                     "%d px tiles with %d px overlap and tapered blending, logits "
                     "interpolated (Catmull-Rom) to the photo, class_bias %s, argmax, scar_core_margin %s, "
                     "line_bridge_margin %s"
                     % (manifest["working_scale"].get("longest_side") or 0, SHARP_RESAMPLING_BELOW_FACTOR,
                        manifest["tile"]["size"],
                        manifest["tile"]["overlap"], manifest["output"].get("class_bias"), core,
                        manifest["output"].get("line_bridge_margin")),
        "wrinkles_javad71": score_wrinkles(root, classify, ov),
        "acne_acne04": score_acne(root, classify, ov),
        "scars_scarcare_atrophic": score_scars(root, classify, ov),
    }
    if not a.skip_nasolabial:
        out["nasolabial_wrinklearea3d"] = score_nasolabial(root, classify, ov)
    print(json.dumps(out, indent=1))
    if a.write_manifest:
        keep = {k: v for k, v in out.items() if k not in ("model", "sha256")}
        write_manifest_scores(onnx.with_suffix(".json"), "real_photos",
                              {"script": "training/eval_real.py", **manifest_summary(keep)})
    print(f"eval_real: {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
