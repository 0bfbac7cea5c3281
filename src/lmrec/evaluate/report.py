"""Result records, tables and plots: how every lmrec number is written down and shown.

A **record** is one model's metrics on one data set, split and protocol, as a JSON object::

    {"dataset": "ml-100k", "split": "leave-one-out (...)", "protocol": "full-ranking",
     "model": "ease", "metrics": {"ndcg@10": 0.0723, "recall@10": 0.1485, ...},
     "train_seconds": 1.9, "eval_seconds": 0.4, "peak_mb": 512.0,
     "commit": "3659413…", "dirty": false, "date": "2025-01-01T12:00:00+00:00"}

``commit`` is the code that ran: HEAD when the process started, with ``dirty`` true when
tracked files under ``src/`` or ``benchmarks/`` (results aside) differed from it. Records hold
no absolute paths: a path inside the repository is stored relative to its root, any other
absolute path is refused (:func:`relativise`), so a record means the same on every machine.
Experiments over several seeds (:mod:`lmrec.experiment`) add ``seeds``, ``per_seed``,
``metrics_ci95`` and a ``per_user_file`` with per-user scores for paired tests.

The ``protocol`` ("full-ranking", "sampled-100", "rating") sits beside the numbers in every
record, table and chart, so a sampled figure is never read as a full-ranking one. The CLI
(``lmrec compare --records``) and the benchmark scripts write the same format with
:func:`write_records`.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text

from lmrec.errors import ConfigError, DataError

#: Keys every record has, in the order they are written.
RECORD_KEYS: tuple[str, ...] = (
    "dataset",
    "split",
    "protocol",
    "model",
    "metrics",
    "train_seconds",
    "eval_seconds",
    "peak_mb",
    "commit",
    "date",
)
#: Keys :func:`make_record` also writes (old records may lack them).
CODE_KEYS: tuple[str, ...] = ("dirty",)
#: Records with the same values for these keys describe the same experiment.
RECORD_ID: tuple[str, ...] = ("dataset", "split", "protocol", "model")
#: Columns :func:`metrics_table` shows when none are asked for (those present in some row).
DEFAULT_TABLE_METRICS: tuple[str, ...] = (
    "hr@10",
    "recall@10",
    "ndcg@10",
    "mrr@10",
    "coverage@10",
    "rmse",
    "mae",
)
#: Metric families shown by :func:`metrics_by_k_table`, in order.
RANKING_FAMILIES: tuple[str, ...] = (
    "hr",
    "recall",
    "precision",
    "f1",
    "ndcg",
    "mrr",
    "coverage",
    # beyond accuracy (lmrec.evaluate.diversity)
    "ild",
    "category_coverage",
    "novelty",
    "calibration_kl",
    "gini",
    "entropy",
)


def split_label(split_protocol: str, part: str) -> str:
    """The ``split`` field of a record scored on ``part`` of a split.

    Test results (what every benchmark reports) carry the split's protocol as is; validation
    results add ``", valid"``, so they never replace or pass for test results.
    """
    return split_protocol if part == "test" else f"{split_protocol}, {part}"


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit(repo: str | Path | None = None) -> str:
    """Short git hash of ``repo`` (default: the checkout lmrec runs from), or "unknown"."""
    where = Path(repo) if repo is not None else Path(__file__).resolve().parent
    commit = (_git(where, "rev-parse", "--short", "HEAD") or "").strip()
    return commit or "unknown"


def repo_root(repo: str | Path | None = None) -> Path | None:
    """Root of the git checkout lmrec runs from (or of ``repo``); None outside git."""
    where = Path(repo) if repo is not None else Path(__file__).resolve().parent
    top = (_git(where, "rev-parse", "--show-toplevel") or "").strip()
    return Path(top) if top else None


def code_version(repo: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": full HEAD hash, "dirty": bool}`` of the code that is running.

    ``dirty`` is True when tracked files under ``src/`` or ``benchmarks/`` differ from HEAD
    (``git status --porcelain --untracked-files=no``); ``benchmarks/results/`` is left out,
    since benchmarks write there themselves. Outside git: commit "unknown", dirty None.
    """
    where = Path(repo) if repo is not None else Path(__file__).resolve().parent
    commit = (_git(where, "rev-parse", "HEAD") or "").strip()
    if not commit:
        return {"commit": "unknown", "dirty": None}
    status = _git(
        where,
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ":/src",
        ":/benchmarks",
        ":(top,exclude)benchmarks/results",
    )
    return {"commit": commit, "dirty": None if status is None else bool(status.strip())}


@functools.cache
def startup_code_version() -> dict[str, Any]:
    """:func:`code_version` taken once per process, at its first call.

    Benchmarks and the CLI call it when they start, so a file edited while a long run goes on
    does not change what the run's records say they ran.
    """
    return code_version()


def relativise(value: Any, root: str | Path | None = None, where: str = "record") -> Any:
    """``value`` with every absolute path made relative to the repository root.

    Walks dicts, lists and tuples. A string that is an absolute path inside ``root``
    (default: :func:`repo_root`) becomes a relative one; an absolute path outside it raises
    :class:`ConfigError` naming the field, since a record must mean the same on every machine.
    """
    if isinstance(value, Mapping):
        return {k: relativise(v, root, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [relativise(v, root, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str) and _is_absolute_path(value):
        base = Path(root) if root is not None else repo_root()
        path = Path(os.path.normpath(value))
        if base is not None and path.is_relative_to(base.resolve()):
            return path.relative_to(base.resolve()).as_posix() or "."
        if base is not None and path.is_relative_to(base):
            return path.relative_to(base).as_posix() or "."
        raise ConfigError(
            f"{where} = {value!r}: records may not hold absolute paths outside the "
            f"repository ({base}); store a path relative to it or leave it out"
        )
    return value


_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")


def _is_absolute_path(text: str) -> bool:
    """An absolute file path (``/x/y``, ``~/x``, ``C:\\x``), not a sentence with a slash."""
    if "\n" in text or len(text) > 4096:
        return False
    return text.startswith(("/", "~/")) or bool(_WINDOWS_ABSOLUTE.match(text))


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``), in MB; NaN if unknown.

    The peak only grows, so in a loop over models it is the peak up to and including each one.
    """
    try:
        import resource
    except ImportError:  # Windows
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def make_record(
    *,
    dataset: str,
    split: str,
    protocol: str,
    model: str,
    metrics: Mapping[str, float],
    train_seconds: float,
    eval_seconds: float,
    peak_mb: float,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One result in the format every lmrec report and benchmark uses.

    Metric names are lower-cased (``NDCG@10`` → ``ndcg@10``); ``commit``, ``dirty``
    (:func:`startup_code_version`) and ``date`` (ISO 8601, UTC) are filled in here. ``extra``
    adds further keys (say ``command``, ``params``, ``n_users``); it may not overwrite the
    keys above. Absolute paths in ``extra`` are made relative to the repository root or
    refused (:func:`relativise`).
    """
    version = startup_code_version()
    record: dict[str, Any] = {
        "dataset": str(dataset),
        "split": str(split),
        "protocol": str(protocol),
        "model": str(model),
        "metrics": {str(k).lower(): float(v) for k, v in metrics.items()},
        "train_seconds": round(float(train_seconds), 3),
        "eval_seconds": round(float(eval_seconds), 3),
        "peak_mb": round(float(peak_mb), 1),
        "commit": version["commit"],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "dirty": version["dirty"],
    }
    if extra:
        clash = sorted(set(extra) & set(record))
        if clash:
            raise ConfigError(f"extra may not overwrite the record keys {clash}")
        record.update(relativise(dict(extra)))
    return record


def _check_records(records: object, source: str) -> list[dict[str, Any]]:
    if not isinstance(records, list):
        raise DataError(f"{source}: expected a JSON list of records, got {type(records).__name__}")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"{source}: record {i + 1} is not a JSON object")
        missing = [k for k in RECORD_KEYS if k not in record]
        if missing:
            raise DataError(
                f"{source}: record {i + 1} lacks {missing}; build records with make_record()"
            )
    return records


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSON file written by :func:`write_records`."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such records file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a valid JSON records file ({exc})") from None
    return _check_records(raw, str(path))


def write_records(path: str | Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write records to a JSON list, merging with the file if it exists.

    A new record replaces an existing one with the same (dataset, split, protocol, model),
    in place; other existing records are kept and new ones are appended.
    """
    path = Path(path)
    new = _check_records([dict(r) for r in records], "records to write")
    old = read_records(path) if path.exists() else []
    merged = {tuple(r[k] for k in RECORD_ID): r for r in old}
    for record in new:
        merged[tuple(record[k] for k in RECORD_ID)] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(merged.values()), indent=2) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- per-user scores
def per_user_filename(dataset: str, model: str, protocol: str) -> str:
    """``<dataset>__<model>__<protocol>.json`` with anything but ``[A-Za-z0-9._+=-]`` → ``_``."""
    parts = [re.sub(r"[^A-Za-z0-9._+=-]+", "_", str(p)) for p in (dataset, model, protocol)]
    return "__".join(parts) + ".json"


def write_per_user(
    path: str | Path,
    *,
    dataset: str,
    split: str,
    protocol: str,
    model: str,
    user_ids: Sequence[object],
    seeds: Sequence[int],
    scores: Mapping[str, np.ndarray],
) -> Path:
    """Write per-user test scores (seeds × users per metric) as JSON, never pickle.

    What :func:`lmrec.evaluate.stats.paired_test` needs to compare two models again later:
    the user ids (so two files can be aligned) and each seed's per-user values.
    """
    users = [str(u) for u in user_ids]
    body: dict[str, Any] = {
        "dataset": dataset,
        "split": split,
        "protocol": protocol,
        "model": model,
        "seeds": [int(s) for s in seeds],
        "user_ids": users,
        "scores": {},
    }
    for name, values in scores.items():
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (len(seeds), len(users)):
            raise ConfigError(
                f"per-user {name} has shape {arr.shape}, expected seeds × users = "
                f"{(len(seeds), len(users))}"
            )
        # NaN (a value undefined for that row) is written as null, which reads back as NaN
        body["scores"][name] = [
            [None if np.isnan(v) else round(float(v), 6) for v in row] for row in arr
        ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def read_per_user(path: str | Path) -> dict[str, Any]:
    """What :func:`write_per_user` wrote, with ``scores`` as numpy arrays (seeds × users)."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such per-user scores file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a valid per-user scores file ({exc})") from None
    if not isinstance(body, dict) or not {"user_ids", "scores", "seeds"} <= set(body):
        raise DataError(f"{path}: lacks user_ids / scores / seeds; write it with write_per_user")
    body["scores"] = {k: np.asarray(v, dtype=np.float64) for k, v in body["scores"].items()}
    return body


# --------------------------------------------------------------------------- tables
def _fmt(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _distinct(rows: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    return list(dict.fromkeys(str(r.get(key, "")) for r in rows))


def metrics_table(
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> Table:
    """A table with one row per record: model, protocol, the chosen metrics and timings.

    Records over several seeds show ``mean ± half-width`` of the 95% interval.

    ``metrics`` defaults to those of :data:`DEFAULT_TABLE_METRICS` some row has. The data set
    and split go in the title when all rows share them, otherwise in columns. The protocol
    column is always there, so a sampled number never looks like a full-ranking one.
    """
    if metrics is None:
        present = {m for r in rows for m in r.get("metrics", {})}
        metrics = [m for m in DEFAULT_TABLE_METRICS if m in present]
    datasets, splits = _distinct(rows, "dataset"), _distinct(rows, "split")
    if title is None and rows:
        parts = [datasets[0] if len(datasets) == 1 else "", splits[0] if len(splits) == 1 else ""]
        title = " · ".join(p for p in parts if p) or None
    # Text, not str: a model or data set name like "[x]" is not rich markup.
    table = Table(title=Text(title) if title else None, title_justify="left")
    table.add_column("model", style="bold")
    if len(datasets) > 1:
        table.add_column("dataset")
    if len(splits) > 1:
        table.add_column("split")
    table.add_column("protocol")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_column("train s", justify="right")
    table.add_column("eval s", justify="right")
    table.add_column("peak MB", justify="right")
    for r in rows:
        cells = [str(r.get("model", ""))]
        if len(datasets) > 1:
            cells.append(str(r.get("dataset", "")))
        if len(splits) > 1:
            cells.append(str(r.get("split", "")))
        cells.append(str(r.get("protocol", "")))
        ci95 = r.get("metrics_ci95") or {}
        for m in metrics:
            cell = _fmt(r.get("metrics", {}).get(m))
            if ci95.get(m):  # over seeds: mean ± the 95% half-width (0/None: one number)
                cell += f" ± {_fmt(ci95[m])}"
            cells.append(cell)
        cells += [
            _fmt(r.get("train_seconds"), 2),
            _fmt(r.get("eval_seconds"), 2),
            _fmt(r.get("peak_mb"), 0),
        ]
        table.add_row(*map(Text, cells))
    return table


def metrics_by_k_table(record: Mapping[str, Any], title: str | None = None) -> Table:
    """One record's ranking metrics as a grid: a row per metric family, a column per cut-off.

    The title names the model, data set and protocol (the split is too long for a title).
    """
    metrics = record.get("metrics", {})
    ks = sorted(
        {
            int(name.split("@")[1])
            for name in metrics
            if "@" in name and name.split("@")[1].isdigit()
        }
    )
    if title is None:
        title = f"{record.get('model')} on {record.get('dataset')} · {record.get('protocol')}"
    table = Table(title=Text(title), title_justify="left")
    table.add_column("metric", style="bold")
    for k in ks:
        table.add_column(f"@{k}", justify="right")
    for family in RANKING_FAMILIES:
        if any(f"{family}@{k}" in metrics for k in ks):
            table.add_row(family, *[_fmt(metrics.get(f"{family}@{k}")) for k in ks])
    return table


# --------------------------------------------------------------------------- plots
def bar_chart(records: Sequence[Mapping[str, Any]], metric: str, path: str | Path) -> Path:
    """A PNG bar chart of ``metric``: one bar per model, grouped by data set if several.

    Records without the metric (say, rating records in a ranking chart) are left out. The
    title carries the protocol; records that mix protocols raise :class:`ConfigError`, since
    full-ranking and sampled numbers do not share a scale.
    """
    metric = metric.lower()
    rows = [r for r in records if metric in r.get("metrics", {})]
    if not rows:
        raise ConfigError(f"no record has the metric {metric!r}; nothing to plot")
    protocols = _distinct(rows, "protocol")
    if len(protocols) > 1:
        raise ConfigError(f"records mix the protocols {protocols}; plot each protocol separately")
    # A bare Figure on the Agg canvas: no pyplot, so no global backend switch or open windows.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    datasets = _distinct(rows, "dataset")
    models = _distinct(rows, "model")
    value = {(str(r["dataset"]), str(r["model"])): float(r["metrics"][metric]) for r in rows}
    if len(datasets) == 1:  # one group: the models label the x axis
        fig = Figure(figsize=(max(4.0, 1.0 + 0.8 * len(models)), 4.0))
        ax = fig.subplots()
        ys = [value.get((datasets[0], m), math.nan) for m in models]
        bars = ax.bar(range(len(models)), ys, color=[f"C{j}" for j in range(len(models))])
        ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
        ax.set_xticks(range(len(models)), models)
        ax.set_xlabel(datasets[0])
    else:
        width = 0.8 / len(models)
        fig = Figure(figsize=(max(5.0, 1.0 + 0.7 * len(models) * len(datasets)), 4.0))
        ax = fig.subplots()
        for j, model in enumerate(models):
            xs = [i + (j - (len(models) - 1) / 2) * width for i in range(len(datasets))]
            ys = [value.get((d, model), math.nan) for d in datasets]
            bars = ax.bar(xs, ys, width=width * 0.95, label=model)
            ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        ax.set_xticks(range(len(datasets)), datasets)
        ax.legend(fontsize=8, ncols=min(len(models), 4), loc="upper left", bbox_to_anchor=(0, -0.1))
    ax.set_ylabel(metric)
    splits = _distinct(rows, "split")
    subtitle = splits[0] if len(splits) == 1 else "several splits"
    ax.set_title(f"{metric} · protocol: {protocols[0]}\n{subtitle}", fontsize=9)
    ax.margins(y=0.15)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)  # attaches itself to the figure
    fig.savefig(path, format="png", dpi=120)
    return path


def tradeoff_chart(
    curves: Mapping[str, Sequence[Mapping[str, float]]],
    x: str,
    y: str,
    path: str | Path,
    title: str = "",
) -> Path:
    """A PNG accuracy-vs-diversity plot: one line per curve (a re-ranking method), one point
    per knob (``{"knob": …, x: …, y: …}`` rows), each point labelled with its knob."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not any(curves.values()):
        raise ConfigError("no sweep points to plot")
    fig = Figure(figsize=(6.0, 4.2))
    ax = fig.subplots()
    for j, (name, rows) in enumerate(curves.items()):
        xs = [float(r[x]) for r in rows]
        ys = [float(r[y]) for r in rows]
        ax.plot(xs, ys, marker="o", color=f"C{j}", label=name)
        for r, xv, yv in zip(rows, xs, ys, strict=True):
            ax.annotate(
                f"{r['knob']:g}", (xv, yv), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{y} vs {x} (labels: diversity knob)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=120)
    return path


def describe_protocol(protocol: str) -> str:
    """One sentence saying how numbers under ``protocol`` were computed.

    Ranking protocols may end in the repeat mode (``-new-items``, ``-repeats``, see
    :mod:`lmrec.evaluate.ranking`); the sentence then says what the mode did.
    """
    mode = ""
    for suffix in ("-new-items", "-repeats"):
        if protocol.endswith(suffix):
            protocol, mode = protocol.removesuffix(suffix), suffix[1:]
    if mode == "repeats":
        rule = "nothing is excluded: seen items compete and repeat targets are ranked"
    elif mode == "new-items":
        rule = (
            "items in the user's fitting data are excluded; targets the user already had are "
            "left out of the metrics (counted in repeat_targets)"
        )
    else:
        rule = "items in the user's fitting data are excluded, held-out targets stay candidates"
    if protocol == "full-ranking":
        return f"full ranking: every item is scored; {rule}; ties count at their expected rank"
    if protocol.startswith("sampled-"):
        n = protocol.removeprefix("sampled-")
        return (
            f"SAMPLED: each target is ranked against only {n} sampled items ({rule}); "
            "these numbers are not comparable with full-ranking ones"
        )
    if protocol == "rating":
        return "rating prediction: RMSE and MAE of predicted ratings on the rated held-out events"
    return protocol + (f" ({mode}: {rule})" if mode else "")


def interest_chart(interests: Any, path: str | Path, title: str = "p(category | history)") -> Path:
    """A horizontal PNG bar chart of an :class:`~lmrec.models.interests.Interests`' categories."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(interests.categories)[::-1]
    probs = [float(p) for p in interests.category_probs][::-1]
    fig = Figure(figsize=(6.0, 0.9 + 0.35 * len(names)))
    ax = fig.subplots()
    bars = ax.barh(range(len(names)), probs, color="C0")
    ax.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"probability (temperature {interests.temperature:.2f})")
    ax.set_xlim(0, max([*probs, 0.0]) * 1.2 or 1.0)
    ax.set_title(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig).print_png(str(out))
    return out
