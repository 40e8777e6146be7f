#!/usr/bin/env bash
# Segmentation throughput, tract (skintrack's own segment stage) against onnxruntime on the
# same ONNX file, tiling and image size, with 1 and 2 threads; and the peak memory of
# segmenting a 24-megapixel photo at full working resolution. See README.md beside this file.
# Usage: bash bench/segment/run.sh [PROFILE]    PROFILE: dev (default) or release
# Env: PYTHON (with numpy + onnxruntime; default python3), MODEL (default models/skinseg-v1.onnx),
#      SIZE (working-resolution image, default 1600x1200), REPS (timed runs, default 5),
#      ROUNDS (alternations of the four runs, default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${1:-dev}
py=${PYTHON:-python3}
model=${MODEL:-models/skinseg-v1.onnx}
size=${SIZE:-1600x1200}
reps=${REPS:-5}
rounds=${ROUNDS:-2}
target=${CARGO_TARGET_DIR:-target}
if [ "$profile" = release ]; then
  cargo build --locked --release --quiet --example segbench; bin=$target/release/examples/segbench
else
  cargo build --locked --quiet --example segbench; bin=$target/debug/examples/segbench
fi
"$py" -c 'import numpy, onnxruntime' || { echo "needs numpy and onnxruntime in $py" >&2; exit 1; }

echo "== segmentation bench: $model, ${size} at working resolution, $profile build, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
# The four runs alternate so that a change in machine load hits them alike.
for round in $(seq "$rounds"); do
  for threads in 1 2; do
    "$bin" --model "$model" --threads "$threads" --size "$size" --reps "$reps"
    "$py" bench/segment/ort_bench.py --model "$model" --threads "$threads" --size "$size" --reps "$reps"
  done
done

if command -v /usr/bin/time >/dev/null; then
  /usr/bin/time -v "$bin" --model "$model" --threads 2 --size 6000x4000 --reps 1 2> /tmp/segbench-time.$$ >/dev/null
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' /tmp/segbench-time.$$)
  rm -f /tmp/segbench-time.$$
  echo "{\"runtime\":\"tract\",\"peak_rss_mib_24mp\":$rss,\"width\":6000,\"height\":4000,\"threads\":2}"
else
  echo "no /usr/bin/time (Debian package 'time'): peak memory not measured" >&2
fi
