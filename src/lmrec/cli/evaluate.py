"""``lmrec evaluate``: score a run directory on its split's test (or valid) part."""

from __future__ import annotations

import time

from lmrec.cli.options import (
    JsonOpt,
    NegativesOpt,
    OnOpt,
    ProtocolOpt,
    RunDirArg,
    check_on,
    err_console,
    out_console,
    print_json,
    show_progress,
)


def evaluate_cmd(
    run_dir: RunDirArg,
    on: OnOpt = "test",
    negatives: NegativesOpt = None,
    protocol: ProtocolOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a trained run on its split's test (or valid) part: full ranking by default."""
    from lmrec.evaluate.ranking import check_mode, resolve_mode
    from lmrec.evaluate.report import describe_protocol, metrics_by_k_table, metrics_table
    from lmrec.experiment import fitted_records, score_fitted
    from lmrec.models.registry import make_model
    from lmrec.runs import check_same_ids, load_run, rebuild_split

    check_on(on)
    mode = resolve_mode(protocol)
    model, run = load_run(run_dir)
    check_mode(model, mode)
    dataset, split = rebuild_split(run)
    fit_seconds = run.fit_seconds
    if on == "valid":
        err_console().print(
            f"note: --on valid refits {run.model} on the train part only (the saved model "
            "saw the validation targets in train+valid)"
        )
        model = make_model(run.model, **run.params)
        start = time.perf_counter()
        model.fit_split(split, "valid")
        fit_seconds = time.perf_counter() - start
    else:
        check_same_ids(model, split.fit_data("test"), run_dir)
    results = score_fitted(
        model,
        split,
        on,
        negatives=negatives,
        mode=mode,
        progress=show_progress(),  # type: ignore[arg-type]
    )
    records = fitted_records(
        run.model, dataset, split, on, results, fit_seconds, run.recorded["params"]
    )
    for note in dict.fromkeys(r.note for r in results if r.note):
        err_console().print(f"note: {note}", style="yellow")
    if as_json:
        print_json(records)
        return
    console = out_console()
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
