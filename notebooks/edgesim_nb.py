"""Shared by the notebooks in this folder: find the repository and the edgesim CLI, run it, and
keep what it writes under target/notebook-data/ (never in the repository's tracked files).

The CLI is, in order: $EDGESIM_BIN (absolute, or relative to the repository root), else
target/release/edgesim under the repository root, else `cargo run --release --` (which builds it
first). notebooks/run-all.sh builds the release binary and sets EDGESIM_BIN.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
from pathlib import Path


def repo_root(start: Path | None = None) -> Path:
    """The edgesim repository that holds this file (or the working directory)."""
    for base in (Path(__file__).resolve().parent, (start or Path.cwd()).resolve()):
        for d in (base, *base.parents):
            if (d / "Cargo.toml").is_file() and (d / "models").is_dir() and (d / "experiments").is_dir():
                return d
    raise RuntimeError("cannot find the edgesim repository (Cargo.toml with models/ and experiments/) above " + str(Path.cwd()))


ROOT = repo_root()


def edgesim_command() -> list[str]:
    """The command that runs the edgesim CLI, as a list of arguments."""
    env = os.environ.get("EDGESIM_BIN")
    if env:
        path = Path(env)
        if not path.is_absolute():
            path = ROOT / path
        if not path.is_file():
            raise FileNotFoundError(f"EDGESIM_BIN={env} does not exist")
        return [str(path)]
    built = ROOT / "target" / "release" / "edgesim"
    if built.is_file() and os.access(built, os.X_OK):
        return [str(built)]
    cargo = shutil.which("cargo")
    if cargo is None:
        raise FileNotFoundError("no edgesim binary (set EDGESIM_BIN or run `cargo build --release`) and no cargo on PATH")
    return [cargo, "run", "--release", "--quiet", "--manifest-path", str(ROOT / "Cargo.toml"), "--"]


def edgesim(*args, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Runs `edgesim ARGS...` in the repository root; raises with its stderr if it fails."""
    cmd = edgesim_command() + [str(a) for a in args]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"`{shlex.join(cmd)}` exited with {r.returncode}:\n{r.stderr}")
    return r


def describe() -> str:
    """Which edgesim the notebook runs."""
    r = edgesim("--version")
    return f"{r.stdout.strip()} ({shlex.join(edgesim_command())})"


def run_json(model: str, sets=(), seed: int | None = None, duration: str | None = None) -> dict:
    """`edgesim run MODEL --format json` with `--set PATH=VALUE` for each of `sets`."""
    args = ["run", model, "--format", "json"]
    for s in sets:
        args += ["--set", s]
    if seed is not None:
        args += ["--seed", seed]
    if duration is not None:
        args += ["--duration", duration]
    return json.loads(edgesim(*args).stdout)


def data_dir(name: str) -> Path:
    """target/notebook-data/NAME under the repository root, created if needed."""
    d = ROOT / "target" / "notebook-data" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


Z_95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float, float]:
    """k/n and its 95 % Wilson score interval (what edgesim's summary.csv uses)."""
    if n == 0:
        return (math.nan, 0.0, 1.0)
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (p, max(0.0, centre - half), min(1.0, centre + half))
