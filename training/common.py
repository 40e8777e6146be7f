"""Shared constants and helpers for skinseg training, export and evaluation.

Everything that must agree between training, the exported ONNX model, the manifest and the
Rust inference side (normalisation, class order, tiling) lives here, so it is defined once.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

TRAINING_DIR = Path(__file__).resolve().parent
REPO_DIR = TRAINING_DIR.parent
DATA_DIR = TRAINING_DIR / "data"
MODELS_DIR = REPO_DIR / "models"
INDEX_FILE = DATA_DIR / "index.json"
# Real photographs (read only, never copied into the repository): ../shared/realdata
REALDATA_DIR = REPO_DIR.parent / "shared" / "realdata"

# `non_skin`: hair, eyes, lips, nostrils, clothes, background; skintrack measures skin only.
CLASSES = ["background", "fine_line", "scar", "non_skin"]
SCAR = CLASSES.index("scar")
LINE = CLASSES.index("fine_line")
BACKGROUND = CLASSES.index("background")
# Per-channel normalisation: value = (pixel / 255 - MEAN) / STD. Fixed numbers (not dataset
# statistics) so that they are easy to copy into any runtime.
MEAN = [0.5, 0.5, 0.5]
STD = [0.25, 0.25, 0.25]
TILE = 256
OVERLAP = 32
MULTIPLE_OF = 16
PX_PER_MM = 20.0
LONGEST_SIDE = 1600

# Skin-tone groups by individual typology angle (degrees).
TONE_LIGHT_MIN = 41.0
TONE_DARK_MAX = 10.0


def tone_group(ita_deg: float) -> str:
    """Skin-tone group of an ITA angle: light > 41, medium 10..41, dark < 10 degrees."""
    if ita_deg > TONE_LIGHT_MIN:
        return "light"
    if ita_deg < TONE_DARK_MAX:
        return "dark"
    return "medium"


def normalise(rgb_u8: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> 1x3xHxW float32 normalised exactly as the manifest states."""
    x = rgb_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def load_rgb(path: os.PathLike) -> np.ndarray:
    """RGB uint8 HxWx3 of an image file."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_classes(path: os.PathLike) -> np.ndarray:
    """Class map (uint8 HxW, values 0/1/2) of a truth PNG."""
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L") if im.mode not in ("L", "P", "I", "I;16") else im)
    arr = arr.astype(np.uint8)
    if arr.max(initial=0) > 2:
        raise ValueError(f"{path}: class values above 2 ({np.unique(arr)[:10]})")
    return arr


def load_index() -> dict:
    """The dataset index written by make_data.py."""
    if not INDEX_FILE.exists():
        raise SystemExit(f"{INDEX_FILE} missing: run training/make_data.py first")
    with open(INDEX_FILE) as f:
        return json.load(f)


def items(index: dict, split: str) -> list[dict]:
    """Dataset items of one split ('train' or 'heldout'), paths made absolute."""
    out = []
    for it in index["items"]:
        if it["split"] == split:
            it = dict(it)
            it["image"] = str(DATA_DIR / it["image"])
            it["classes"] = str(DATA_DIR / it["classes"])
            if it.get("look_alikes"):
                it["look_alikes"] = str(DATA_DIR / it["look_alikes"])
            out.append(it)
    return out


def tile_origins(length: int, tile: int = TILE, overlap: int = OVERLAP) -> list[int]:
    """Start offsets of tiles covering [0, length): stride tile - overlap, last tile flush
    with the end (so every tile is full size when length >= tile)."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return sorted(set(starts))


def tiled_logits(run_tile, x: np.ndarray, tile: int = TILE, overlap: int = OVERLAP) -> np.ndarray:
    """Logits of a whole normalised image (1x3xHxW) by tiles with overlap, averaging the
    logits where tiles overlap. `run_tile` maps a 1x3xhxw array to 1xCxhxw logits.
    H and W must be multiples of 16 (or be padded by the caller)."""
    _, _, h, w = x.shape
    acc = None
    cnt = np.zeros((1, 1, h, w), np.float32)
    for y0 in tile_origins(h, tile, overlap):
        for x0 in tile_origins(w, tile, overlap):
            th, tw = min(tile, h), min(tile, w)
            out = run_tile(np.ascontiguousarray(x[:, :, y0 : y0 + th, x0 : x0 + tw]))
            if acc is None:
                acc = np.zeros((1, out.shape[1], h, w), np.float32)
            acc[:, :, y0 : y0 + th, x0 : x0 + tw] += out
            cnt[:, :, y0 : y0 + th, x0 : x0 + tw] += 1.0
    return acc / cnt


def decide_classes(scores: np.ndarray, codes: np.ndarray, scar_core_margin: float | None,
                   line_bridge_margin: float | None = None) -> np.ndarray:
    """Class codes (HxW uint8) from biased CxHxW scores, as skintrack's segment::ClassScorer:
    the argmax (ties to the lower class), mapped through `codes`; with `scar_core_margin`, a
    scar region (8-connected) stays scar only if its scar score leads the runner-up by at least
    that much somewhere (hysteresis), else it takes each pixel's runner-up class; with
    `line_bridge_margin`, weak fine-line ridges that join separate line pieces become fine line
    (`bridge_line_pieces`)."""
    from scipy import ndimage

    if not scar_core_margin:
        best = codes[scores.argmax(0)]
    else:
        best, runner_up, lead = rank_two(scores, codes)
        scar = best == SCAR
        labels, n = ndimage.label(scar, structure=np.ones((3, 3), bool))
        if n > 0:
            confident = np.zeros(n + 1, bool)
            confident[1:] = ndimage.maximum(lead, labels, np.arange(1, n + 1)) >= scar_core_margin
            demote = scar & ~confident[labels]
            best = best.copy()
            best[demote] = runner_up[demote]
    if line_bridge_margin is not None and (codes == LINE).any():
        best = bridge_line_pieces(best, line_margin(scores, codes), line_bridge_margin)
    return best


def line_margin(scores: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per pixel: the fine-line score minus the best other class's score."""
    c = int(np.flatnonzero(codes == LINE)[0])
    others = np.delete(scores, c, axis=0).max(0)
    return scores[c] - others


def is_ridge(s: np.ndarray) -> np.ndarray:
    """Pixels of the HxW field `s` on a ridge, as skintrack's segment::is_ridge: the Hessian's
    strongest curvature is negative and the pixel is no lower than its two neighbours in that
    direction (nearest of the four grid directions); border pixels are not."""
    s = s.astype(np.float64)
    h, w = s.shape
    out = np.zeros((h, w), bool)
    if h < 3 or w < 3:
        return out
    at = lambda dx, dy: s[1 + dy : h - 1 + dy, 1 + dx : w - 1 + dx]  # noqa: E731
    c = at(0, 0)
    sxx = at(1, 0) + at(-1, 0) - 2 * c
    syy = at(0, 1) + at(0, -1) - 2 * c
    sxy = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / 4
    half = (sxx + syy) / 2
    root = np.sqrt(((sxx - syy) / 2) ** 2 + sxy * sxy)
    low, high = half - root, half + root
    ridge = (low < 0) & (-low >= np.abs(high))
    first = np.abs(low - sxx) > np.abs(low - syy)
    vx = np.where(first, sxy, low - syy)
    vy = np.where(first, low - sxx, sxy)
    angle = np.mod(np.arctan2(vy, vx), np.pi)
    step = np.round(angle / (np.pi / 4)).astype(int) % 4
    peak = np.zeros_like(ridge)
    for k, (dx, dy) in enumerate([(1, 0), (1, 1), (0, 1), (-1, 1)]):
        peak |= (step == k) & (c >= at(dx, dy)) & (c >= at(-dx, -dy))
    out[1:-1, 1:-1] = ridge & peak
    return out


def bridge_line_pieces(classes: np.ndarray, margin: np.ndarray, bridge: float) -> np.ndarray:
    """As skintrack's segment::bridge_line_pieces: background pixels whose fine-line `margin`
    is at least -`bridge` and which lie on its ridge are weak; a weak region (8-connected)
    touching two or more separate fine-line pieces becomes fine line."""
    from scipy import ndimage

    eight = np.ones((3, 3), bool)
    weak = (classes == BACKGROUND) & (margin >= -bridge) & is_ridge(margin)
    regions, n = ndimage.label(weak, structure=eight)
    if n == 0:
        return classes
    pieces, _ = ndimage.label(classes == LINE, structure=eight)
    h, w = classes.shape
    padded = np.pad(pieces, 1)
    ys, xs = np.nonzero(weak)
    pairs = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            p = padded[ys + 1 + dy, xs + 1 + dx]
            touch = p > 0
            pairs.append(np.stack([regions[ys, xs][touch], p[touch]], 1))
    pairs = np.unique(np.concatenate(pairs), axis=0)
    joins = np.zeros(n + 1, bool)
    joins[np.flatnonzero(np.bincount(pairs[:, 0], minlength=n + 1) >= 2)] = True
    out = classes.copy()
    out[joins[regions]] = LINE
    return out


def rank_two(scores: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel of CxHxW `scores`: the best and runner-up class codes (ties to the lower
    class) and how far the best score leads the runner-up's."""
    order = np.argsort(-scores, axis=0, kind="stable")[:2]
    ranked = codes[order]
    top = np.take_along_axis(scores, order, 0)
    return ranked[0], ranked[1], top[0] - top[1]


def pad_to_multiple(x: np.ndarray, multiple: int = MULTIPLE_OF) -> tuple[np.ndarray, int, int]:
    """Reflect-pad a 1x3xHxW array on the bottom/right to multiples of `multiple`."""
    _, _, h, w = x.shape
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
    return x, h, w


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def json_float(v: float, digits: int = 4) -> float | None:
    """Rounded float for JSON (None for NaN)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return round(float(v), digits)
