"""``lmrec compare``: several models on one split, through :func:`lmrec.experiment.compare`
(the path every benchmark takes): grids chosen on validation, N seeds, mean ± 95% interval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.options import (
    ColumnsOpt,
    DataDirOpt,
    DataName,
    JsonOpt,
    NegativesOpt,
    OnOpt,
    ProtocolOpt,
    SeedsOpt,
    SepOpt,
    SplitOpt,
    check_on,
    command_argv,
    err_console,
    out_console,
    parse_columns,
    print_json,
)
from lmrec.errors import ConfigError


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
    seeds: SeedsOpt = 1,
    protocol: ProtocolOpt = None,
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
    """Fit several models on one split and compare them in one table (mean ± 95% interval
    over --seeds seeds for seeded models)."""
    from lmrec.evaluate.report import bar_chart, describe_protocol, metrics_table, write_records
    from lmrec.experiment import check_seeds
    from lmrec.experiment import compare as run_compare
    from lmrec.models.params import parse_grouped_params
    from lmrec.runs import portable_command

    check_on(on)
    check_seeds(seeds)
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise ConfigError("--models is empty; give names like --models popular,itemknn,ease")
    params = parse_grouped_params(names, param or [], None)
    result = run_compare(
        name_or_path,
        names,
        params,
        split=split,
        seeds=seeds,
        on=on,  # type: ignore[arg-type]
        negatives=negatives,
        data_dir=data,
        columns=parse_columns(columns),
        sep=sep,
        command=portable_command(command_argv()),
        progress=err_console().print,
        mode=protocol,
    )
    rows = result.records
    for note in dict.fromkeys(r["note"] for r in rows if r.get("note")):
        err_console().print(f"note: {note}", style="yellow")
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
