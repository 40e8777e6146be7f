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


def decide_classes(scores: np.ndarray, codes: np.ndarray, scar_core_margin: float | None) -> np.ndarray:
    """Class codes (HxW uint8) from biased CxHxW scores, as skintrack's segment::ClassScorer:
    the argmax (ties to the lower class), mapped through `codes`; with `scar_core_margin`, a
    scar region (8-connected) stays scar only if its scar score leads the runner-up by at least
    that much somewhere (hysteresis), else it takes each pixel's runner-up class."""
    from scipy import ndimage

    if not scar_core_margin:
        return codes[scores.argmax(0)]
    best, runner_up, lead = rank_two(scores, codes)
    scar = best == SCAR
    labels, n = ndimage.label(scar, structure=np.ones((3, 3), bool))
    if n == 0:
        return best
    confident = np.zeros(n + 1, bool)
    confident[1:] = ndimage.maximum(lead, labels, np.arange(1, n + 1)) >= scar_core_margin
    demote = scar & ~confident[labels]
    best = best.copy()
    best[demote] = runner_up[demote]
    return best


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
