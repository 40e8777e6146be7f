"""Score an ONNX segmentation model on the held-out synthetic images with onnxruntime.

Inference is tiled like skintrack's Rust side: 256x256 tiles, 32 px overlap, logits averaged
where tiles overlap, argmax per pixel. Scores (pixel counts pooled over all images of a group):
- per-class IoU = |pred == c and truth == c| / |pred == c or truth == c|
- fine-line F1 with 2 px tolerance: precision = predicted line pixels within 2 px (Euclidean)
  of a true line pixel / predicted line pixels; recall = true line pixels within 2 px of a
  predicted line pixel / true line pixels; F1 = harmonic mean
- the same split by skin-tone group (ITA: light > 41, medium 10..41, dark < 10 degrees) and by
  generator variety (plain, clinical)
- on clinical images, for each look-alike kind (pigment spots, acne papules and red marks, hairs,
  shine: skin the model must not call a lesion): the share of its skin pixels predicted fine line
  and predicted scar

Usage: python training/evaluate.py [models/skinseg-v1.onnx]  (prints the scores as JSON)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MODELS_DIR, OVERLAP, TILE, decide_classes, items, json_float, load_classes,  # noqa: E402
                    load_index, load_rgb, normalise, pad_to_multiple, tiled_logits)

TOL_PX = 2.0
# Codes of skintrack's look-alike maps (src/synth/clinical.rs LOOK_*).
LOOK_ALIKES = {1: "pigment", 2: "acne", 3: "hair", 4: "shine"}


def load_codes(path: str | Path) -> np.ndarray:
    """A look-alike map (uint8 HxW, codes as LOOK_ALIKES)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L"), np.uint8)


def session(onnx_path: str | Path, threads: int = 2) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])


def predict(sess: ort.InferenceSession, rgb: np.ndarray, tile: int = TILE, overlap: int = OVERLAP,
            class_bias: list[float] | None = None, scar_core_margin: float | None = None,
            line_bridge_margin: float | None = None) -> np.ndarray:
    """Class map (HxW uint8) of an RGB uint8 image by tiled inference; `class_bias` is added to
    the logits before the argmax (the manifest's calibrated `output.class_bias`), scar
    regions without a core this confident are dropped (`output.scar_core_margin`), and weak
    line ridges join line pieces (`output.line_bridge_margin`)."""
    x, h, w = pad_to_multiple(normalise(rgb))
    name = sess.get_inputs()[0].name

    def run(t: np.ndarray) -> np.ndarray:
        return sess.run(None, {name: t})[0]

    logits = tiled_logits(run, x, tile, overlap)[0, :, :h, :w]
    if class_bias is not None:
        logits = logits + np.asarray(class_bias, np.float32)[:, None, None]
    return decide_classes(logits, np.arange(logits.shape[0], dtype=np.uint8), scar_core_margin,
                          line_bridge_margin)


class Counts:
    """Pooled pixel counts for IoU and tolerant line F1."""

    def __init__(self) -> None:
        self.inter = np.zeros(3, np.int64)
        self.union = np.zeros(3, np.int64)
        self.pred_line = 0
        self.pred_line_hit = 0
        self.true_line = 0
        self.true_line_hit = 0
        self.images = 0
        self.non_skin = 0
        self.pixels = 0
        # per look-alike code: skin pixels, of them predicted line, predicted scar
        self.looks = np.zeros((5, 3), np.int64)

    def add(self, pred: np.ndarray, truth: np.ndarray, looks: np.ndarray | None = None) -> None:
        # synthetic skin is skin everywhere: a non-skin prediction (class 3) is a miss, counted
        # as "neither line nor scar" like skintrack, which leaves such pixels unmeasured
        self.non_skin += int(np.count_nonzero(pred == 3))
        self.pixels += pred.size
        for c in range(3):
            p = pred == c
            t = truth == c
            self.inter[c] += np.count_nonzero(p & t)
            self.union[c] += np.count_nonzero(p | t)
        pl = pred == 1
        tl = truth == 1
        # distance from every pixel to the nearest line pixel of the other map
        d_true = ndimage.distance_transform_edt(~tl) if tl.any() else np.full(tl.shape, np.inf)
        d_pred = ndimage.distance_transform_edt(~pl) if pl.any() else np.full(pl.shape, np.inf)
        self.pred_line += int(pl.sum())
        self.pred_line_hit += int(np.count_nonzero(pl & (d_true <= TOL_PX)))
        self.true_line += int(tl.sum())
        self.true_line_hit += int(np.count_nonzero(tl & (d_pred <= TOL_PX)))
        self.images += 1
        if looks is not None:
            for code in LOOK_ALIKES:
                m = (looks == code) & (truth == 0)
                self.looks[code] += [np.count_nonzero(m), np.count_nonzero(m & (pred == 1)),
                                     np.count_nonzero(m & (pred == 2))]

    def merge(self, other: "Counts") -> None:
        """Adds another tally's counts: an image is scored once and merged into each group."""
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def scores(self) -> dict:
        iou = [self.inter[c] / self.union[c] if self.union[c] else float("nan") for c in range(3)]
        p = self.pred_line_hit / self.pred_line if self.pred_line else float("nan")
        r = self.true_line_hit / self.true_line if self.true_line else float("nan")
        if self.true_line and (not self.pred_line or p + r == 0):
            f1 = 0.0  # lines exist but none found
        else:
            f1 = 2 * p * r / (p + r) if (p + r) > 0 else float("nan")
        return {
            "fine_line_f1_2px": json_float(f1),
            "fine_line_precision_2px": json_float(p),
            "fine_line_recall_2px": json_float(r),
            "fine_line_iou": json_float(iou[1]),
            "scar_iou": json_float(iou[2]),
            "background_iou": json_float(iou[0]),
            "non_skin_px_frac": json_float(self.non_skin / self.pixels if self.pixels else float("nan"), 5),
            "images": self.images,
            "look_alikes": {
                name: {"skin_px": int(self.looks[code, 0]),
                       "as_line": json_float(self.looks[code, 1] / self.looks[code, 0], 4),
                       "as_scar": json_float(self.looks[code, 2] / self.looks[code, 0], 4)}
                for code, name in LOOK_ALIKES.items() if self.looks[code, 0]
            },
        }


def evaluate(onnx_path: str | Path, split: str = "heldout", threads: int = 2,
             class_bias: list[float] | None = None, scar_core_margin: float | None = None,
             line_bridge_margin: float | None = None) -> dict:
    """Scores of the model on a split of the index, overall and by skin-tone group."""
    sess = session(onnx_path, threads)
    its = items(load_index(), split)
    if not its:
        raise SystemExit(f"no '{split}' images in the index")
    total = Counts()
    groups = {g: Counts() for g in ("light", "medium", "dark")}
    varieties = {v: Counts() for v in ("plain", "clinical")}
    for it in its:
        pred = predict(sess, load_rgb(it["image"]), class_bias=class_bias, scar_core_margin=scar_core_margin,
                       line_bridge_margin=line_bridge_margin)
        truth = load_classes(it["classes"])
        looks = load_codes(it["look_alikes"]) if it.get("look_alikes") else None
        one = Counts()
        one.add(pred, truth, looks)
        for group in (total, groups[it["tone"]], varieties["plain" if looks is None else "clinical"]):
            group.merge(one)
    out = total.scores()
    out["by_skin_tone"] = {g: c.scores() for g, c in groups.items()}
    out["by_variety"] = {v: c.scores() for v, c in varieties.items() if c.images}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx", nargs="?", default=str(MODELS_DIR / "skinseg-v1.onnx"))
    ap.add_argument("--split", default="heldout", choices=["heldout", "train"])
    a = ap.parse_args()
    print(json.dumps(evaluate(a.onnx, a.split), indent=1))


if __name__ == "__main__":
    main()
