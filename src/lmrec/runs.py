"""The run directory: a fitted model plus ``run.json``, which says how to rebuild its split.

A run directory holds::

    config.json, model.safetensors, idmap.json, items.json   the model (``model.save``)
    run.json                                                 this module: data, split, seed,
                                                             model, parameters, fit time,
                                                             command, lmrec version, commit
    curves.jsonl, tensorboard/                               per-epoch training curves, for
                                                             models trained epoch by epoch

``lmrec train``, ``pretrain``, ``finetune``, ``demo`` and ``python -m lmrec.train`` write it
with :func:`save_run`; ``lmrec evaluate`` reads it back with :func:`load_run` and
:func:`rebuild_split`, and refuses a model whose ids differ from the rebuilt data
(:func:`check_same_ids`).

Nothing in a run directory is an absolute path, so it can be copied or checked in:

- a data set name is stored as is; a data file (and ``--data`` folder) relative to the
  directory lmrec ran in (``data_relative_to: "cwd"``), and again relative to the run
  directory (``paths_from_run_dir``), which is tried when the first is not found;
- path parameters (``init_from`` of a fine-tune, ``text_model``, ``text_cache_dir``,
  ``checkpoint_dir``) are stored relative to the run directory, in run.json and
  config.json alike, and resolved against it when read back;
- the command's absolute path arguments are written relative to the directory it ran in.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmrec.errors import ConfigError, DataError, ModelFileError
from lmrec.jsonfile import read_json_object

if TYPE_CHECKING:
    from lmrec.data.schema import Dataset
    from lmrec.data.split import Split
    from lmrec.models.base import Recommender

#: File in a run directory that says how to rebuild the data and split a model was fitted on.
RUN_FILE = "run.json"
#: Model parameters that hold paths; stored relative to the run directory.
PATH_PARAMS: tuple[str, ...] = ("init_from", "text_model", "text_cache_dir", "checkpoint_dir")
#: Keys run.json must have.
REQUIRED_KEYS: tuple[str, ...] = ("data", "split", "model", "params", "seed")
#: The file keys of an update record in run.json, each with its run-directory-relative twin.
UPDATE_FILES = (("events_file", "events_file_from_run"), ("items_file", "items_from_run"))
#: How a run's model is fitted (``fit_split(split, "test")``), written into every run.json.
FIT_ON = (
    "model.fit_split(split, 'test'): train+valid, or train with early stopping on valid "
    "then conditioned on train+valid (transformer)"
)


@dataclass(frozen=True)
class RunInfo:
    """What a run was fitted on and how: enough to rebuild its data and split.

    ``data`` is a data set name or a file path usable from the current directory;
    ``params`` are the model's keyword arguments (paths usable from the current directory).
    """

    data: str
    split: str
    seed: int
    model: str
    params: dict[str, Any]
    data_dir: str | None = None
    columns: dict[str, str] | None = None
    sep: str | None = None
    split_protocol: str = ""
    fit_seconds: float = math.nan
    command: str = ""
    #: Incremental updates applied since the fit (``lmrec update``), oldest first: each says
    #: which events file it read and what it added. The data and split above are the fit's.
    updates: list[dict[str, Any]] = field(default_factory=list)
    #: Everything run.json held (also the keys above, as stored), for display.
    recorded: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


# --------------------------------------------------------------------------- data and split
def load_data(
    name_or_path: str,
    data_dir: str | Path | None = None,
    columns: dict[str, str] | None = None,
    sep: str | None = None,
) -> Dataset:
    """A named data set or a table file; ``sep`` forces a field separator for a text file."""
    from lmrec.data.loaders.tabular import load_table
    from lmrec.data.registry import load_dataset

    if sep is None:
        return load_dataset(name_or_path, data_dir=data_dir, columns=columns)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"--sep applies to a table file, and {name_or_path!r} is not a file")
    return load_table(path, columns, sep=sep)


def build_split(
    name_or_path: str,
    data_dir: str | Path | None,
    columns: dict[str, str] | None,
    sep: str | None,
    protocol: str,
    seed: int,
) -> tuple[str, Split]:
    """The data set's name and its split under ``protocol`` (``given`` = the shipped one)."""
    from lmrec.data.registry import load_split
    from lmrec.data.split import split_dataset

    if sep is None:
        split = load_split(name_or_path, protocol, data_dir=data_dir, columns=columns, seed=seed)
        return split.train.name, split
    if protocol == "given":
        raise ConfigError("--split given applies to named data sets with a shipped split (jd)")
    data = load_data(name_or_path, data_dir, columns, sep)
    return data.name, split_dataset(data, protocol, seed=seed)


def rebuild_split(run: RunInfo) -> tuple[str, Split]:
    """The data set name and split a run was fitted on, rebuilt from its run.json."""
    return build_split(run.data, run.data_dir, run.columns, run.sep, run.split, run.seed)


def check_same_ids(model: Recommender, data: Dataset, run_dir: str | Path) -> None:
    """Refuse a model whose users or items differ from the data rebuilt from run.json."""
    if not model.idmap_.same_as(data.idmap):
        if (Path(run_dir) / RUN_FILE).is_file() and read_run(run_dir).updates:
            raise ConfigError(
                f"{run_dir}: this run was updated with new events after its fit (run.json "
                "'updates'), and they may include its split's test events, so it is not scored "
                "on that split; measure updates with benchmarks/update.py's temporal protocol"
            )
        raise ModelFileError(
            f"{run_dir}: the data rebuilt from {RUN_FILE} has other users or items than the "
            "model was fitted on (did the data files change?); train the model again"
        )


def fitted_data(model: Recommender, run: RunInfo, run_dir: str | Path) -> Dataset:
    """The data ``model`` (loaded from ``run_dir``) now holds: the fit's data rebuilt from
    run.json, plus every update's events (and item table), on the model's own id map."""
    import pandas as pd

    from lmrec.data.loaders.tabular import load_table

    _, split = rebuild_split(run)
    base = split.fit_data("test")
    if not run.updates:
        check_same_ids(model, base, run_dir)
        return base
    frames, tables = [base.interactions], [base.items]
    for update in run.updates:
        events, items = update["events_file"], update.get("items_file")
        for key, path in (("events_file", events), ("items_file", items)):
            if path and not Path(path).expanduser().is_file():
                raise DataError(
                    f"{Path(run_dir) / RUN_FILE}: the update's {key} {path!r} is not found from "
                    "here (nor from the run directory); put it back to rebuild the run's data"
                )
        added = load_table(
            events, update.get("columns_map"), sep=update.get("sep"), items_path=items or None
        )
        frames.append(added.interactions)
        tables.append(added.items)
    try:
        return base.on_idmap(
            model.idmap_, pd.concat(frames, ignore_index=True), pd.concat(tables[1:])
        )
    except DataError:
        raise ModelFileError(
            f"{run_dir}: the data and update events rebuilt from {RUN_FILE} have users or items "
            "the model does not know (did a file change?); update the model again"
        ) from None


# --------------------------------------------------------------------------- writing
def save_run(model: Recommender, out: str | Path, run: RunInfo) -> dict[str, Any]:
    """Write ``model`` and ``run.json`` (and training curves, if any) to the directory ``out``.

    Returns what run.json holds. Paths are made portable (see the module docstring); the
    model's own config.json gets the same run-relative path parameters as run.json.
    """
    from lmrec import __version__
    from lmrec.evaluate.report import git_commit

    out = Path(out)
    model.save(out)
    params = _params_from_run_dir(run.params, out)
    _rewrite_config_paths(out, params)
    is_file = Path(run.data).expanduser().is_file()
    from_run = {}
    if is_file:
        from_run["data"] = _relative(run.data, out)
    if run.data_dir is not None:
        from_run["data_dir"] = _relative(run.data_dir, out)
    record: dict[str, Any] = {
        "data": _relative(run.data, Path.cwd()) if is_file else run.data,
        "data_kind": "file" if is_file else "name",
        "data_dir": _relative(run.data_dir, Path.cwd()) if run.data_dir is not None else None,
        "data_relative_to": "cwd" if from_run else None,
        "paths_from_run_dir": from_run or None,
        "columns": run.columns,
        "sep": run.sep,
        "split": run.split,
        "split_protocol": run.split_protocol,
        "seed": run.seed,
        "fit_on": FIT_ON,
        "model": run.model,
        "params": params,
        "fit_seconds": round(run.fit_seconds, 3),
        "command": run.command,
        "updates": [_portable_update(u, out) for u in run.updates] or None,
        "lmrec_version": __version__,
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    history = getattr(model, "history_", None)  # models trained epoch by epoch keep one
    if history is not None and history.epochs:
        from lmrec.train.curves import write_curves

        write_curves(history.epochs, out)
    return record


def save_run_atomically(model: Recommender, out: str | Path, run: RunInfo) -> dict[str, Any]:
    """:func:`save_run` into a temporary sibling of ``out``, then one rename into place.

    ``out`` must not exist or be an empty directory. An interruption before the rename
    leaves no ``out`` at all (and the temporary directory is removed on errors), so a
    reader never finds a half-written run."""
    import shutil

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        record = save_run(model, tmp, run)
        if out.is_dir():
            out.rmdir()  # empty (checked by the caller); a non-empty one raises here
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def _portable_update(update: dict[str, Any], out: Path) -> dict[str, Any]:
    """An update record with its file paths relative to the directory lmrec ran in, and
    its events and items files also relative to the run directory (tried second)."""
    portable = dict(update)
    for key, from_run in UPDATE_FILES:
        value = portable.get(key)
        if isinstance(value, str) and value:
            portable[from_run] = _relative(value, out)
            portable[key] = _relative(value, Path.cwd()) if os.path.isabs(value) else value
    for key in ("run", "from"):
        value = portable.get(key)
        if isinstance(value, str) and os.path.isabs(value):
            portable[key] = _relative(value, Path.cwd())
    return portable


def portable_command(argv: Sequence[str], cwd: str | Path | None = None) -> str:
    """``argv`` as one shell line, absolute path arguments made relative to ``cwd``.

    ``--param key=/abs/path`` becomes ``key=rel/path`` as well. The caller passes its own
    argv (library code never reads ``sys.argv``).
    """
    start = Path(cwd) if cwd is not None else Path.cwd()

    def portable(arg: str) -> str:
        key, eq, value = arg.rpartition("=")
        if eq and os.path.isabs(value):
            return f"{key}={_relative(value, start)}"
        return _relative(arg, start) if os.path.isabs(arg) else arg

    return shlex.join([argv[0], *map(portable, argv[1:])]) if argv else ""


def _relative(path: str | Path, start: Path) -> str:
    """``path`` relative to ``start`` (both resolved); as given if that is impossible."""
    try:
        return os.path.relpath(Path(path).expanduser().resolve(), start.resolve())
    except ValueError:  # Windows: another drive has no relative path
        return str(path)


def _params_from_run_dir(params: dict[str, Any], out: Path) -> dict[str, Any]:
    stored = dict(params)
    for key in PATH_PARAMS:
        value = stored.get(key)
        if isinstance(value, str) and value and Path(value).expanduser().exists():
            stored[key] = _relative(value, out)
    return stored


def _rewrite_config_paths(out: Path, params: dict[str, Any]) -> None:
    """Give config.json the run-relative path parameters run.json has."""
    path = out / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    saved = config.get("params", {})
    changed = {k: params[k] for k in PATH_PARAMS if k in saved and k in params}
    if any(saved[k] != v for k, v in changed.items()):
        config["params"] = {**saved, **changed}
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")


# --------------------------------------------------------------------------- reading
def read_run(run_dir: str | Path) -> RunInfo:
    """A run directory's run.json, with its paths resolved for use from the current directory."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not run_dir.is_dir():
        raise ModelFileError(f"{run_dir}: no such run directory")
    if not path.is_file():
        raise ModelFileError(
            f"{run_dir}: no {RUN_FILE}; point at a directory written by `lmrec train --out`"
        )
    raw = read_json_object(path)
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise ModelFileError(f"{path}: lacks {missing}; train the model again")
    from_run = raw.get("paths_from_run_dir") or {}
    data = str(raw["data"])
    if raw.get("data_kind") == "file":
        data = _existing(path, "data", data, from_run.get("data"), run_dir)
    data_dir = raw.get("data_dir")
    if data_dir is not None:
        data_dir = _existing(path, "data_dir", str(data_dir), from_run.get("data_dir"), run_dir)
    params = dict(raw["params"])
    for key in PATH_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            params[key] = os.path.normpath(run_dir / value)
    return RunInfo(
        data=data,
        split=str(raw["split"]),
        seed=int(raw["seed"]),
        model=str(raw["model"]),
        params=params,
        data_dir=data_dir,
        columns=raw.get("columns"),
        sep=raw.get("sep"),
        split_protocol=str(raw.get("split_protocol", "")),
        fit_seconds=float(raw.get("fit_seconds", math.nan)),
        command=str(raw.get("command", "")),
        updates=[_resolve_update(u, run_dir) for u in raw.get("updates") or []],
        recorded=raw,
    )


def _resolve_update(update: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """An update record from run.json with its files as paths usable from here (from the
    current directory if they exist there, else from the run directory); a missing file
    stays as recorded (only rebuilding the run's data needs it)."""
    out = dict(update)
    for key, from_run in UPDATE_FILES:
        value, relative = out.pop(key, None), out.pop(from_run, None)
        if not value:
            continue
        if not Path(value).expanduser().exists() and relative and (run_dir / relative).exists():
            value = os.path.normpath(run_dir / relative)
        out[key] = value
    return out


def load_run(run_dir: str | Path) -> tuple[Recommender, RunInfo]:
    """The model saved in ``run_dir`` and its :class:`RunInfo` (run.json is required)."""
    from lmrec.models.registry import load

    run = read_run(run_dir)
    return load(run_dir), run


def _existing(source: Path, key: str, from_cwd: str, from_run: str | None, run_dir: Path) -> str:
    """The stored path if it exists from here, else the one relative to the run directory."""
    if Path(from_cwd).expanduser().exists():
        return from_cwd
    if from_run is not None and (run_dir / from_run).exists():
        return os.path.normpath(run_dir / from_run)
    where = f" nor as {os.path.normpath(run_dir / from_run)}" if from_run is not None else ""
    raise DataError(
        f"{source}: {key} {from_cwd!r} (relative to the directory the run was trained in) "
        f"is not found from here{where}; run from that directory or put the file back"
    )
