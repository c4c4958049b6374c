#!/usr/bin/env bash
# Hugging Face Spaces smoke test: what a Space does with this repository, offline.
# A fresh virtual environment with ONLY requirements.txt (no dev packages, no editable install), the repository
# copied without .git, `python app.py` started with HF_HUB_OFFLINE=1, then one Map through gradio_client.
# Usage: bash scripts/space_smoke.sh   (SPACE_VENV=DIR reuses an existing Space venv; PORT=N to change the port)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d -t nam-space-XXXXXX)
venv=${SPACE_VENV:-$work/venv}
port=${PORT:-7899}
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null || true
  rm -rf "$work/app"
  [ -z "${SPACE_VENV:-}" ] && rm -rf "$work"
  return 0
}
trap cleanup EXIT
mkdir -p "$work/app"
tar -C "$repo" -c --exclude=./.git --exclude=./.venv --exclude=./runs --exclude=__pycache__ --exclude=./.pytest_cache . \
  | tar -x -C "$work/app"
if [ ! -x "$venv/bin/python" ]; then
  echo "[space] creating a venv with requirements.txt only" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r "$work/app/requirements.txt"
fi
cd "$work/app"
# no dev packages and no nam_core install: the Space imports nam_core from the repository folder itself
if "$venv/bin/python" -c "import pytest" 2>/dev/null; then echo "[space] venv has dev packages" >&2; exit 1; fi
HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False "$venv/bin/python" app.py --port "$port" > "$work/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 180); do
  if grep -q "Running on local URL" "$work/app.log"; then break; fi
  if ! kill -0 "$app_pid" 2>/dev/null; then cat "$work/app.log" >&2; echo "[space] app exited" >&2; exit 1; fi
  sleep 1
done
grep -q "Running on local URL" "$work/app.log" || { cat "$work/app.log" >&2; echo "[space] app did not start" >&2; exit 1; }
PORT=$port "$venv/bin/python" - <<'PY'
import os
import time

import numpy as np
from PIL import Image
from gradio_client import Client, handle_file

c = Client(f"http://127.0.0.1:{os.environ['PORT']}", verbose=False, download_files=True)
t0 = time.perf_counter()
out = c.predict(task="mnist2street", method="vae-nam", generator="dcgan", sketch=None,
                upload=handle_file("nam_core/serving/examples/mnist2street_1.png"), k=3, seed=1, api_name="/map")
ms = (time.perf_counter() - t0) * 1000
tiles = [np.asarray(Image.open(t["image"])) for t in out[0]]
assert len(tiles) == 3, f"expected 3 solutions, got {len(tiles)}"
assert all(t.ndim == 3 and t.shape[2] == 3 and t.std() > 5 for t in tiles), "blank or gray tiles"
print(f"[space] offline Map OK: {len(tiles)} solutions {tiles[0].shape}, {ms:.0f} ms round trip")
PY
