#!/usr/bin/env bash
# Batch benchmark (not a test): photos per minute of `skintrack batch` on 3-megapixel photos
# with 1 and 2 worker threads (the scaling ratio), peak memory of each (/usr/bin/time -v), and
# peak memory of a 1000-photo batch (small photos: memory must not grow with the photo count).
# Usage: [SKINTRACK_BIN=BINARY] bash bench/batch/run.sh [PROFILE] [SERIES_3MP] [SERIES_1000]
#   PROFILE: dev (default, what README builds) or release; SERIES_3MP: series of 3 sessions at
#   2000×1500 (default 6 = 18 photos); SERIES_1000: series of 5 sessions at 320×240 (default 200).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${1:-dev}
series3=${2:-6}
series1000=${3:-200}
# SKINTRACK_BIN=path skips the build (e.g. the binary `cargo test` already built).
if [ -n "${SKINTRACK_BIN:-}" ]; then bin=$SKINTRACK_BIN
elif [ "$profile" = release ]; then cargo build --locked --release --quiet; bin=${CARGO_TARGET_DIR:-target}/release/skintrack
else cargo build --locked --quiet; bin=${CARGO_TARGET_DIR:-target}/debug/skintrack; fi
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (Debian package 'time')" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A clinic tree of $2 series × $3 sessions at size $4 (seeded, so every run measures the same).
make_clinic() {
  local root=$1 n=$2 sessions=$3 size=$4 i
  for ((i = 0; i < n; i++)); do
    "$bin" synth --out "$work/tmp" --seed $((1000 + i)) --sessions "$sessions" --size "$size" \
      --px-per-mm 20 >/dev/null
    mkdir -p "$root/p$(printf %03d "$i")/area"
    mv "$work"/tmp/*.jpg "$root/p$(printf %03d "$i")/area/"
    rm -rf "$work/tmp"
  done
}

# "SECONDS PEAK_MIB" of a command, via /usr/bin/time -v.
measure() {
  /usr/bin/time -v "$@" 2> "$work/time.txt" >/dev/null || [ $? -eq 3 ]
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/time.txt")
  echo "$wall $rss"
}

echo "== skintrack batch bench ($profile build, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
make_clinic "$work/clinic3" "$series3" 3 2000x1500
photos=$((series3 * 3))
declare -A rate
for threads in 1 2; do
  rm -rf "$work/out3"
  read -r wall rss < <(measure "$bin" batch "$work/clinic3" --out "$work/out3" --px-per-mm 20 \
    --threads "$threads" --quiet)
  rate[$threads]=$(python3 -c "print(f'{$photos / $wall * 60:.1f}')")
  echo "-- $photos photos of 3 MP (2000×1500), --threads $threads: ${wall} s, ${rate[$threads]} photos/min, peak RSS ${rss} MiB"
done
python3 -c "print(f'-- scaling 1 → 2 threads: {${rate[2]} / ${rate[1]}:.2f}×')"

rm -rf "$work/clinic3" "$work/out3"
make_clinic "$work/clinic1000" "$series1000" 5 320x240
n=$((series1000 * 5))
read -r wall rss < <(measure "$bin" batch "$work/clinic1000" --out "$work/out1000" --quiet)
echo "-- $n photos (320×240, $series1000 series × 5): ${wall} s, $(python3 -c "print(f'{$n / $wall * 60:.0f}')") photos/min, peak RSS ${rss} MiB"
echo "   database $(du -m "$work/out1000/skintrack.db" | cut -f1) MiB"
# The same again: nothing to do.
read -r wall rss < <(measure "$bin" batch "$work/clinic1000" --out "$work/out1000" --quiet)
echo "-- re-run, unchanged: ${wall} s, peak RSS ${rss} MiB"
