"""``lmrec compress``: a pruned and/or int8 copy of a Transformer run, for serving."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.options import JsonOpt, OutOpt, RunDirArg, check_out, out_console, print_json


def compress(
    run_dir: RunDirArg,
    out: OutOpt,
    quantize: Annotated[
        str | None,
        typer.Option(
            "--quantize", help="int8: score through int8 linear layers.", show_default=False
        ),
    ] = None,
    prune: Annotated[
        float,
        typer.Option(
            "--prune", help="Share of each weight matrix to zero by magnitude, in [0, 1)."
        ),
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Write RUN's Transformer, pruned and/or quantized, as a new run (RUN is left as is).

    Check the cost with `lmrec evaluate OUT`; BENCHMARKS.md has it measured on Beauty."""
    from dataclasses import replace

    from lmrec.cli.options import command_argv
    from lmrec.errors import ConfigError
    from lmrec.models.compress import check_compression, weight_sparsity
    from lmrec.runs import load_run, portable_command, save_run

    check_compression(quantize, prune)
    if quantize is None and prune == 0:
        raise ConfigError("nothing to do: give --quantize int8 and/or --prune SHARE")
    check_out(out)
    if out.resolve() == Path(run_dir).resolve():
        raise ConfigError(f"--out {out}: give a new directory; {run_dir} is kept as it is")
    model, run = load_run(run_dir)
    if model.model_type != "transformer":
        raise ConfigError(
            f"{run_dir}: compress applies to transformer runs, and this is a "
            f"{model.model_type!r} run"
        )
    model.compress(quantize=quantize, prune=prune)
    params = {**run.params, "quantize": model.quantize, "prune": model.prune}
    save_run(model, out, replace(run, params=params, command=portable_command(command_argv())))
    weights, zero_share = weight_sparsity(model.net_)
    summary = {
        "run": str(out),
        "from": str(run_dir),
        "quantize": model.quantize,
        "prune": model.prune,
        "weights": weights,
        "zero_share": round(zero_share, 4),
    }
    if as_json:
        print_json(summary)
        return
    out_console().print(
        f"wrote {out}: quantize={model.quantize}, prune={model.prune} "
        f"({summary['zero_share']:.1%} of {weights:,} weights are zero)"
    )
