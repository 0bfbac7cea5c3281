"""``lmrec update``: continue training a Transformer run on new events, as a new run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.options import (
    ColumnsOpt,
    JsonOpt,
    OutOpt,
    RunDirArg,
    SepOpt,
    out_console,
    parse_columns,
    print_json,
    show_progress,
)


def update(
    run_dir: RunDirArg,
    events: Annotated[
        Path,
        typer.Option(
            "--events",
            help="New events: a csv/tsv/parquet/jsonl file with user_id, item_id, timestamp "
            "(and optionally behaviour, rating).",
            show_default=False,
        ),
    ],
    out: OutOpt,
    items: Annotated[
        Path | None,
        typer.Option(
            "--items",
            help="Item table (item_id, title, text, categories) giving new items their text.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs over the affected users.")] = 3,
    replay: Annotated[
        float,
        typer.Option(
            "--replay", help="Other users trained along, as a multiple of the affected users."
        ),
    ] = 1.0,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write RUN's Transformer, trained further on new events, as the run OUT.

    New users and items join the model (new items start from their text); RUN stays as is.

    OUT is written under a temporary name and renamed at the end: never half-written."""
    import time
    from dataclasses import replace

    from lmrec.cli.options import command_argv
    from lmrec.data.loaders.tabular import load_table
    from lmrec.errors import ConfigError
    from lmrec.runs import load_run, portable_command, save_run_atomically

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists; give a new directory (RUN is never replaced)")
    if out.resolve() == Path(run_dir).resolve():
        raise ConfigError(f"--out {out}: give a new directory; {run_dir} is kept as it is")
    model, run = load_run(run_dir)
    model._require("update", f"{run_dir} holds a {model.model_type!r} run; retrain it instead")
    new = load_table(events, parse_columns(columns), sep=sep, items_path=items)
    n_users, n_items = model.idmap_.n_users, model.idmap_.n_items
    start = time.perf_counter()
    progress = model.progress
    model.progress = show_progress() and not as_json
    try:
        model.update(new, epochs=epochs, replay=replay)
    finally:
        model.progress = progress
    seconds = time.perf_counter() - start
    summary = {
        "run": str(out),
        "from": str(run_dir),
        "events": len(new.interactions),
        "columns": new.notes.get("columns", ""),
        "new_users": model.idmap_.n_users - n_users,
        "new_items": model.idmap_.n_items - n_items,
        "epochs": epochs,
        "seconds": round(seconds, 2),
    }
    record = {
        **summary,
        "events_file": str(events),
        "items_file": str(items) if items else None,
        "columns_map": parse_columns(columns),
        "sep": sep,
    }
    updated = replace(
        run,
        command=portable_command(command_argv()),
        updates=[*run.updates, record],
    )
    save_run_atomically(model, out, updated)
    if as_json:
        print_json(summary)
        return
    out_console().print(
        f"wrote {out}: {summary['events']:,} events ({summary['columns']}), "
        f"{summary['new_users']:,} new users, {summary['new_items']:,} new items, "
        f"{epochs} epochs in {seconds:.1f} s"
    )
