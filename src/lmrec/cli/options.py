"""Options shared by several commands, and the small helpers every command uses.

Kept free of numpy, pandas and torch so that ``lmrec --help`` imports none of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmrec.errors import ConfigError

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
OutOpt = Annotated[Path, typer.Option("--out", help="Run directory to write.")]
ProtocolOpt = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        help="Repeat-aware ranking: new-items (seen items excluded, repeat targets left out "
        "and counted) or repeats (nothing excluded). Default: new-items, with a note when "
        "the data has repeat targets.",
        show_default=False,
    ),
]
SeedsOpt = Annotated[
    int,
    typer.Option(
        "--seeds",
        help="Fit each seeded model with seeds 0..N-1; tables show the mean and a 95% interval.",
    ),
]
RunDirArg = Annotated[Path, typer.Argument(help="A directory written by `lmrec train`.")]


def out_console() -> Console:
    """Console for results on stdout (wide when piped, so tables do not wrap)."""
    return Console(width=None if sys.stdout.isatty() else 160, markup=False, highlight=False)


def err_console() -> Console:
    """Console for notes and progress on stderr."""
    return Console(stderr=True, markup=False, highlight=False)


def show_progress() -> bool:
    """Progress bars only when a person watches stderr."""
    return sys.stderr.isatty()


def print_json(obj: object) -> None:
    """``obj`` as indented JSON on stdout (numpy values and paths converted)."""

    def default(value: object) -> object:
        if type(value).__module__ == "numpy":  # np.generic and np.ndarray
            return value.tolist()  # type: ignore[attr-defined]
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"cannot write {type(value).__name__} as JSON")

    typer.echo(json.dumps(obj, indent=2, default=default))


def command_argv() -> list[str]:
    """This invocation as ``["lmrec", *args]`` (what run.json records, made portable)."""
    return ["lmrec", *sys.argv[1:]]


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


def check_on(on: str) -> None:
    """``--on`` is test or valid."""
    if on not in ("test", "valid"):
        raise ConfigError(f"--on must be 'test' or 'valid', got {on!r}")


def check_out(out: Path) -> None:
    """``--out`` may exist only as a directory."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a directory for the run")
