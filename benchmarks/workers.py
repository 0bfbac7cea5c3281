"""Run one benchmark case in its own Python process, so ``peak_mb`` is that case's alone.

A script calls itself with ``--worker ARGS``; the worker prints its record as one
``RECORD {json}`` line (:func:`emit`), and the parent appends it to a results file
(:func:`run_worker`) and, at the end, re-renders BENCHMARKS.md (:func:`render`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "RECORD "


def emit(record: dict, command: str) -> None:
    """Worker side: print ``record`` (with the command that reproduces it) for the parent."""
    record["command"] = command
    print(PREFIX + json.dumps(record), flush=True)


def run_worker(script: str | Path, worker_args: list[str], results: Path) -> dict | None:
    """Parent side: run ``script --worker ARGS``, append its record to ``results``.

    A failed case prints the end of its stderr and returns None; the other cases go on.
    """
    from lmrec.evaluate.report import write_records

    cmd = [sys.executable, str(script), "--worker", *worker_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(PREFIX)]
    if proc.returncode != 0 or not lines:
        print(f"{' '.join(worker_args)} failed\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    record = json.loads(lines[-1][len(PREFIX) :])
    write_records(results, [record])
    return record


def render() -> None:
    """Re-render BENCHMARKS.md from every results file."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "render.py")], check=True)
