"""Run one benchmark case in its own Python process, so ``peak_mb`` is that case's alone.

A script calls itself with ``--worker ARGS``; the worker runs its experiment through
:mod:`lmrec.experiment`, writes the records and per-user scores itself
(:func:`lmrec.experiment.save_result`) and prints them as one ``RECORDS [json]`` line
(:func:`emit`) for the parent to summarise (:func:`run_worker`). At the end the parent
re-renders BENCHMARKS.md (:func:`render`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PER_USER = RESULTS / "per_user"
PREFIX = "RECORDS "
#: Seeds per seeded model unless ``--seeds`` says otherwise.
DEFAULT_SEEDS = 3
#: torch threads per fit unless ``--threads`` says otherwise: the machines have 2 cores.
DEFAULT_THREADS = 2


def seeds_arg(text: str) -> int:
    """``--seeds`` as argparse type: a whole number >= 1 (lmrec.experiment.check_seeds)."""
    from lmrec.errors import ConfigError
    from lmrec.experiment import check_seeds

    try:
        return check_seeds(int(text))
    except (ValueError, ConfigError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """``--threads``: torch threads per fit (1 lets two benchmark runs share the 2 cores)."""
    parser.add_argument("--threads", type=threads_arg, default=DEFAULT_THREADS)


def threads_arg(text: str) -> int:
    """``--threads`` as argparse type: a whole number >= 1."""
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise argparse.ArgumentTypeError(f"--threads must be a whole number >= 1, got {text!r}")
    return threads


def threads_args(threads: int) -> list[str]:
    """``--threads N`` for a record's command when N is not the default: float sums may
    differ in their last bits with the thread count, so it is part of what re-creates
    the record."""
    return ["--threads", str(threads)] if threads != DEFAULT_THREADS else []


def command(script: str, *args: str) -> str:
    """The command line that re-creates one record: ``python benchmarks/SCRIPT ARGS``, each
    argument quoted for a POSIX shell where it needs it."""
    return shlex.join(["python", f"benchmarks/{Path(script).name}", *args])


def emit(records: list[dict]) -> None:
    """Worker side: print the records written, for the parent."""
    print(PREFIX + json.dumps(records), flush=True)


def run_worker(script: str | Path, worker_args: list[str]) -> list[dict] | None:
    """Parent side: run ``script --worker ARGS`` in a fresh process; its records, or None.

    A failed case prints the end of its stderr and returns None; the other cases go on.
    """
    cmd = [sys.executable, str(script), "--worker", *worker_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(PREFIX)]
    if proc.returncode != 0 or not lines:
        print(f"{' '.join(worker_args)} failed\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][len(PREFIX) :])


def run_cases(
    script: str | Path,
    cases: Iterable[Sequence[str]],
    extra: Sequence[str] = (),
    metrics: tuple[str, ...] = ("ndcg@10", "recall@10"),
    also: Callable[[dict], str] | None = None,
) -> None:
    """Parent side: each case in its own worker (``script --worker CASE EXTRA``), one line
    per record as it lands (the case, the record's model and protocol, seconds since the
    case began, ``metrics``, then ``also``), then BENCHMARKS.md re-rendered."""
    for case in cases:
        start = time.perf_counter()
        for record in run_worker(script, [*case, *extra]) or []:
            print(
                " ".join(f"{part:>12}" for part in case)
                + f" {record['model']:>28} {record.get('protocol', ''):>14}"
                + f" {time.perf_counter() - start:7.1f}s {summary(record, metrics)}"
                + (f" {also(record)}" if also else ""),
                flush=True,
            )
    render()


def summary(record: dict, columns: tuple[str, ...] = ("ndcg@10", "recall@10")) -> str:
    """``ndcg@10=0.0723±0.0011`` for the given metrics of a record."""
    parts = []
    for name in columns:
        if name not in record["metrics"]:
            continue
        half = (record.get("metrics_ci95") or {}).get(name)
        pm = "" if half is None else f"±{half:.4f}"
        parts.append(f"{name}={record['metrics'][name]:.4f}{pm}")
    return " ".join(parts)


def render() -> None:
    """Re-render BENCHMARKS.md from every results file."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "render.py")], check=True)
