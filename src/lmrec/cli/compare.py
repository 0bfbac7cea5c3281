"""``lmrec compare``, and the one fit → score → record routine it and ``evaluate`` share.

:func:`run_compare` is the whole orchestration (fit each model for a part of a split, score
it, write records) in one function, so that it can be swapped for ``lmrec.experiment``
when that exists.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lmrec.cli.options import (
    ColumnsOpt,
    DataDirOpt,
    DataName,
    JsonOpt,
    NegativesOpt,
    OnOpt,
    SeedOpt,
    SepOpt,
    SplitOpt,
    check_on,
    err_console,
    out_console,
    parse_columns,
    print_json,
    show_progress,
)
from lmrec.errors import ConfigError

if TYPE_CHECKING:
    from lmrec.data.split import Part, Split
    from lmrec.evaluate.ranking import EvalResult
    from lmrec.models.base import Recommender


def score(
    model: Recommender, split: Split, on: Part, negatives: int | None, seed: int
) -> list[EvalResult]:
    """Ranking metrics, plus RMSE/MAE for rating models when the targets carry ratings."""
    from lmrec.evaluate.ranking import evaluate, evaluate_ratings

    results = [evaluate(model, split, on, negatives=negatives, seed=seed, progress=show_progress())]
    targets = split.targets(on)
    if model.predicts_ratings and targets["rating"].notna().any():
        results.append(evaluate_ratings(model, targets, split_name=split.protocol, part=on))
    return results


def records_of(
    model_name: str,
    dataset: str,
    split: Split,
    on: str,
    results: Sequence[EvalResult],
    fit_seconds: float,
    params: dict[str, Any],
) -> list[dict[str, Any]]:
    """One record (:func:`lmrec.evaluate.report.make_record`) per evaluation result."""
    from lmrec.evaluate.report import make_record, peak_memory_mb, split_label

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


def run_compare(
    dataset: str,
    split: Split,
    names: Sequence[str],
    params: dict[str, dict[str, Any]],
    on: Part,
    negatives: int | None,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, Recommender]]:
    """Fit every model for ``on`` (``fit_split``) and score it on ``on``: records and models."""
    from lmrec.models.registry import make_model

    err = err_console()
    records: list[dict[str, Any]] = []
    fitted: dict[str, Recommender] = {}
    for i, name in enumerate(names, 1):
        model = make_model(name, **params[name])
        err.print(f"[{i}/{len(names)}] fitting {name}…")
        start = time.perf_counter()
        model.fit_split(split, on)
        fit_seconds = time.perf_counter() - start
        results = score(model, split, on, negatives, seed)
        err.print(
            f"[{i}/{len(names)}] {name}: fit {fit_seconds:.2f} s, "
            f"eval {sum(r.seconds for r in results):.2f} s"
        )
        records += records_of(name, dataset, split, on, results, fit_seconds, params[name])
        fitted[name] = model
    return records, fitted


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
    from lmrec.evaluate.report import bar_chart, describe_protocol, metrics_table, write_records
    from lmrec.models.params import parse_grouped_params
    from lmrec.runs import build_split

    check_on(on)
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError("--models is empty; give names like --models popular,itemknn,ease")
    params = parse_grouped_params(names, param or [], seed)
    dataset, the_split = build_split(name_or_path, data, parse_columns(columns), sep, split, seed)
    rows, _ = run_compare(dataset, the_split, names, params, on, negatives, seed)  # type: ignore[arg-type]
    if records is not None:
        write_records(records, rows)
    if plot is not None:
        bar_chart(rows, "ndcg@10", plot)
    if as_json:
        print_json(rows)
        return
    console = out_console()
    console.print(metrics_table(rows))
    for protocol in dict.fromkeys(r["protocol"] for r in rows):
        console.print(describe_protocol(protocol), style="dim")
    for what, path in (("records", records), ("chart", plot)):
        if path is not None:
            console.print(f"{what} written to {path}")
