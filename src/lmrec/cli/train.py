"""``lmrec train``, ``pretrain`` and ``finetune``: fit a model for a split's test part and
write its run directory (:mod:`lmrec.runs`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from lmrec.cli.options import (
    ColumnsOpt,
    DataDirOpt,
    DataName,
    JsonOpt,
    OutOpt,
    ParamOpt,
    SeedOpt,
    SepOpt,
    SplitOpt,
    check_out,
    command_argv,
    err_console,
    out_console,
    parse_columns,
    print_json,
)
from lmrec.errors import ConfigError
from lmrec.models.registry import model_names


def train(
    name_or_path: DataName,
    out: OutOpt,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model name: " + ", ".join(sorted(model_names())),
            show_default=False,
        ),
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            help="Tasks for one Transformer backbone instead of --model: next, behaviour, "
            "rating, or next,behaviour / next,rating (multi-task; --param lambda=W weighs "
            "the second task).",
            show_default=False,
        ),
    ] = None,
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
    from lmrec.models.params import parse_params, task_model

    check_out(out)
    pairs = list(param or [])
    if (model is None) == (tasks is None):
        raise ConfigError("give --model NAME or --tasks next,behaviour,... (one of them)")
    if tasks is not None:
        model, pairs = task_model(tasks, pairs)
    assert model is not None
    params = parse_params(model, pairs, seed)
    if text is not None or text_model is not None:
        if model != "transformer":
            raise ConfigError(f"--text and --text-model need --model transformer, not {model!r}")
        params["fusion"] = text or "add"
        if text_model is not None:
            from lmrec.text.encoder import TextEncoder

            TextEncoder(text_model)  # a bad path fails now, not after loading the data
            params["text_model"] = text_model
    fit_and_save(
        name_or_path, model, params, out, split, seed, parse_columns(columns), sep, data, as_json
    )


def pretrain(
    name_or_path: DataName,
    out: OutOpt,
    param: ParamOpt = None,
    split: SplitOpt = "loo",
    seed: SeedOpt = 0,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    data: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pretrain the behaviour Transformer by masked-item modelling on every behaviour."""
    from lmrec.models.params import parse_params

    check_out(out)
    params = parse_params("transformer", ["objective=masked", *(param or [])], seed)
    fit_and_save(
        name_or_path,
        "transformer",
        params,
        out,
        split,
        seed,
        parse_columns(columns),
        sep,
        data,
        as_json,
    )


def finetune(
    pretrained: Annotated[
        Path, typer.Argument(help="A run directory written by `lmrec pretrain`.")
    ],
    out: OutOpt,
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
    from lmrec.models.params import parse_params
    from lmrec.runs import read_run

    check_out(out)
    run = read_run(pretrained)
    if run.model != "transformer":
        raise ConfigError(f"{pretrained}: holds a {run.model} run; finetune needs a transformer")
    extra = [f"objective={objective}", f"finetune_mode={mode}", *(param or [])]
    params = {**run.params, **parse_params("transformer", extra, run.seed)}
    params["init_from"] = str(pretrained)  # run.json and config.json store it relative to --out
    params["target_behaviour"] = target_behaviour
    fit_and_save(
        run.data,
        "transformer",
        params,
        out,
        run.split,
        run.seed,
        run.columns,
        run.sep,
        run.data_dir,
        as_json,
    )


def fit_and_save(
    name_or_path: str,
    model: str,
    params: dict[str, Any],
    out: Path,
    split: str,
    seed: int,
    columns: dict[str, str] | None,
    sep: str | None,
    data: str | Path | None,
    as_json: bool,
) -> None:
    """Build the split, fit ``model`` for its test part, write the run directory."""
    from lmrec.models.registry import make_model, model_class, model_params
    from lmrec.runs import RUN_FILE, RunInfo, build_split, portable_command, save_run

    dataset, the_split = build_split(name_or_path, data, columns, sep, split, seed)
    if as_json and "progress" not in params and "progress" in model_params(model_class(model)):
        params = {**params, "progress": False}  # per-epoch lines would go to stdout
    estimator = make_model(model, **params)
    fit_data = the_split.fit_data("test")
    err_console().print(f"fitting {model} on {len(fit_data.interactions):,} interactions…")
    start = time.perf_counter()
    estimator.fit_split(the_split, "test")
    fit_seconds = time.perf_counter() - start
    info = RunInfo(
        data=name_or_path,
        split=split,
        seed=seed,
        model=model,
        params=params,
        data_dir=str(data) if data is not None else None,
        columns=columns,
        sep=sep,
        split_protocol=the_split.protocol,
        fit_seconds=fit_seconds,
        command=portable_command(command_argv()),
    )
    run = save_run(estimator, out, info)
    if as_json:
        print_json({**run, "run_dir": str(out)})
        return
    if run["data_kind"] == "file":
        err_console().print(
            f"note: {RUN_FILE} stores the data file as {run['data']!r}, relative to this "
            "directory (and to the run directory), so evaluate from here or keep them together",
            style="dim",
        )
    curves = " curves.jsonl," if (out / "curves.jsonl").is_file() else ""
    out_console().print(
        f"fitted {estimator!r} on {dataset} · {the_split.protocol} · "
        f"train+valid ({len(fit_data.interactions):,} interactions) in {fit_seconds:.2f} s\n"
        f"saved to {out}/ (config.json, model.safetensors, idmap.json, items.json,{curves} "
        f"{RUN_FILE})\n"
        f"next: lmrec evaluate {out}    lmrec recommend {out} --user ID"
        + (f"    lmrec plot {out}" if curves else "")
    )
