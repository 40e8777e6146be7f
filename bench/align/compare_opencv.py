#!/usr/bin/env python3
"""Side-by-side alignment benchmark: skintrack against OpenCV on the same synthetic pairs.

For each size (default 2000x1500 = 3 MP and 4000x3000 = 12 MP) and seed, a two-session series
is generated with `skintrack synth` (truth.json holds the exact later_to_baseline homography).
Then
  * skintrack: `skintrack compare BEFORE AFTER --json`; the estimate is
    sessions[1].alignment.later_to_baseline and the time is timings_ms.align (the align stage
    only, not loading, segmentation or measuring);
  * OpenCV: ORB (5000 features, on CLAHE-equalised gray) + brute-force Hamming matching + cv2.findHomography (RANSAC),
    then cv2.findTransformECC with MOTION_HOMOGRAPHY on an image pyramid, coarse to fine up to
    full resolution; the time covers ORB, matching, RANSAC and ECC (not image loading).
Error = mean and max distance, in baseline pixels, between the estimated and the true mapping
of a 10 x 10 grid over the later photo (as Homography::grid_error in skintrack).

Dev script only: OpenCV is never a skintrack dependency. Usage:
  python bench/align/compare_opencv.py [--skintrack target/debug/skintrack] [--seeds 1 2]
      [--sizes 2000x1500 4000x3000] [--model models/X.onnx] [--work DIR] [--results FILE]
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def grid_error(h_est, h_true, w, h, n=10):
    xs = np.linspace(0.0, w - 1.0, n)
    ys = np.linspace(0.0, h - 1.0, n)
    pts = np.array([[x, y, 1.0] for x in xs for y in ys]).T

    def project(m):
        q = m @ pts
        return q[:2] / q[2]

    d = np.linalg.norm(project(h_est) - project(h_true), axis=0)
    return float(d.mean()), float(d.max())


def opencv_align(base_path, later_path, features=5000, ecc_levels=4, ecc_iters=50):
    """later_to_baseline estimated by ORB + RANSAC + pyramidal ECC, and seconds taken."""
    base = cv2.imread(str(base_path), cv2.IMREAD_GRAYSCALE)
    later = cv2.imread(str(later_path), cv2.IMREAD_GRAYSCALE)
    start = time.perf_counter()
    # Skin is low-contrast (the synthetic series has a grey-level std of ~5): ORB's FAST
    # threshold finds almost nothing on the raw photos, so they are contrast-equalised (CLAHE)
    # first, as one would in practice. ECC runs on the raw photos.
    clahe = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8))
    orb = cv2.ORB_create(nfeatures=features)
    kb, db = orb.detectAndCompute(clahe.apply(base), None)
    kl, dl = orb.detectAndCompute(clahe.apply(later), None)
    if db is None or dl is None:
        return None, time.perf_counter() - start
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    matches = matcher.match(dl, db)
    if len(matches) < 4:
        return None, time.perf_counter() - start
    src = np.float32([kl[m.queryIdx].pt for m in matches]).reshape(-1, 1, 2)
    dst = np.float32([kb[m.trainIdx].pt for m in matches]).reshape(-1, 1, 2)
    h_lb, _ = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
    if h_lb is None:
        return None, time.perf_counter() - start
    # ECC's warp maps template (baseline) coordinates to input (later) coordinates.
    warp = np.linalg.inv(h_lb)
    warp /= warp[2, 2]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, ecc_iters, 1e-6)
    pyramid_b, pyramid_l = [base], [later]
    for _ in range(ecc_levels - 1):
        pyramid_b.append(cv2.pyrDown(pyramid_b[-1]))
        pyramid_l.append(cv2.pyrDown(pyramid_l[-1]))
    for level in reversed(range(ecc_levels)):
        s = 0.5**level
        scale = np.diag([s, s, 1.0])
        w_level = (scale @ warp @ np.linalg.inv(scale)).astype(np.float32)
        try:
            _, w_level = cv2.findTransformECC(
                pyramid_b[level], pyramid_l[level], w_level, cv2.MOTION_HOMOGRAPHY, criteria, None, 5
            )
        except cv2.error:
            pass  # keep the previous estimate at this level
        warp = np.linalg.inv(scale) @ w_level.astype(np.float64) @ scale
    h_est = np.linalg.inv(warp)
    return h_est / h_est[2, 2], time.perf_counter() - start


def skintrack_align(exe, base_path, later_path, out_dir, model):
    cmd = [str(exe), "compare", str(base_path), str(later_path), "--json", "--out", str(out_dir)]
    if model:
        cmd += ["--model", str(model)]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    report = json.loads(run.stdout)
    a = report["sessions"][1]["alignment"]
    return np.array(a["later_to_baseline"], dtype=np.float64), report["timings_ms"]["align"] / 1e3, a


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skintrack", default=str(ROOT / "target" / "debug" / "skintrack"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--sizes", nargs="+", default=["2000x1500", "4000x3000"])
    ap.add_argument("--model", default=None, help="ONNX model for `compare` (default: shipped)")
    ap.add_argument("--work", default=None, help="folder for generated pairs (default: temp)")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="skintrack-align-bench-"))
    rows = []
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        for seed in args.seeds:
            series = work / f"{size}_s{seed}"
            if not (series / "truth.json").exists():
                subprocess.run(
                    [args.skintrack, "synth", "--out", str(series), "--seed", str(seed),
                     "--sessions", "2", "--size", size, "--px-per-mm", "50"],
                    check=True, capture_output=True,
                )
            truth = json.loads((series / "truth.json").read_text())
            base_path = series / truth["sessions"][0]["photo"]
            later_path = series / truth["sessions"][1]["photo"]
            h_true = np.array(truth["sessions"][1]["later_to_baseline"], dtype=np.float64)
            h_st, t_st, info = skintrack_align(args.skintrack, base_path, later_path, series / "out", args.model)
            e_st = grid_error(h_st, h_true, w, h)
            h_cv, t_cv = opencv_align(base_path, later_path)
            e_cv = grid_error(h_cv, h_true, w, h) if h_cv is not None else (float("nan"), float("nan"))
            rows.append((size, seed, "skintrack", *e_st, t_st, info["status"]))
            rows.append((size, seed, "OpenCV ORB+ECC", *e_cv, t_cv, "ok" if h_cv is not None else "failed"))
            print(f"{size} seed {seed}: skintrack {e_st[0]:.3f}/{e_st[1]:.3f} px {t_st:.2f} s; "
                  f"OpenCV {e_cv[0]:.3f}/{e_cv[1]:.3f} px {t_cv:.2f} s", file=sys.stderr)
    lines = ["| size | seed | tool | mean err (px) | max err (px) | align time (s) | status |",
             "|---|---|---|---|---|---|---|"]
    for size, seed, tool, mean, mx, t, status in rows:
        lines.append(f"| {size} | {seed} | {tool} | {mean:.3f} | {mx:.3f} | {t:.2f} | {status} |")
    lines.append("")
    lines.append("| size | tool | mean of mean err (px) | worst max err (px) | mean time (s) |")
    lines.append("|---|---|---|---|---|")
    for size in args.sizes:
        for tool in ("skintrack", "OpenCV ORB+ECC"):
            sel = [r for r in rows if r[0] == size and r[2] == tool]
            lines.append(
                f"| {size} | {tool} | {np.mean([r[3] for r in sel]):.3f} | "
                f"{np.max([r[4] for r in sel]):.3f} | {np.mean([r[5] for r in sel]):.2f} |"
            )
    table = "\n".join(lines)
    print(table)
    header = (
        f"# Alignment: skintrack vs OpenCV\n\n"
        f"Run {datetime.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores "
        f"({platform.processor() or platform.platform()}), OpenCV {cv2.__version__}, "
        f"skintrack binary `{args.skintrack}`; seeds {args.seeds}. "
        f"Produced by `bench/align/compare_opencv.py` (see README.md).\n\n"
    )
    Path(args.results).write_text(header + table + "\n")


if __name__ == "__main__":
    main()
