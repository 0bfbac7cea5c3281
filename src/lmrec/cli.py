"""The ``lmrec`` command line: a thin layer that builds objects from flags and prints results.

Commands: ``data list``, ``data info``, ``train``, ``evaluate``, ``recommend``, ``compare`` and
``demo``. Every command takes ``--json`` (machine-readable output on stdout instead of tables)
and, where it reads data, ``--data PATH`` (the data folder). Progress and notes go to stderr.

Errors the user can fix (:class:`lmrec.errors.LmrecError`, bad flags) print one line,
``error: <message>``, on stderr and exit with code 2; there is no traceback.
"""

from __future__ import annotations

import inspect
import json
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors click; pinned in reqs
from typer.core import TyperGroup

from lmrec import __version__
from lmrec.data.loaders.tabular import load_table
from lmrec.data.registry import (
    DATASETS,
    dataset_names,
    find_dataset,
    load_dataset,
    load_split,
    search_dirs,
)
from lmrec.data.schema import Dataset
from lmrec.data.split import Part, Split, split_dataset
from lmrec.errors import ConfigError, DataError, LmrecError, ModelFileError
from lmrec.evaluate.ranking import EvalResult, evaluate, evaluate_ratings
from lmrec.evaluate.report import (
    bar_chart,
    describe_protocol,
    git_commit,
    interest_chart,
    make_record,
    metrics_by_k_table,
    metrics_table,
    peak_memory_mb,
    split_label,
    write_records,
)
from lmrec.models.base import Recommender
from lmrec.models.registry import MODEL_TYPES, load, make_model, model_params

#: File in a run directory that says how to rebuild the data and split a model was fitted on.
RUN_FILE = "run.json"
#: Models the demo compares.
DEMO_MODELS: tuple[str, ...] = ("popular", "itemknn", "ease", "als", "bpr")


class _Group(TyperGroup):
    """The root command group; turns user errors into one ``error:`` line and exit code 2."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = result if isinstance(result, int) else 0
        except NoArgsIsHelpError as exc:  # bare `lmrec` or `lmrec data`: show the help
            exc.show()
            code = 0
        except typer.TyperException as exc:  # click's usage errors: unknown flag, bad value
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            code = _fail(exc.format_message() + hint, getattr(exc, "exit_code", 2))
        except typer.Abort:
            typer.echo("aborted", err=True)
            code = 1
        except LmrecError as exc:
            code = _fail(str(exc))
        if not standalone_mode:
            return code
        sys.exit(code)


def _fail(message: str, code: int = 2) -> int:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return code


app = typer.Typer(
    cls=_Group,
    name="lmrec",
    help="lmrec: recommendation models, full-ranking evaluation and reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
data_app = typer.Typer(
    help="List the known data sets and describe one.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")

# ------------------------------------------------------------------ shared options
DataName = Annotated[
    str,
    typer.Argument(
        metavar="NAME_OR_PATH",
        help="A data set name (see `lmrec data list`) or a csv/tsv/parquet/jsonl file.",
        show_default=False,
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Folder holding the data sets (else $LMREC_DATA_DIR, ./data, ../shared/datasets).",
        show_default=False,
    ),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Which file column holds each field: user_id=uid,item_id=sku,timestamp=ts",
        show_default=False,
    ),
]
SepOpt = Annotated[
    str | None,
    typer.Option("--sep", help="Field separator of a text file (default: from the extension)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
SplitOpt = Annotated[
    str,
    typer.Option(
        "--split",
        help="Split protocol: loo (leave-one-out), temporal, random, or given (JD's own split).",
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", help="Model parameter as key=value (repeatable).", show_default=False),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for the split and the models.")]
OnOpt = Annotated[
    str,
    typer.Option(
        "--on",
        help="Part to score: test (model fitted on train+valid) or valid (fitted on train).",
    ),
]
NegativesOpt = Annotated[
    int | None,
    typer.Option(
        "--negatives",
        help="Rank each target against N sampled items instead of all items (labelled "
        "'sampled-N'; not comparable with full ranking).",
        show_default=False,
    ),
]


# ------------------------------------------------------------------ helpers
def _out() -> Console:
    """Console for results on stdout (wide when piped, so tables do not wrap)."""
    return Console(width=None if sys.stdout.isatty() else 160, markup=False, highlight=False)


def _err() -> Console:
    """Console for notes and progress on stderr."""
    return Console(stderr=True, markup=False, highlight=False)


def _progress() -> bool:
    return sys.stderr.isatty()


def _print_json(obj: object) -> None:
    def default(value: object) -> object:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

    typer.echo(json.dumps(obj, indent=2, default=default))


def _command_line() -> str:
    return shlex.join(["lmrec", *sys.argv[1:]])


def parse_columns(text: str | None) -> dict[str, str] | None:
    """``"user_id=userId,item_id=movieId"`` → ``{"user_id": "userId", "item_id": "movieId"}``."""
    if not text:
        return None
    columns: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = (s.strip() for s in pair.partition("="))
        if not sep or not key or not value:
            raise ConfigError(
                f"--columns expects lmrec_name=file_name pairs separated by commas, got {pair!r} "
                "(example: --columns user_id=userId,item_id=movieId)"
            )
        columns[key] = value
    return columns


def _model_class(name: str) -> type[Recommender]:
    cls = MODEL_TYPES.get(name)
    if cls is None:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(MODEL_TYPES))}")
    return cls


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def _convert(model: str, key: str, raw: str, default: object) -> object:
    """``raw`` converted to the type of the parameter's default."""

    def bad(kind: str) -> ConfigError:
        return ConfigError(
            f"--param {key}={raw}: the {key!r} parameter of {model} must be {kind} "
            f"(default {default!r})"
        )

    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise bad("true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise bad("an integer") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise bad("a number") from None
    if isinstance(default, str):
        return raw
    if isinstance(default, tuple | list) and default:
        return type(default)(_convert(model, key, part, default[0]) for part in raw.split(","))
    try:  # no usable default (None): a JSON literal if it is one, else the string
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, int | float | bool) or value is None else raw


def parse_params(model: str, pairs: Sequence[str], seed: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``make_model(model, ...)`` from ``key=value`` strings.

    Values take the type of the parameter's default in the model's ``__init__``; a model
    with a ``seed`` parameter gets ``seed`` unless a pair sets it.
    """
    defaults = model_params(_model_class(model))
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = (s.strip() for s in pair.partition("="))
        if not sep or not key:
            raise ConfigError(f"--param expects key=value, got {pair!r} (example: --param l2=100)")
        if key not in defaults:
            raise ConfigError(
                f"--param {pair}: {model} has no parameter {key!r}; "
                f"its parameters are {', '.join(defaults) or '(none)'}"
            )
        default = defaults[key]
        params[key] = _convert(
            model, key, raw, None if default is inspect.Parameter.empty else default
        )
    if seed is not None and "seed" in defaults and "seed" not in params:
        params["seed"] = seed
    return params


def _model_params(names: Sequence[str], pairs: Sequence[str], seed: int) -> dict[str, dict]:
    """Per-model parameters from ``MODEL.KEY=VALUE`` pairs (``compare --param``)."""
    grouped: dict[str, list[str]] = {name: [] for name in names}
    for pair in pairs:
        target, dot, rest = pair.partition(".")
        if not dot or target not in grouped:
            raise ConfigError(
                f"--param {pair}: compare expects MODEL.KEY=VALUE with MODEL one of "
                f"{', '.join(names)} (example: --param ease.l2=100)"
            )
        grouped[target].append(rest)
    return {name: parse_params(name, grouped[name], seed) for name in names}


def _load_data(
    name_or_path: str, data_dir: Path | None, columns: dict | None, sep: str | None
) -> Dataset:
    if sep is None:
        return load_dataset(name_or_path, data_dir=data_dir, columns=columns)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"--sep applies to a table file, and {name_or_path!r} is not a file")
    return load_table(path, columns, sep=sep)


def _build_split(
    name_or_path: str,
    data_dir: Path | None,
    columns: dict | None,
    sep: str | None,
    protocol: str,
    seed: int,
) -> tuple[str, Split]:
    """The data set's name and its split under ``protocol`` (``given`` = the shipped one)."""
    if sep is None:
        split = load_split(name_or_path, protocol, data_dir=data_dir, columns=columns, seed=seed)
        return split.train.name, split
    if protocol == "given":
        raise ConfigError("--split given applies to named data sets with a shipped split (jd)")
    data = _load_data(name_or_path, data_dir, columns, sep)
    return data.name, split_dataset(data, protocol, seed=seed)


def _data_source(name_or_path: str) -> str:
    """A name stays a name; an existing path becomes absolute, so run.json works from anywhere."""
    path = Path(name_or_path)
    return str(path.resolve()) if path.exists() else name_or_path


def _check_same_ids(model: Recommender, data: Dataset, run_dir: Path) -> None:
    if not model.idmap_.same_as(data.idmap):
        raise ModelFileError(
            f"{run_dir}: the data rebuilt from {RUN_FILE} has other users or items than the "
            "model was fitted on (did the data files change?); train the model again"
        )


def _read_run(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise ModelFileError(
            f"{run_dir}: no {RUN_FILE}; point at a directory written by `lmrec train --out`"
        )
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    missing = [k for k in ("data", "split", "model", "params", "seed") if k not in run]
    if missing:
        raise ModelFileError(f"{path}: lacks {missing}; train the model again")
    return run


def _write_run(
    out: Path,
    *,
    data: str,
    data_dir: Path | None,
    columns: dict | None,
    sep: str | None,
    split: str,
    split_protocol: str,
    seed: int,
    model: str,
    params: dict[str, Any],
    fit_seconds: float,
) -> dict[str, Any]:
    run = {
        "data": _data_source(data),
        "data_dir": str(data_dir.resolve()) if data_dir is not None else None,
        "columns": columns,
        "sep": sep,
        "split": split,
        "split_protocol": split_protocol,
        "seed": seed,
        "fit_on": "model.fit_split(split, 'test'): train+valid, or train with early "
        "stopping on valid then conditioned on train+valid (transformer)",
        "model": model,
        "params": params,
        "fit_seconds": round(fit_seconds, 3),
        "command": _command_line(),
        "lmrec_version": __version__,
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return run


def _records(
    model_name: str,
    dataset: str,
    split: Split,
    on: str,
    results: Sequence[EvalResult],
    fit_seconds: float,
    params: dict[str, Any],
) -> list[dict[str, Any]]:
    return [
        make_record(
            dataset=dataset,
            split=split_label(split.protocol, on),
            protocol=r.protocol,
            model=model_name,
            metrics=r.metrics,
            train_seconds=fit_seconds,
            eval_seconds=r.seconds,
            peak_mb=peak_memory_mb(),
            extra={"n_users": r.n_users, "params": params},
        )
        for r in results
    ]


def _score(
    model: Recommender, split: Split, on: Part, negatives: int | None, seed: int
) -> list[EvalResult]:
    """Ranking metrics, plus RMSE/MAE for rating models when the targets carry ratings."""
    results = [evaluate(model, split, on, negatives=negatives, seed=seed, progress=_progress())]
    targets = split.targets(on)
    if model.predicts_ratings and targets["rating"].notna().any():
        results.append(evaluate_ratings(model, targets, split_name=split.protocol, part=on))
    return results


def _compare(
    dataset: str,
    split: Split,
    names: Sequence[str],
    params: dict[str, dict[str, Any]],
    on: str,
    negatives: int | None,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, Recommender]]:
    """Fit every model for ``on`` (``fit_split``), score it on ``on``; records and models."""
    err = _err()
    records: list[dict[str, Any]] = []
    fitted: dict[str, Recommender] = {}
    for i, name in enumerate(names, 1):
        model = make_model(name, **params[name])
        err.print(f"[{i}/{len(names)}] fitting {name}…")
        start = time.perf_counter()
        model.fit_split(split, on)
        fit_seconds = time.perf_counter() - start
        results = _score(model, split, on, negatives, seed)
        err.print(
            f"[{i}/{len(names)}] {name}: fit {fit_seconds:.2f} s, "
            f"eval {sum(r.seconds for r in results):.2f} s"
        )
        records += _records(name, dataset, split, on, results, fit_seconds, params[name])
        fitted[name] = model
    return records, fitted


def _check_on(on: str) -> None:
    if on not in ("test", "valid"):
        raise ConfigError(f"--on must be 'test' or 'valid', got {on!r}")


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a directory for the run")


def _recommendation_rows(model: Recommender, user: str, k: int) -> list[dict[str, Any]]:
    ids, scores = model.recommend(user, k=k)
    keep = [j for j, item in enumerate(ids) if item != ""]
    titles = model.titles([ids[j] for j in keep])
    return [
        {"rank": r, "item_id": str(ids[j]), "score": float(scores[j]), "title": title}
        for r, (j, title) in enumerate(zip(keep, titles, strict=True), 1)
    ]


def _recommendation_table(user: str, rows: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=Text(title or f"top {len(rows)} for user {user}"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("score", justify="right")
    with_titles = any(r["title"] for r in rows)
    if with_titles:
        table.add_column("title")
    for r in rows:
        cells = [str(r["rank"]), r["item_id"], f"{r['score']:.4f}"]
        table.add_row(*map(Text, [*cells, *([r["title"]] if with_titles else [])]))
    return table


def _summary_table(summary: dict[str, object], title: str) -> Table:
    table = Table(title=Text(title), title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        if isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        elif isinstance(value, dict):
            text = ", ".join(f"{k} {v:,}" for k, v in value.items()) or "–"
        elif isinstance(value, list):
            text = ", ".join(map(str, value)) or "–"
        else:
            text = str(value)
        table.add_row(Text(key), Text(text))
    return table


# ------------------------------------------------------------------ data
@data_app.command("list")
def data_list(data: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the named data sets, whether each is found, and where."""
    rows = []
    for name in dataset_names():
        spec = DATASETS[name]
        path = find_dataset(name, data_dir=data)
        where = "built-in (generated)" if spec.folder is None else str(path) if path else None
        rows.append(
            {
                "name": name,
                "found": spec.folder is None or path is not None,
                "path": where,
                "description": spec.description,
            }
        )
    if as_json:
        _print_json(rows)
        return
    table = Table(title="data sets", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("found")
    table.add_column("where")
    table.add_column("what")
    for r in rows:
        cells = [r["name"], "yes" if r["found"] else "no", r["path"] or "–", r["description"]]
        table.add_row(*map(Text, cells))
    _out().print(table)
    if not all(r["found"] for r in rows):
        places = ", ".join(str(d) for d in search_dirs(data))
        _err().print(f"searched: {places}", style="dim")


@data_app.command("info")
def data_info(
    name_or_path: DataName,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    data: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a data set (by name or from a file) and describe it."""
    dataset = _load_data(name_or_path, data, parse_columns(columns), sep)
    summary = dataset.summary()
    if as_json:
        _print_json(summary)
        return
    _out().print(_summary_table(summary, f"data set {dataset.name}"))


# ------------------------------------------------------------------ train / evaluate
@app.command()
def train(
    name_or_path: DataName,
    model: Annotated[
        str, typer.Option("--model", help="Model name: " + ", ".join(sorted(MODEL_TYPES)))
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    param: ParamOpt = None,
    split: SplitOpt = "loo",
    seed: SeedOpt = 0,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    data: DataDirOpt = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            help="Fuse item text into the transformer's item vectors: add, concat, gate, or "
            "text (text only, for new items).",
            show_default=False,
        ),
    ] = None,
    text_model: Annotated[
        str | None,
        typer.Option(
            "--text-model",
            help="A local sentence-transformers model directory (default: the bundled "
            "all-MiniLM-L6-v2).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit a model for the test split (train+valid) and save it, with run.json, to --out."""
    _check_out(out)
    params = parse_params(model, param or [], seed)
    if text is not None or text_model is not None:
        if model != "transformer":
            raise ConfigError(f"--text and --text-model need --model transformer, not {model!r}")
        params["fusion"] = text or "add"
        if text_model is not None:
            from lmrec.text.encoder import TextEncoder

            TextEncoder(text_model)  # a bad path fails now, not after loading the data
            params["text_model"] = text_model
    _fit_and_save(name_or_path, model, params, out, split, seed, columns, sep, data, as_json)


def _fit_and_save(
    name_or_path: str,
    model: str,
    params: dict[str, Any],
    out: Path,
    split: str,
    seed: int,
    columns: str | None,
    sep: str | None,
    data: Path | None,
    as_json: bool,
) -> None:
    """Build the split, fit ``model`` for its test part, save the run dir and run.json."""
    column_map = parse_columns(columns) if isinstance(columns, str) or columns is None else columns
    dataset, the_split = _build_split(name_or_path, data, column_map, sep, split, seed)
    estimator = make_model(model, **params)
    fit_data = the_split.fit_data("test")
    _err().print(f"fitting {model} on {len(fit_data.interactions):,} interactions…")
    start = time.perf_counter()
    estimator.fit_split(the_split, "test")
    fit_seconds = time.perf_counter() - start
    estimator.save(out)
    run = _write_run(
        out,
        data=name_or_path,
        data_dir=data,
        columns=column_map,
        sep=sep,
        split=split,
        split_protocol=the_split.protocol,
        seed=seed,
        model=model,
        params=params,
        fit_seconds=fit_seconds,
    )
    if as_json:
        _print_json({**run, "run_dir": str(out)})
        return
    _out().print(
        f"fitted {estimator!r} on {dataset} · {the_split.protocol} · "
        f"train+valid ({len(fit_data.interactions):,} interactions) in {fit_seconds:.2f} s\n"
        f"saved to {out}/ (config.json, model.safetensors, idmap.json, items.json, {RUN_FILE})\n"
        f"next: lmrec evaluate {out}    lmrec recommend {out} --user ID"
    )


@app.command()
def pretrain(
    name_or_path: DataName,
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    param: ParamOpt = None,
    split: SplitOpt = "loo",
    seed: SeedOpt = 0,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    data: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pretrain the behaviour Transformer by masked-item modelling on every behaviour."""
    _check_out(out)
    params = parse_params("transformer", ["objective=masked", *(param or [])], seed)
    _fit_and_save(
        name_or_path, "transformer", params, out, split, seed, columns, sep, data, as_json
    )


@app.command()
def finetune(
    pretrained: Annotated[
        Path, typer.Argument(help="A run directory written by `lmrec pretrain`.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    mode: Annotated[
        str,
        typer.Option("--mode", help="What trains: full, frozen (no Transformer blocks) or lora."),
    ] = "full",
    objective: Annotated[
        str,
        typer.Option("--objective", help="Fine-tuning objective: causal (next item) or masked."),
    ] = "causal",
    target_behaviour: Annotated[
        str | None,
        typer.Option(
            "--target-behaviour",
            help="Only predict next events of this behaviour (buy).",
            show_default=False,
        ),
    ] = None,
    param: ParamOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a pretrained Transformer run on the same data and split."""
    _check_out(out)
    run = _read_run(pretrained)
    if run["model"] != "transformer":
        raise ConfigError(f"{pretrained}: holds a {run['model']} run; finetune needs a transformer")
    extra = [f"objective={objective}", f"finetune_mode={mode}", *(param or [])]
    params = {**run["params"], **parse_params("transformer", extra, run["seed"])}
    params["init_from"] = str(pretrained.resolve())
    params["target_behaviour"] = target_behaviour
    data_dir = Path(run["data_dir"]) if run.get("data_dir") else None
    _fit_and_save(
        run["data"],
        "transformer",
        params,
        out,
        run["split"],
        run["seed"],
        run.get("columns"),
        run.get("sep"),
        data_dir,
        as_json,
    )


@app.command()
def interests(
    run_dir: Annotated[Path, typer.Argument(help="A transformer run directory.")],
    user: Annotated[str, typer.Option("--user", help="External user id.", show_default=False)],
    top: Annotated[int, typer.Option("--top", help="How many categories and items.")] = 10,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write a bar chart of the categories (PNG).", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A user's calibrated interest distribution: top categories and items with probabilities."""
    model = load(run_dir)
    model._require("interests", f"{run_dir}; train one with lmrec train --model transformer")
    result = model.interests(user, top_items=top, top_categories=top)
    if plot is not None:
        interest_chart(result, plot, title=f"user {user}: p(category | history)")
    if as_json:
        _print_json({"user": user, **result.as_dict()})
        return
    table = Table(title=f"user {user}: p(category | history), temperature {result.temperature:.2f}")
    table.add_column("category")
    table.add_column("p", justify="right")
    for name, p in zip(result.categories, result.category_probs, strict=True):
        table.add_row(name, f"{p:.3f}")
    items = Table(title=f"user {user}: p(item | history)")
    items.add_column("item")
    items.add_column("title")
    items.add_column("p", justify="right")
    titles = model.titles(result.item_ids)
    for item, title, p in zip(result.item_ids, titles, result.item_probs, strict=True):
        items.add_row(str(item), title, f"{p:.4f}")
    out = _out()
    out.print(table)
    out.print(items)
    if plot is not None:
        out.print(f"chart: {plot}")


@app.command()
def sources(
    run_dir: Annotated[Path, typer.Argument(help="A multi-interest run directory.")],
    user: Annotated[
        list[str], typer.Option("--user", help="External user id (repeatable).", show_default=False)
    ],
    as_json: JsonOpt = False,
) -> None:
    """How much each interest source (behaviours, ratings, review text) counts for a user."""
    model = load(run_dir)
    model._require("source_weights", f"{run_dir}; train one with --model multi-interest")
    weights = model.source_weights_of(user)
    if as_json:
        _print_json({"users": {u: weights.loc[u].to_dict() for u in weights.index}})
        return
    table = Table(title=f"source weights α ({model.source_weighting} weighting); rows sum to 1")
    table.add_column("user")
    for source in weights.columns:
        table.add_column(source, justify="right")
    for u, row in weights.iterrows():
        table.add_row(str(u), *(f"{v:.3f}" for v in row))
    _out().print(table)


@app.command("evaluate")
def evaluate_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A directory written by `lmrec train`.")],
    on: OnOpt = "test",
    negatives: NegativesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a trained run on its split's test (or valid) part: full ranking by default."""
    _check_on(on)
    run = _read_run(run_dir)
    model = load(run_dir)
    dataset, split = _build_split(
        run["data"],
        Path(run["data_dir"]) if run.get("data_dir") else None,
        run.get("columns"),
        run.get("sep"),
        run["split"],
        run["seed"],
    )
    fit_seconds = float(run.get("fit_seconds", float("nan")))
    if on == "valid":
        _err().print(
            f"note: --on valid refits {run['model']} on the train part only (the saved model "
            "saw the validation targets in train+valid)"
        )
        model = make_model(run["model"], **run["params"])
        start = time.perf_counter()
        model.fit_split(split, "valid")
        fit_seconds = time.perf_counter() - start
    else:
        _check_same_ids(model, split.fit_data("test"), run_dir)
    results = _score(model, split, on, negatives, run["seed"])
    records = _records(run["model"], dataset, split, on, results, fit_seconds, run["params"])
    if as_json:
        _print_json(records)
        return
    console = _out()
    for record in records:
        if record["protocol"] == "rating":
            console.print(metrics_table([record], metrics=("rmse", "mae")))
        else:
            console.print(metrics_by_k_table(record))
        console.print(
            f"split: {split.protocol} · scored on {on}, {record['n_users']:,} users\n"
            f"{describe_protocol(record['protocol'])}",
            style="dim",
        )


@app.command()
def recommend(
    run_dir: Annotated[Path, typer.Argument(help="A directory written by `lmrec train`.")],
    user: Annotated[str, typer.Option("--user", help="External user id.", show_default=False)],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Top-k items for one user, with titles when the data has them."""
    model = load(run_dir)
    rows = _recommendation_rows(model, user, k)
    if as_json:
        _print_json({"user": user, "k": k, "items": rows})
        return
    _out().print(_recommendation_table(user, rows))


@app.command("similar-items")
def similar_items(
    run_dir: Annotated[Path, typer.Argument(help="A directory written by `lmrec train`.")],
    item: Annotated[str, typer.Option("--item", help="External item id.", show_default=False)],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The items nearest to one item by the model's item vectors (fused with text when the
    run uses text), by cosine similarity."""
    model = load(run_dir)
    ids, scores = model.similar_items(item, k=k)
    keep = [i for i, s in enumerate(scores) if np.isfinite(s)]
    ids, scores = [str(ids[i]) for i in keep], [float(scores[i]) for i in keep]
    titles = model.titles(ids) if ids else []
    if as_json:
        rows = [
            {"rank": r + 1, "item_id": i, "title": t, "similarity": round(s, 6)}
            for r, (i, t, s) in enumerate(zip(ids, titles, scores, strict=True))
        ]
        _print_json({"item": item, "k": k, "items": rows})
        return
    (title,) = model.titles([item])
    table = Table(title=f"items similar to {item}" + (f" ({title})" if title else ""))
    for col in ("#", "item", "title", "cosine"):
        table.add_column(col, justify="right" if col in ("#", "cosine") else "left")
    for r, (i, t, s) in enumerate(zip(ids, titles, scores, strict=True)):
        table.add_row(str(r + 1), i, t, f"{s:.3f}")
    _out().print(table)


@app.command()
def compare(
    name_or_path: DataName,
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated model names.")
    ] = "popular,itemknn,ease",
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Parameter as MODEL.KEY=VALUE (repeatable).", show_default=False
        ),
    ] = None,
    split: SplitOpt = "loo",
    on: OnOpt = "test",
    negatives: NegativesOpt = None,
    seed: SeedOpt = 0,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG bar chart of ndcg@10.", show_default=False),
    ] = None,
    records: Annotated[
        Path | None,
        typer.Option("--records", help="Write/update a JSON records file.", show_default=False),
    ] = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    data: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit several models on one split and compare them in one table."""
    _check_on(on)
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError("--models is empty; give names like --models popular,itemknn,ease")
    params = _model_params(names, param or [], seed)
    dataset, the_split = _build_split(name_or_path, data, parse_columns(columns), sep, split, seed)
    rows, _ = _compare(dataset, the_split, names, params, on, negatives, seed)
    if records is not None:
        write_records(records, rows)
    if plot is not None:
        bar_chart(rows, "ndcg@10", plot)
    if as_json:
        _print_json(rows)
        return
    console = _out()
    console.print(metrics_table(rows))
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        console.print(describe_protocol(protocol), style="dim")
    for what, path in (("records", records), ("chart", plot)):
        if path is not None:
            console.print(f"{what} written to {path}")


# ------------------------------------------------------------------ demo
@app.command()
def demo(
    data: DataDirOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Where to save the EASE run.")] = Path(
        "runs/demo"
    ),
    as_json: JsonOpt = False,
) -> None:
    """The main job end to end: ml-100k (or synthetic data), five models, top-10 lists."""
    console = _out() if not as_json else _err()
    _check_out(out)
    if data is not None and not data.is_dir():
        raise DataError(f"--data {data}: no such folder")
    name = "ml-100k"
    fallback = find_dataset(name, data_dir=data) is None
    if fallback:
        name = "synthetic"
        places = ", ".join(str(d) for d in search_dirs(data))
        console.print(
            f"ml-100k was not found (looked in {places}).\n"
            "Using the built-in SYNTHETIC data set instead: the numbers below are not "
            "MovieLens results.",
            style="bold yellow",
        )
    dataset = load_dataset(name, data_dir=data)
    split = split_dataset(dataset, "loo")
    summary = split.summary()
    console.print(
        f"{dataset.name}: {len(dataset.interactions):,} interactions, "
        f"{dataset.n_users:,} users, {dataset.n_items:,} items\n"
        f"split: {split.protocol}: train {summary['train']:,}, valid {summary['valid']:,}, "
        f"test {summary['test']:,} events; models fitted on train+valid, scored on test"
    )
    params = {m: parse_params(m, [], seed=0) for m in DEMO_MODELS}
    rows, fitted = _compare(dataset.name, split, DEMO_MODELS, params, "test", None, 0)
    console.print(metrics_table(rows))
    console.print(describe_protocol("full-ranking"), style="dim")

    ease = fitted["ease"]  # already fitted on train+valid, the data `lmrec train` uses
    ease.save(out)
    ease_fit = next(r["train_seconds"] for r in rows if r["model"] == "ease")
    _write_run(
        out,
        data=name,
        data_dir=data,
        columns=None,
        sep=None,
        split="loo",
        split_protocol=split.protocol,
        seed=0,
        model="ease",
        params=params["ease"],
        fit_seconds=ease_fit,
    )
    history = split.fit_data("test").interactions
    users = [str(u) for u in split.test["user_id"].unique()[:3]]
    lists = []
    for user in users:
        rows_u = _recommendation_rows(ease, user, 10)
        recent = history.loc[history["user_id"] == user, "item_id"].tail(3).tolist()
        target = split.test.loc[split.test["user_id"] == user, "item_id"].iloc[0]
        hit = next((r["rank"] for r in rows_u if r["item_id"] == target), None)
        lists.append(
            {"user": user, "recent": recent, "held_out": target, "hit_rank": hit, "items": rows_u}
        )
        named = [f"{i} {t}".strip() for i, t in zip(recent, dataset.titles(recent), strict=True)]
        console.print(f"\nuser {user}, most recent: {'; '.join(named)}")
        console.print(_recommendation_table(user, rows_u, f"EASE top 10 for user {user}"))
        target_name = f"{target} {dataset.titles([target])[0]}".strip()
        where = f"at rank {hit}" if hit else "not in the top 10"
        console.print(f"held-out test item: {target_name}, {where}", style="dim")
    console.print(
        f"\nsaved the EASE run to {out}/; next: lmrec recommend {out} --user {users[0]}"
        f"  ·  lmrec evaluate {out}"
    )
    if as_json:
        _print_json(
            {
                "dataset": dataset.name,
                "synthetic_fallback": fallback,
                "records": rows,
                "recommendations": lists,
                "run_dir": str(out),
            }
        )


def main() -> None:
    """Console entry point (``lmrec``): run the app; user errors exit 2 with one line."""
    try:
        app(prog_name="lmrec")
    except LmrecError as exc:  # raised outside a command, e.g. while building the app
        sys.exit(_fail(str(exc)))
