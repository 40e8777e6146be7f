"""onnxruntime side of the segmentation bench: the same ONNX file, tiling and image size as
skintrack's segment stage (examples/segbench.rs), with a given number of threads.

Times (median and best of the runs, after one warm-up) the whole tiled segmentation of a
WIDTHxHEIGHT image at working resolution: normalise, cut tiles of the manifest's size with its
overlap (origins as skintrack's `tile_origins`), run the network per tile, blend the logits
with skintrack's tapered weights, add `class_bias`, argmax. Also the network alone
(sum of the per-tile `run` calls). Prints one JSON line, ms per megapixel of working
resolution.

Usage: python bench/segment/ort_bench.py [--model PATH] [--threads N] [--size WxH] [--reps N]
Needs numpy and onnxruntime (a dev tool, never a skintrack dependency).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPO = Path(__file__).resolve().parents[2]


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    origins = []
    o = 0
    while o + tile < length:
        origins.append(o)
        o += step
    origins.append(length - tile)
    return origins


def taper(tile: int, overlap: int) -> np.ndarray:
    i = np.arange(tile)
    edge = np.minimum(i, tile - 1 - i).astype(np.float32)
    return np.minimum((edge + 0.5) / max(overlap, 1), 1.0).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "models" / "skinseg-v1.onnx"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    manifest = json.loads(Path(a.model).with_suffix(".json").read_text())
    tile, overlap = manifest["tile"]["size"], manifest["tile"]["overlap"]
    mean = np.asarray(manifest["input"]["mean"], np.float32)[:, None, None]
    std = np.asarray(manifest["input"]["std"], np.float32)[:, None, None]
    classes = len(manifest["output"]["classes"])
    bias = np.asarray(manifest["output"].get("class_bias") or [0.0] * classes, np.float32)

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    name = manifest["input"]["name"]

    rgb = np.random.default_rng(0).integers(120, 230, (h, w, 3), dtype=np.uint8)
    wt = taper(tile, overlap)
    weight = wt[:, None] * wt[None, :]
    xs, ys = tile_origins(w, tile, overlap), tile_origins(h, tile, overlap)
    tiles = len(xs) * len(ys)

    def segment() -> tuple[np.ndarray, float]:
        net = 0.0
        x = (rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0) - mean) / std
        acc = np.zeros((classes, h, w), np.float32)
        wsum = np.zeros((h, w), np.float32)
        for y0 in ys:
            for x0 in xs:
                t = np.ascontiguousarray(x[None, :, y0:y0 + tile, x0:x0 + tile])
                t0 = time.perf_counter()
                out = sess.run(None, {name: t})[0][0]
                net += time.perf_counter() - t0
                acc[:, y0:y0 + tile, x0:x0 + tile] += out * weight
                wsum[y0:y0 + tile, x0:x0 + tile] += weight
        acc /= wsum
        acc += bias[:, None, None]
        return acc.argmax(0).astype(np.uint8), net

    mp = w * h / 1e6
    full, nets = [], []
    for i in range(a.reps + 1):
        t0 = time.perf_counter()
        _, net = segment()
        dt = time.perf_counter() - t0
        if i > 0:  # the first run is a warm-up
            full.append(dt * 1e3 / mp)
            nets.append(net * 1e3 / mp)
    full.sort()
    nets.sort()
    print(json.dumps({"runtime": "onnxruntime", "version": ort.__version__, "threads": a.threads,
                      "width": w, "height": h, "tile": tile, "overlap": overlap, "tiles": tiles,
                      "runs": len(full), "ms_per_mp_median": round(full[len(full) // 2], 1),
                      "ms_per_mp_best": round(full[0], 1),
                      "net_ms_per_mp_median": round(nets[len(nets) // 2], 1)}))


if __name__ == "__main__":
    main()
