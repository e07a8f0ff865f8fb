#!/usr/bin/env python3
"""Executes notebooks headless with nbclient, in order, each in a fresh kernel whose working
directory is the notebook's folder. Any cell error or a cell that runs past --timeout fails the
notebook; the executed copy (with outputs, and the traceback if it failed) is written to --out,
never over the notebook in the repository. Exit status 1 if any notebook failed.

    python notebooks/run_notebooks.py --out target/notebooks-out notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: every *.ipynb beside this script)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the executed copies")
    ap.add_argument("--timeout", type=int, default=600, help="seconds a single cell may run (default 600)")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3: this interpreter's ipykernel)")
    args = ap.parse_args()

    notebooks = args.notebooks or sorted(Path(__file__).resolve().parent.glob("*.ipynb"))
    if not notebooks:
        print("no notebooks to run", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    passed, failed = [], []
    total = time.monotonic()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            timeout=args.timeout,
            kernel_name=args.kernel,
            allow_errors=False,
            resources={"metadata": {"path": str(path.resolve().parent)}},
        )
        start = time.monotonic()
        error = None
        try:
            client.execute()
        except CellTimeoutError as e:
            error = f"a cell ran longer than {args.timeout} s: {e}"
        except (CellExecutionError, DeadKernelError) as e:
            error = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # no terminal colours in logs
        finally:
            out = args.out / path.name
            nbformat.write(nb, out)
        took = time.monotonic() - start
        if error is None:
            passed.append(path.name)
            print(f"ok      {path.name} ({took:.1f} s) -> {out}", flush=True)
        else:
            failed.append(path.name)
            print(f"FAILED  {path.name} ({took:.1f} s) -> {out}\n{error}", flush=True)
    print(f"notebooks: {time.monotonic() - total:.1f} s in all")
    print(f"notebooks: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
