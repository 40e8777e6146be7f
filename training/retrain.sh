#!/usr/bin/env bash
# Regenerate the synthetic data, retrain, export and score skinseg-v1 (2-core CPU, < 1 hour).
# Usage: bash training/retrain.sh [--skintrack PATH/TO/skintrack]
# Python: $PYTHON if set, else the venv at training/.venv, else `python3`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif [[ -x training/.venv/bin/python ]]; then PY=training/.venv/bin/python
else PY=python3; fi
start=$(date +%s)
"$PY" training/make_data.py "$@"
"$PY" training/train.py
"$PY" training/export.py
"$PY" training/calibrate.py
# export.py wrote a fresh manifest: add the real-photo scores and the classical baseline again.
"$PY" training/eval_real.py --write-manifest >/dev/null
"$PY" training/baseline_hessian.py --write-manifest >/dev/null
echo "retrain.sh: done in $(( ($(date +%s) - start) / 60 )) min"
