#!/usr/bin/env bash
# Runs every notebook in notebooks/ headless on a clean machine: a venv with the pinned packages
# (target/notebook-venv, reused while requirements.txt is unchanged), the release edgesim binary,
# then notebooks/run_notebooks.py, which fails on any cell error and writes the executed copies to
# target/notebooks-out/ (the notebooks in the repository stay without outputs).
#
#   bash notebooks/run-all.sh                  # all notebooks
#   bash notebooks/run-all.sh notebooks/validation.ipynb
#
# Environment: PYTHON (default python3, 3.11 or later), NOTEBOOK_VENV (default
# target/notebook-venv), NOTEBOOK_CELL_TIMEOUT (seconds per cell, default 600), EDGESIM_BIN (skip
# the build and use this binary).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3}
venv=${NOTEBOOK_VENV:-target/notebook-venv}

"$python" -c 'import sys; assert sys.version_info >= (3, 11), f"Python 3.11 or later is needed, this is {sys.version}"'
if [ ! -x "$venv/bin/python" ]; then
  echo "== notebooks: creating $venv"
  "$python" -m venv "$venv"
fi
want=$(sha256sum notebooks/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements-sha256" 2>/dev/null || true)" != "$want" ]; then
  echo "== notebooks: installing notebooks/requirements.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r notebooks/requirements.txt
  echo "$want" > "$venv/.requirements-sha256"
fi

if [ -z "${EDGESIM_BIN:-}" ]; then
  echo "== notebooks: building edgesim (release)"
  cargo build --release --locked --quiet --bin edgesim
  export EDGESIM_BIN="$root/target/release/edgesim"
fi

if [ "$#" -eq 0 ]; then
  set -- notebooks/*.ipynb
fi
echo "== notebooks: running $* with $EDGESIM_BIN"
# Headless plotting; no Jupyter config or kernels from the user's home.
export MPLBACKEND=module://matplotlib_inline.backend_inline
export JUPYTER_PLATFORM_DIRS=1
exec "$venv/bin/python" notebooks/run_notebooks.py --out target/notebooks-out --timeout "${NOTEBOOK_CELL_TIMEOUT:-600}" "$@"
