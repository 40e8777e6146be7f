#!/usr/bin/env bash
# Benchmarks (not tests): wall time and peak memory of `compare` on a pair of 12-megapixel
# photos, segmentation throughput in ms per megapixel at the working resolution, and peak
# memory of `analyze` and `compare` on 24-megapixel photos (results: bench/RESULTS.md).
# Usage: bash bench/run.sh [PROFILE]   (PROFILE: dev (default, what README builds) or release)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-dev}
if [ "$profile" = release ]; then cargo build --locked --release --quiet; bin=target/release/skintrack
else cargo build --locked --quiet; bin=target/debug/skintrack; fi
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package 'time')" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

peak() { # wall seconds and peak RSS MiB of a command, via /usr/bin/time -v
  /usr/bin/time -v "$@" 2> "$work/time.txt" >/dev/null
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/time.txt")
  echo "wall $wall, peak RSS ${rss} MiB"
}
stage_times() { python3 -c "import json,sys; t=json.load(open(sys.argv[1]))['timings_ms']; print(', '.join(f'{k} {v/1000:.2f} s' for k,v in t.items()))" "$1"; }

echo "== skintrack bench ($profile build, $(nproc) cores)"
"$bin" synth --out "$work/p12" --seed 11 --sessions 2 --size 4000x3000 --px-per-mm 50 >/dev/null
photos=("$work"/p12/*.jpg)
echo "-- compare, 2 × 12 MP (4000×3000):"
echo "   $(peak "$bin" compare "${photos[0]}" "${photos[1]}" --px-per-mm 50 --out "$work/out12")"
echo "   stages: $(stage_times "$work/out12/report.json")"

# Issue 6: memory of a 24-megapixel photo (target: peak under 1.5 GB).
"$bin" synth --out "$work/p24" --seed 11 --sessions 2 --size 6000x4000 --px-per-mm 50 >/dev/null
photos24=("$work"/p24/*.jpg)
echo "-- analyze, 1 × 24 MP (6000×4000): $(peak "$bin" analyze "${photos24[0]}" --px-per-mm 50 --out "$work/out24a")"
echo "-- compare, 2 × 24 MP: $(peak "$bin" compare "${photos24[0]}" "${photos24[1]}" --px-per-mm 50 --out "$work/out24c")"

"$bin" synth --out "$work/p2" --seed 12 --sessions 1 --size 1600x1200 --px-per-mm 20 >/dev/null
photo=$(ls "$work"/p2/*.jpg)
for threads in 1 2; do
  "$bin" analyze "$photo" --px-per-mm 20 --threads "$threads" --out "$work/out2_$threads" >/dev/null 2>&1
  python3 - "$work/out2_$threads/report.json" "$threads" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mp = 1600 * 1200 / 1e6  # working resolution = photo size at 20 px/mm
print(f"-- segmentation, {sys.argv[2]} thread(s): {r['timings_ms']['segment'] / mp:.0f} ms per megapixel (1600×1200 at the working scale, tiles + blending + argmax)")
PY
done
