"""Export the trained SkinSeg checkpoint to ONNX and write its manifest and reference IO.

Writes into models/:
- skinseg-v1.onnx: BatchNorm folded, opset 17, input `input` [1,3,H,W], output `logits`
  [1,3,H,W] with H, W dynamic; only Conv / ConvTranspose / Relu / Add ops
- skinseg-v1.ref-input.png: a 64x64 RGB crop of a held-out image
- skinseg-v1.ref-logits.f32: onnxruntime's logits for it, little-endian float32, NCHW
- skinseg-v1.json: the manifest (sha256 of the ONNX file, IO contract, tiling, scale, training
  summary, held-out scores, onnxruntime speed)
- skinseg-v1.train.log: the training log of the shipped model
Checks onnxruntime against PyTorch (max |diff| <= 1e-4) before writing anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (CLASSES, LONGEST_SIDE, MEAN, MODELS_DIR, MULTIPLE_OF, OVERLAP, PX_PER_MM, STD,  # noqa: E402
                    TILE, items, load_classes, load_index, load_rgb, normalise)
from evaluate import evaluate, session  # noqa: E402
from model import SkinSeg  # noqa: E402
from train import RUNS_DIR  # noqa: E402

ALLOWED_OPS = {"Conv", "ConvTranspose", "Relu", "Add", "Concat", "MaxPool", "Resize"}
TOLERANCE = 1e-4
REF_SIZE = 64
# Scar hysteresis (output.scar_core_margin): a scar region is kept only where its scar logit
# leads the runner-up class by this much somewhere (training/README.md, "Calibration").
SCAR_CORE_MARGIN = 3.0
# Line bridging (output.line_bridge_margin): weak fine-line ridges trailing by at most this much
# join separate line pieces, so that fading lines are not counted as more lines
# (training/README.md, "Calibration").
LINE_BRIDGE_MARGIN = 5.0
RETRAIN_COMMAND = "bash training/retrain.sh"


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    dummy = torch.zeros(1, 3, TILE, TILE)
    torch.onnx.export(model, dummy, str(path), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {2: "height", 3: "width"}, "logits": {2: "height", 3: "width"}},
                      opset_version=17, do_constant_folding=True)
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    ops = {n.op_type for n in m.graph.node}
    if not ops <= ALLOWED_OPS:
        raise SystemExit(f"unexpected ONNX ops {sorted(ops - ALLOWED_OPS)}")


def check_against_torch(model: torch.nn.Module, sess, shapes) -> float:
    rng = np.random.default_rng(0)
    worst = 0.0
    for h, w in shapes:
        x = rng.standard_normal((1, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = sess.run(None, {"input": x})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    if worst > TOLERANCE:
        raise SystemExit(f"onnxruntime differs from PyTorch by {worst:.2e} > {TOLERANCE}")
    return worst


def pick_reference_crop(its: list[dict]) -> tuple[np.ndarray, dict]:
    """64x64 crop of the first held-out image that best shows both fine lines and scar."""
    best = None
    for it in its:
        c = load_classes(it["classes"])
        h, w = c.shape
        for y in range(0, h - REF_SIZE + 1, 16):
            for x in range(0, w - REF_SIZE + 1, 16):
                win = c[y : y + REF_SIZE, x : x + REF_SIZE]
                nl = int((win == 1).sum())
                ns = int((win == 2).sum())
                score = min(nl, 300) + min(ns, 600) + (1000 if nl and ns else 0)
                if best is None or score > best[0]:
                    best = (score, it, y, x)
        if best is not None and best[0] >= 1000:
            break
    _, it, y, x = best
    rgb = load_rgb(it["image"])[y : y + REF_SIZE, x : x + REF_SIZE]
    return np.ascontiguousarray(rgb), {"seed": it["seed"], "y": y, "x": x}


def speed_ms_per_mp(sess, tiles: int = 40) -> float:
    """onnxruntime time per megapixel on 256x256 tiles (threads as configured in sess)."""
    x = np.random.default_rng(1).standard_normal((1, 3, TILE, TILE)).astype(np.float32)
    for _ in range(5):
        sess.run(None, {"input": x})
    times = []
    for _ in range(tiles):
        t = time.perf_counter()
        sess.run(None, {"input": x})
        times.append(time.perf_counter() - t)
    # median: the CPU is shared, so the mean is dominated by other processes
    return float(np.median(times)) * 1000 / (TILE * TILE / 1e6)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=str(RUNS_DIR / "skinseg-v1.pt"))
    ap.add_argument("--out-dir", default=str(MODELS_DIR))
    ap.add_argument("--stem", default="skinseg-v1")
    # The shipped model's version, so that retrain.sh remakes its manifest as shipped; a
    # retrain meant to replace it passes the next one.
    ap.add_argument("--version", default="2.1.0")
    a = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    ck = torch.load(a.ckpt, map_location="cpu", weights_only=True)
    meta = ck["meta"]
    model = SkinSeg()
    model.load_state_dict(ck["state_dict"])
    model.eval()
    probe = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(probe)
        model.fuse()
        fuse_diff = float((model(probe) - before).abs().max())
    print(f"BatchNorm folded (max |diff| {fuse_diff:.2e})")

    onnx_path = out / f"{a.stem}.onnx"
    export_onnx(model, onnx_path)
    sess = session(onnx_path, threads=2)
    diff = check_against_torch(model, sess, [(TILE, TILE), (64, 64), (512, 384)])
    print(f"onnxruntime vs PyTorch max |diff| {diff:.2e} (<= {TOLERANCE})")

    index = load_index()
    held = items(index, "heldout")
    crop, where = pick_reference_crop(held)
    ref_png = out / f"{a.stem}.ref-input.png"
    Image.fromarray(crop, "RGB").save(ref_png)
    x = normalise(load_rgb(ref_png))  # from the PNG's own uint8 values, as the Rust test will
    logits = sess.run(None, {"input": x})[0]
    assert logits.shape == (1, len(CLASSES), REF_SIZE, REF_SIZE)
    ref_f32 = out / f"{a.stem}.ref-logits.f32"
    logits.astype("<f4").tofile(ref_f32)
    with torch.no_grad():
        tdiff = float(np.abs(model(torch.from_numpy(x)).numpy() - logits).max())
    if tdiff > TOLERANCE:
        raise SystemExit(f"reference logits differ from PyTorch by {tdiff:.2e}")
    print(f"reference crop {where}; PyTorch vs onnxruntime {tdiff:.2e}")

    print("scoring held-out images ...", flush=True)
    scores = evaluate(onnx_path, "heldout", threads=2)
    ms = speed_ms_per_mp(sess)
    print(f"onnxruntime {ms:.0f} ms/MP (256x256 tiles, 2 threads)")

    size = onnx_path.stat().st_size
    manifest = {
        "name": "skinseg",
        "version": a.version,
        "file": onnx_path.name,
        "sha256": sha256(onnx_path),
        "bytes": size,
        "input": {"name": "input", "layout": "NCHW", "color": "RGB", "value_range": [0, 1],
                  "mean": MEAN, "std": STD, "dtype": "float32"},
        # scar hysteresis and line bridging are decision settings chosen by hand (README
        # "Calibration"): written here so that a retrain keeps them; calibrate.py scores with them
        "output": {"name": "logits", "kind": "logits", "classes": CLASSES, "dtype": "float32",
                   "scar_core_margin": SCAR_CORE_MARGIN, "line_bridge_margin": LINE_BRIDGE_MARGIN},
        "tile": {"size": TILE, "overlap": OVERLAP, "multiple_of": MULTIPLE_OF},
        "working_scale": {"px_per_mm": PX_PER_MM, "longest_side": LONGEST_SIDE},
        "training": {
            "generator": index["generator"],
            "command": RETRAIN_COMMAND,
            "generator_command": index["command"],
            "seeds": index["seeds"],
            "train_seeds": index["train_seeds"],
            "held_out": f"seeds {index['heldout_seeds']}",
            "image_size": index["size"],
            "clinical_share": index.get("clinical_share", 0.0),
            "synthetic_variety": "plain: skin, fine lines, round atrophic scars; clinical "
                                 "(skintrack synth --clinical): also forked lines, ice-pick, "
                                 "boxcar, rolling and raised scars, stretch marks, and "
                                 "look-alikes labelled background (freckles, pigment spots, "
                                 "acne papules and red marks, hairs, shine)",
            "seed": meta["seed"],
            "epochs": meta["epochs"],
            "steps": meta["steps"],
            "batch": meta["batch"],
            "crop": TILE,
            "minutes": meta["minutes"],
            "threads": meta["threads"],
            "torch": meta["torch"],
            "loss": "class-weighted cross-entropy (weak-label pixels ignored) + soft Dice (fine_line, scar)"
                    + (f" + {meta['consistency']:g} x second-capture consistency (mean squared difference of the "
                       "class probabilities of a crop and of a second capture of it)"
                       if meta.get("consistency") else "")
                    + (f" + {meta['distill']:g} x distillation on the synthetic crops (KL divergence from the "
                       f"teacher {meta['teacher']}'s background / fine_line / scar distribution, "
                       f"temperature {meta['distill_temp']:g})"
                       if meta.get("distill") else ""),
            "class_weights": meta["class_weights"],
            "augmentation": "random 256x256 crops with 0.85-1.2 scale jitter, flips, 90-degree "
                            "rotations, brightness/contrast/colour/gamma jitter, Gaussian blur, noise"
                            + (f"; second captures of {meta['second_views']} crops per batch: same light, "
                               f"own blur, noise and JPEG quality 70-95 (p {meta['jpeg_p']:g})"
                               if meta.get("consistency") else ""),
            "real_photos": {
                "set": f"../shared/realdata/{meta['real_set']}" if meta.get("real_set") else None,
                "photos": meta.get("real_photos", 0),
                "crop_share": meta.get("real_frac", 0.0),
                "composite_share": meta.get("composite_frac", 0.0),
                **({"backdrop_share": meta["backdrop_frac"]} if meta.get("backdrop_frac") else {}),
                "crops_seen": meta.get("real_crops", 0),
                "labels": "weak skin / non_skin labels from a per-photo colour model of the face "
                          "(training/realskin.py; unsure pixels ignored); acne lesions, pores and "
                          "red marks are background; synthetic fine lines and atrophic scars "
                          "(boxcar, rolling, ice-pick) drawn onto the skin with exact labels"
                          + ("" if meta.get("scar_smoothing", True) else
                             "; composited scars keep the skin's texture (no smoothing)")
                          + ("; in backdrop_share of the real crops part of the frame is replaced by a "
                             "surface labelled non_skin: a strongly defocused scene, a pale (or any-colour) "
                             "flat field or a striped fabric (realskin.paste_backdrop)"
                             if meta.get("backdrop_frac") else ""),
            },
        },
        "scores": {"heldout_synthetic": scores},
        "speed": {"onnxruntime_ms_per_mp": round(ms, 1), "tile": TILE, "threads": 2,
                  "onnxruntime": __import__("onnxruntime").__version__},
        "reference": {"input_png": ref_png.name, "output_f32le": ref_f32.name,
                      "shape": [1, 3, REF_SIZE, REF_SIZE], "tolerance": TOLERANCE,
                      "source": {"seed": where["seed"], "x": where["x"], "y": where["y"]}},
    }
    man_path = out / f"{a.stem}.json"
    with open(man_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    log = Path(a.ckpt).with_suffix(".log")  # train.py writes its log beside the checkpoint
    if log.exists():
        shutil.copyfile(log, out / f"{a.stem}.train.log")
    print(f"wrote {man_path} ({size / 1e6:.2f} MB model)")
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
