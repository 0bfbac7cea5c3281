"""Every model a benchmark script can run is a valid experiment spec: its grid expands and
each grid point makes a model with valid parameters (no fitting). A script whose variants
rotted (a renamed parameter, an empty grid) fails here instead of an hour into a run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lmrec.models.registry import make_model

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(spec) -> None:
    points = spec.grid_points()
    assert points
    for params in points:
        if spec.pretrain is not None:  # the experiment pretrains, then passes the run
            make_model(spec.name, **{**params, **spec.pretrain})
            params = {**params, "init_from": "runs/pretrained"}
        make_model(spec.name, **params)


def test_every_transformer_variant_on_every_data_set_is_a_valid_spec():
    bench = _script("transformer.py")
    variants = [
        *bench.VARIANTS,
        *bench.TEXT_VARIANTS,
        *bench.SOURCE_VARIANTS,
        *bench.TUNED_VARIANTS,
        *bench.TASK_VARIANTS,
        *bench.OBJECTIVE_VARIANTS,
    ]
    for dataset in bench.DATASETS:
        for variant in variants:
            if variant == "transformer-predict-behaviours" and dataset != "jd":
                continue  # needs a target behaviour: JD's buys
            _check(bench.variant_spec(dataset, variant))


@pytest.mark.parametrize("dataset", ["instruments", "jd"])
def test_every_multi_interest_variant_is_a_valid_spec(dataset):
    bench = _script("multi_interest.py")
    for variant in bench.SOURCES[dataset]:
        _check(bench.variant_spec(dataset, variant))


def test_every_cold_start_model_and_the_cold_reference_are_valid_specs():
    bench = _script("cold_start.py")
    for dataset in ("ml-100k", "beauty"):
        for protocol, models in bench.PROTOCOL_MODELS.items():
            for model in models:
                _check(bench.model_spec(dataset, model, protocol))
        for model, grid in bench.COLD_GRIDS.items():
            spec = bench.model_spec(dataset, model, "cold-item-full")
            assert set(grid) <= set(spec.grid)
            make_model(spec.name, **{**spec.params, **bench.COLD_REFERENCE})


def test_cold_start_param_fixes_a_tuned_parameter_and_drops_it_from_the_grid():
    bench = _script("cold_start.py")
    tuned = bench.model_spec("beauty", "transformer-fusion-cold", "cold-item-full")
    assert "dropout" in tuned.grid and "id_dropout" in tuned.grid
    fixed = bench.model_spec(
        "beauty", "transformer-fusion-cold", "cold-item-full", {"dropout": 0.5, "id_dropout": 0.3}
    )
    assert fixed.params["dropout"] == 0.5 and fixed.params["id_dropout"] == 0.3
    assert "dropout" not in fixed.grid and "id_dropout" not in fixed.grid
    assert fixed.grid["id_dropout_inputs"] == [True, False]
    _check(fixed)
    plain = bench.model_spec("beauty", "transformer", "cold-item", {"dropout": 0.5})
    assert plain.params["dropout"] == 0.5 and "dropout" not in plain.grid


def test_threads_option_is_checked_and_recorded_only_when_not_the_default():
    import argparse

    workers = _script("workers.py")
    assert workers.threads_arg("1") == 1
    for bad in ("0", "-2", "two"):
        with pytest.raises(argparse.ArgumentTypeError, match="--threads"):
            workers.threads_arg(bad)
    assert workers.threads_args(workers.DEFAULT_THREADS) == []
    assert workers.threads_args(1) == ["--threads", "1"]


def test_record_command_is_quoted_for_the_shell():
    import shlex

    workers = _script("workers.py")
    cmd = workers.command("/abs/benchmarks/transformer.py", "--param", 'fusion="add"', "seed=1")
    assert cmd.startswith("python benchmarks/transformer.py --param ")
    assert shlex.split(cmd)[3:] == ['fusion="add"', "seed=1"]


def test_the_tuned_rating_head_runs_its_grid_within_cross_validation_only():
    bench = _script("ratings.py")
    for model in bench.MODELS + bench.TUNED:
        _check(bench.model_spec("ml-100k", model))
    tuned = bench.model_spec("ml-100k", "transformer-rating-tuned")
    assert tuned.grid == bench.RATING_GRID and len(tuned.grid_points()) == 4
    with pytest.raises(SystemExit, match="cross-validation"):
        bench.model_spec("instruments", "transformer-rating-tuned")
