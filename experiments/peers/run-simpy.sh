#!/usr/bin/env bash
# Run the SimPy M/M/c peer in its own virtual environment.
# Usage: bash experiments/peers/run-simpy.sh --lam 1.8 --mu 1.0 --c 2 --customers 200000 --seed 1 --json
# Env: PEER_VENV (default target/peer-venv, relative to the repo root), PYTHON (default python3).
set -euo pipefail

cd "$(dirname "$0")/../.."

venv="${PEER_VENV:-target/peer-venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r experiments/peers/requirements.txt

exec "$venv/bin/python" experiments/peers/simpy_mmc.py "$@"
