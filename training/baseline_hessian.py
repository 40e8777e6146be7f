"""Classical fine-line baseline for issue 7: a multi-scale Hessian ridge filter, thresholded.

Why: the held-out synthetic F1 of the network (manifest scores.heldout_synthetic) says little
unless a plain filter is known to score clearly lower on the same images, and the real-photo
wrinkle check needs a reference that was never trained on anything.

Method: dark ridges (`black_ridges=True`) of skimage's `sato` or `frangi` filter over a small
set of Gaussian scales for 2-5 px wide lines at 20 px/mm (sigma ~ width / sqrt(12) .. width / 2),
on L* (CIELAB lightness, 0..100) or on the green channel (scaled to 0..100); a pixel is a fine
line when the response is >= a threshold. No other post-processing.

Selection, on TRAINING synthetic images only (training/data/index.json, split "train"):
1. every filter x channel x sigma set in CONFIGS is scored on a fixed subset (session 0 of every
   fourth training seed) at every threshold of a log-spaced grid; the configuration with the best
   pooled fine-line F1 (2 px tolerance) wins;
2. its threshold is then re-chosen on all training images (best pooled F1 on the grid).
The F1 at every threshold comes from one pass per image: with D = the 2-px Euclidean disc,
predicted pixels near the truth are those inside truth dilated by D, and true pixels found are
those where the maximum of the response over D reaches the threshold: exactly evaluate.py's
distance-transform rule (checked against its Counts on the held-out images).

Scores: the held-out synthetic images with evaluate.py's Counts (fine-line F1 with 2 px
tolerance, precision, recall, IoU), overall and by skin-tone group, next to the network's
numbers from the manifest; and the javad71 wrinkle-box measurement of eval_real.py on the real
photos (same working-scale resize as skintrack; the response is interpolated bilinearly to the
photo's size, then thresholded). Skips the real photos with a message when they are absent.

Usage: python training/baseline_hessian.py [--realdata DIR] [--overlays DIR] [--write-manifest]
Prints JSON; `--write-manifest` also stores it (without the per-configuration table) as
`scores.baseline_hessian` in models/skinseg-v1.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # modest and reproducible: BLAS on one thread by default

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402
from skimage.color import rgb2lab  # noqa: E402
from skimage.filters import frangi, sato  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MODELS_DIR, items, json_float, load_classes, load_index, load_rgb  # noqa: E402
from eval_real import (Overlays, bilinear_taps, manifest_summary, realdata_dir, resize_separable, score_wrinkles,  # noqa: E402
                       to_working, write_manifest_scores)
from evaluate import TOL_PX, Counts  # noqa: E402

FILTERS = {"sato": sato, "frangi": frangi}
CHANNELS = ("L*", "green")
SIGMA_SETS = ((0.75, 1.0, 1.5), (1.0, 1.5, 2.0), (1.0, 2.0, 3.0))
CONFIGS = [(f, c, s) for f in FILTERS for c in CHANNELS for s in SIGMA_SETS]
GRID = np.geomspace(1e-4, 1e2, 601)  # candidate thresholds (the responses lie well inside)
R = int(np.floor(TOL_PX))
DISC = np.add.outer(np.arange(-R, R + 1) ** 2, np.arange(-R, R + 1) ** 2) <= TOL_PX ** 2
MANIFEST_JSON = MODELS_DIR / "skinseg-v1.json"


def channel(rgb: np.ndarray, name: str) -> np.ndarray:
    """The filtered channel, on a 0..100 scale."""
    if name == "L*":
        return rgb2lab(rgb)[..., 0]
    if name == "green":
        return rgb[..., 1].astype(np.float64) / 2.55
    raise ValueError(name)


def ridge_response(rgb: np.ndarray, cfg: tuple) -> np.ndarray:
    """Dark-ridge response (float32, >= 0) of an RGB uint8 image for one configuration."""
    filt, chan, sigmas = cfg
    return FILTERS[filt](channel(rgb, chan), sigmas=sigmas, black_ridges=True).astype(np.float32)


def ge_counts(values: np.ndarray) -> np.ndarray:
    """For each threshold of GRID, how many of `values` are >= it."""
    pos = np.searchsorted(GRID, values, side="right")  # v >= GRID[k]  <=>  pos >= k + 1
    hist = np.bincount(pos, minlength=len(GRID) + 1)
    return np.cumsum(hist[::-1])[::-1][1:]


class Sweep:
    """Pooled tolerant-F1 counts at every threshold of GRID."""

    def __init__(self) -> None:
        self.pred = np.zeros(len(GRID), np.int64)
        self.pred_hit = np.zeros(len(GRID), np.int64)
        self.true_hit = np.zeros(len(GRID), np.int64)
        self.true = 0

    def add(self, resp: np.ndarray, truth: np.ndarray) -> None:
        tl = truth == 1
        near = ndimage.binary_dilation(tl, DISC)
        local_max = ndimage.maximum_filter(resp, footprint=DISC, mode="constant", cval=-np.inf)
        self.pred += ge_counts(resp.ravel())
        self.pred_hit += ge_counts(resp[near])
        self.true_hit += ge_counts(local_max[tl])
        self.true += int(tl.sum())

    def f1(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            p = self.pred_hit / self.pred
            r = self.true_hit / self.true
            f = 2 * p * r / (p + r)
        return np.nan_to_num(f, nan=0.0)

    def best(self) -> tuple[int, float]:
        f = self.f1()
        k = int(np.argmax(f))  # first (lowest) threshold among equals
        return k, float(f[k])


def sweep(its: list[dict], cfg: tuple) -> Sweep:
    s = Sweep()
    for it in its:
        s.add(ridge_response(load_rgb(it["image"]), cfg), load_classes(it["classes"]))
    return s


def tuning_subset(train: list[dict]) -> list[dict]:
    """Session 0 of every fourth training seed (deterministic)."""
    return [it for it in train if it["session"] == 0 and it["seed"] % 4 == 0]


def fine_line_scores(c: Counts) -> dict:
    s = c.scores()
    return {k: s[k] for k in ("fine_line_f1_2px", "fine_line_precision_2px", "fine_line_recall_2px",
                              "fine_line_iou", "images")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", help="real-photo folder (default ../shared/realdata)")
    ap.add_argument("--overlays", type=Path, help="write wrinkle overlay PNGs here (outside the repository)")
    ap.add_argument("--overlays-per-set", type=int, default=1)
    ap.add_argument("--write-manifest", action="store_true",
                    help="also store the scores as scores.baseline_hessian in models/skinseg-v1.json")
    a = ap.parse_args()
    t_start = time.time()
    index = load_index()
    train, held = items(index, "train"), items(index, "heldout")

    # 1. configuration on a training subset
    sub = tuning_subset(train)
    tried = []
    for cfg in CONFIGS:
        k, f = sweep(sub, cfg).best()
        tried.append({"filter": cfg[0], "channel": cfg[1], "sigmas": list(cfg[2]),
                      "threshold": json_float(GRID[k], 6), "f1_2px": json_float(f)})
        print(f"  {cfg}: best F1 {f:.4f} at {GRID[k]:.4g}", file=sys.stderr)
    best_i = int(np.argmax([t["f1_2px"] for t in tried]))
    cfg = CONFIGS[best_i]
    # 2. threshold on all training images
    k, train_f1 = sweep(train, cfg).best()
    thr = float(GRID[k])
    print(f"chosen {cfg}, threshold {thr:.4g} (train F1 {train_f1:.4f})", file=sys.stderr)

    # held-out synthetic, scored with evaluate.py's Counts
    total = Counts()
    groups = {g: Counts() for g in ("light", "medium", "dark")}
    check = Sweep()
    for it in held:
        resp = ridge_response(load_rgb(it["image"]), cfg)
        truth = load_classes(it["classes"])
        pred = (resp >= thr).astype(np.uint8)
        one = Counts()
        one.add(pred, truth)
        total.merge(one)
        groups[it["tone"]].merge(one)
        check.add(resp, truth)
    got = (check.pred[k], check.pred_hit[k], check.true_hit[k], check.true)
    want = (total.pred_line, total.pred_line_hit, total.true_line_hit, total.true_line)
    if tuple(map(int, got)) != tuple(map(int, want)):
        raise SystemExit(f"threshold sweep disagrees with evaluate.Counts: {got} vs {want}")
    heldout = fine_line_scores(total)
    heldout["by_skin_tone"] = {g: fine_line_scores(c) for g, c in groups.items()}

    model = json.loads(MANIFEST_JSON.read_text())["scores"]["heldout_synthetic"]
    out = {
        "method": f"{cfg[0]} dark ridges on {cfg[1]}, sigmas {list(cfg[2])}, response >= {thr:.4g}",
        "filter": cfg[0],
        "channel": cfg[1],
        "sigmas": list(cfg[2]),
        "threshold": json_float(thr, 6),
        "selection": {
            "rule": "configuration: best pooled F1 (2 px) on session 0 of every fourth training seed; "
                    "threshold: best pooled F1 on all training images; thresholds on a log grid "
                    "1e-4..1e2 (601 steps)",
            "tuning_images": len(sub),
            "train_images": len(train),
            "tried": tried,
            "train_f1_2px": json_float(train_f1),
        },
        "heldout_synthetic": heldout,
        "model_heldout_synthetic": {
            "fine_line_f1_2px": model["fine_line_f1_2px"],
            "by_skin_tone": {g: v["fine_line_f1_2px"] for g, v in model.get("by_skin_tone", {}).items()},
        },
    }

    root = realdata_dir(a.realdata)
    if root is not None:
        manifest = json.loads(MANIFEST_JSON.read_text())

        def classify(rgb: np.ndarray) -> np.ndarray:
            h, w = rgb.shape[:2]
            resp = ridge_response(to_working(rgb, manifest), cfg)
            return (resize_separable(resp[None], w, h, bilinear_taps)[0] >= thr).astype(np.uint8)

        ov = Overlays(a.overlays, a.overlays_per_set, prefix="hessian_")
        out["wrinkles_javad71"] = score_wrinkles(root, classify, ov)
    print(json.dumps(out, indent=1))
    if a.write_manifest:
        keep = {k: v for k, v in out.items() if k not in ("filter", "channel", "sigmas")}
        keep["selection"] = {k: v for k, v in out["selection"].items() if k != "tried"}
        write_manifest_scores(MANIFEST_JSON, "baseline_hessian",
                              {"script": "training/baseline_hessian.py", **manifest_summary(keep)})
    print(f"baseline_hessian: {time.time() - t_start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
