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
echo "retrain.sh: done in $(( ($(date +%s) - start) / 60 )) min"
