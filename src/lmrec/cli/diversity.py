"""``lmrec diversity``: sweep a re-ranking knob over a saved run, table and PNG."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.options import (
    JsonOpt,
    OnOpt,
    RunDirArg,
    check_on,
    err_console,
    out_console,
    print_json,
)

#: Length of the lists swept (the @10 of the table's columns).
LIST_SIZE = 10
#: Columns of the sweep table, in order.
SWEEP_COLUMNS: tuple[str, ...] = (
    "ndcg@10",
    "recall@10",
    "ild@10",
    "category_coverage@10",
    "calibration_kl@10",
    "novelty@10",
    "coverage@10",
    "gini@10",
)


def _knobs(text: str) -> list[float]:
    from lmrec.errors import ConfigError

    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--knobs must be comma-separated numbers in [0, 1], got {text!r}"
        ) from None


def diversity(
    run_dir: RunDirArg,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="List method: mmr, dpp, calibrated, or multi-interest (lists filled from "
            "each of the user's interests; needs a model that scores histories).",
        ),
    ] = "dpp",
    knobs: Annotated[
        str,
        typer.Option(
            "--knobs", help="Diversity knob values to sweep, in [0, 1] (0 = model order)."
        ),
    ] = "0,0.01,0.02,0.05,0.1,0.2,0.3,0.5,0.7,0.9",  # rerank.experiment.DEFAULT_KNOBS
    space: Annotated[
        str,
        typer.Option(
            "--space",
            help="Item space for similarity and ILD: categories or text (sentence encoder).",
        ),
    ] = "categories",
    relevance: Annotated[
        str,
        typer.Option(
            "--relevance",
            help="What the lists weigh against diversity: scores (min-max scaled) or "
            "probabilities (exp of scores over the top candidate's: for models whose scores "
            "are logits, such as the Transformer).",
        ),
    ] = "scores",
    candidates: Annotated[
        int, typer.Option("--candidates", help="How many of the model's top items to re-rank.")
    ] = 100,
    on: OnOpt = "valid",
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write the accuracy-vs-diversity plot (PNG).", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sweep a re-ranking knob: accuracy against diversity, one row per knob.

    Choose a knob on --on valid (the default: the model is refitted on the train part) and
    report it on test once; the table shows each knob's change against the model's order.
    """
    from rich.table import Table

    from lmrec.evaluate.diversity import check_space, item_space
    from lmrec.evaluate.report import tradeoff_chart
    from lmrec.models.registry import make_model
    from lmrec.rerank import check_relevance
    from lmrec.rerank.experiment import AIMS, check_method, sweep
    from lmrec.runs import check_same_ids, load_run, rebuild_split

    check_on(on)
    check_method(method)
    check_relevance(relevance)
    values = _knobs(knobs)
    from lmrec.rerank.methods import check_knob, check_list

    for value in values:
        check_knob(value)
    check_list(candidates, LIST_SIZE)  # refused before any refit
    check_space(space, "--space")
    model, run = load_run(run_dir)
    dataset, split = rebuild_split(run)
    if on == "valid":
        err_console().print(f"note: refitting {run.model} on the train part to sweep on valid")
        model = make_model(run.model, **run.params)
        start = time.perf_counter()
        model.fit_split(split, "valid")
        err_console().print(f"fitted in {time.perf_counter() - start:.1f} s", style="dim")
    else:
        check_same_ids(model, split.fit_data("test"), run_dir)
        err_console().print(
            "note: choosing a knob by its test score overfits the test set; sweep --on valid",
            style="yellow",
        )
    items = item_space(split.fit_data(on), space)
    swept = sweep(
        model,
        split,
        on,
        method,
        values,
        items,
        ks=(LIST_SIZE,),
        progress=lambda m: err_console().print(m, style="dim"),
        relevance=relevance,
        candidates=candidates,
    )
    rows = [{"knob": knob, **{c: r.metrics.get(c) for c in SWEEP_COLUMNS}} for knob, r in swept]
    aim = AIMS[method][0]
    if plot is not None:
        tradeoff_chart(
            {method: rows}, aim, "ndcg@10", plot, title=f"{run.model} on {dataset} · {on}"
        )
    if as_json:
        print_json(
            {
                "run": str(run_dir),
                "method": method,
                "relevance": relevance,
                "on": on,
                "space": space,
                "sweep": rows,
            }
        )
        return
    base = next((r for r in rows if r["knob"] == 0.0), rows[0])
    table = Table(title=f"{method} re-ranking of {run.model} on {dataset} ({on}, {space})")
    table.add_column("knob", justify="right")
    for column in SWEEP_COLUMNS:
        table.add_column(column, justify="right")
    for row in rows:
        cells = [f"{row['knob']:g}"]
        for column in SWEEP_COLUMNS:
            value = row[column]
            text = "–" if value is None else f"{value:.4f}"
            if value is not None and column in ("ndcg@10", aim) and base[column]:
                text += f" ({(value / base[column] - 1):+.0%})"
            cells.append(text)
        table.add_row(*cells)
    out_console().print(table)
    if plot is not None:
        out_console().print(f"plot: {plot}")
