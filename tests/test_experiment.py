"""The one experiment path (lmrec.experiment) end to end on the built-in synthetic data."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lmrec.data.registry import load_dataset
from lmrec.data.split import split_dataset
from lmrec.errors import ConfigError
from lmrec.evaluate.ranking import evaluate
from lmrec.evaluate.report import read_per_user, read_records
from lmrec.evaluate.stats import mean_ci
from lmrec.experiment import (
    ExperimentConfig,
    ModelSpec,
    check_seeds,
    compare,
    run_experiment,
    save_result,
)
from lmrec.models.registry import make_model

KNN_GRID = {"k": [2, 10, 60]}
ALS = {"factors": 8, "iterations": 4}


@pytest.fixture(scope="module")
def split():
    data = load_dataset("synthetic")
    return data.name, split_dataset(data, "loo")


@pytest.fixture(scope="module")
def result(split):
    config = ExperimentConfig("synthetic", seeds=3, command="python benchmarks/x.py --seeds 3")
    specs = [
        ModelSpec("itemknn", grid=KNN_GRID),
        ModelSpec("als", params=ALS, label="als-small"),
        ModelSpec("svd", params={"factors": 8, "iterations": 3}),
    ]
    return run_experiment(config, specs, split=split)


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_tuning_picks_the_grid_point_with_the_best_validation_score(split, result):
    _, the_split = split
    scores = {}
    for k in KNN_GRID["k"]:  # an independent computation of what tuning should see
        model = make_model("itemknn", k=k).fit_split(the_split, "valid")
        scores[k] = evaluate(model, the_split, "valid", ks=(10,), progress=False).metrics["ndcg@10"]
    assert len(set(scores.values())) > 1, "the grid must matter for this test to mean anything"
    best = max(scores, key=scores.get)
    (record,) = result.outcomes["itemknn"].records
    assert record["chosen"] == {"k": best}
    assert record["params"] == {"k": best}
    tried = {t["params"]["k"]: t["valid_ndcg@10"] for t in record["tuning"]}
    assert tried == pytest.approx(scores, abs=1e-6)
    assert "validation ndcg@10" in record["tuned_on"]


def test_a_deterministic_model_runs_once_with_a_zero_interval(result):
    (record,) = result.outcomes["itemknn"].records
    assert record["seeds"] == [0] and record["deterministic"] is True
    assert record["metrics_ci95"]["ndcg@10"] == 0.0
    assert len(record["per_seed"]) == 1


def test_seeds_give_per_seed_metrics_their_mean_and_interval(result):
    outcome = result.outcomes["als-small"]
    (record,) = outcome.records
    assert record["model"] == "als-small"
    assert record["seeds"] == [0, 1, 2] and record["deterministic"] is False
    per_seed = [m["ndcg@10"] for m in record["per_seed"]]
    assert len(set(per_seed)) > 1, "seeds must reach the model"
    assert [run.params["seed"] for run in outcome.runs] == [0, 1, 2]
    summary = mean_ci(per_seed)
    assert record["metrics"]["ndcg@10"] == pytest.approx(summary.mean, abs=1e-6)
    assert record["metrics_ci95"]["ndcg@10"] == pytest.approx(summary.half_width, abs=1e-6)
    assert record["tuning"] == [] and record["tuned_on"] == "fixed parameters (no grid)"
    assert "seed" not in record["params"]
    assert record["command"] == "python benchmarks/x.py --seeds 3"
    per_user = outcome.per_user("ndcg@10")
    assert per_user.shape == (3, record["n_users"])
    assert np.allclose(per_user.mean(axis=1), per_seed, atol=1e-6)


def test_models_pair_on_the_same_users(result):
    knn, als = result.outcomes["itemknn"], result.outcomes["als-small"]
    assert np.array_equal(knn.user_ids, als.user_ids)
    test = result.paired("itemknn", "als-small")
    expected = knn.per_user().mean(axis=0) - als.per_user().mean(axis=0)
    assert test.difference == pytest.approx(expected.mean())
    assert test.n_users == len(knn.user_ids)


def test_rating_models_get_a_rating_record_too(result):
    protocols = [r["protocol"] for r in result.outcomes["svd"].records]
    assert protocols == ["full-ranking", "rating"]
    rating = result.outcomes["svd"].records[1]
    assert rating["metrics"]["rmse"] > 0 and len(rating["per_seed"]) == 3


def test_records_hold_no_absolute_paths(result):
    for record in result.records:
        for text in _strings(record):
            assert not os.path.isabs(text), f"{record['model']}: {text!r}"
        assert record["commit"] != "" and "dirty" in record


def test_saved_results_keep_per_user_scores_beside_the_records(result, tmp_path):
    records_file = tmp_path / "results" / "bench.json"
    written = save_result(result, records_file, tmp_path / "results" / "per_user")
    stored = read_records(records_file)
    assert len(stored) == len(written) == 4
    als = next(r for r in stored if r["model"] == "als-small")
    assert als["per_user_file"] == "per_user/synthetic__als-small__full-ranking.json"
    body = read_per_user(records_file.parent / als["per_user_file"])
    assert body["seeds"] == [0, 1, 2]
    assert body["scores"]["ndcg@10"].shape == (3, als["n_users"])
    assert np.allclose(
        body["scores"]["ndcg@10"], result.outcomes["als-small"].per_user(), atol=1e-6
    )
    assert body["user_ids"] == [str(u) for u in result.outcomes["als-small"].user_ids]
    rating = next(r for r in stored if r["protocol"] == "rating")
    assert "per_user_file" not in rating
    json.dumps(stored)


@pytest.mark.parametrize("seeds", [0, -1, True, 1.5, "3"])
def test_seeds_must_be_a_positive_whole_number(seeds):
    with pytest.raises(ConfigError, match="--seeds must be a whole number of seeds >= 1"):
        check_seeds(seeds)
    with pytest.raises(ConfigError, match="--seeds"):
        ExperimentConfig("synthetic", seeds=seeds)


def test_compare_rejects_zero_seeds_before_loading_anything():
    with pytest.raises(ConfigError, match="got 0"):
        compare("no-such-data-set", ["ease"], seeds=0)


def test_seed_belongs_to_the_experiment_not_to_params(split):
    config = ExperimentConfig("synthetic", seeds=1)
    with pytest.raises(ConfigError, match="'seed' is set by the experiment"):
        run_experiment(config, [ModelSpec("als", params={"seed": 3})], split=split)


def test_compare_runs_named_models_with_a_grid():
    result = compare(
        "synthetic",
        ["popular", "ease"],
        grids_by_model={"ease": {"l2": [1.0, 1000.0]}},
        seeds=2,
    )
    assert [r["model"] for r in result.records] == ["popular", "ease"]
    assert len(result.outcomes["ease"].tuning) == 2
    assert result.outcomes["ease"].records[0]["seeds"] == [0]  # deterministic: once


def test_compare_rejects_params_for_models_it_does_not_run():
    with pytest.raises(ConfigError, match="not compared"):
        compare("synthetic", ["ease"], {"als": {"factors": 8}})


def test_an_explicit_list_of_grid_points_moves_parameters_together():
    spec = ModelSpec(
        "multi-interest",
        params={"sources": "a,b"},
        grid=[{"fusion": "fixed", "source_weights": "a=1,b=1"}, {"fusion": "learned"}],
    )
    assert spec.grid_points() == [
        {"sources": "a,b", "fusion": "fixed", "source_weights": "a=1,b=1"},
        {"sources": "a,b", "fusion": "learned"},
    ]


def test_pretraining_runs_are_shared_and_stored_as_relative_paths(split, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run_dir is relative to the working directory
    tiny = {"dim": 16, "layers": 1, "heads": 1, "max_len": 10, "epochs": 2, "progress": False}
    spec = ModelSpec(
        "transformer",
        params={**tiny, "objective": "causal"},
        grid={"dropout": [0.1, 0.2]},
        label="transformer-mlm-finetune",
        pretrain={"objective": "masked"},
    )
    config = ExperimentConfig("synthetic", seeds=1, run_dir="runs/bench")
    result = run_experiment(config, [spec], split=split)
    (record,) = result.records
    init_from = record["params"]["init_from"]
    assert not os.path.isabs(init_from) and init_from.startswith("runs/bench/synthetic-")
    assert (tmp_path / init_from / "config.json").is_file()
    # one pretraining run per (grid point, seed): two for tuning, the chosen one reused
    assert len(list((tmp_path / "runs" / "bench").iterdir())) == 2
    assert record["per_seed_info"][0]["pretrain"]["epochs_run"] >= 1
    assert record["chosen"]["dropout"] in (0.1, 0.2)


def test_seed_zero_reuses_the_tuning_fit_and_matches_a_fresh_fit(split):
    """A Transformer's tuning fit (train, early stopping on valid) extended to test gives the
    numbers a fresh fit_split(test) with seed 0 gives: reuse saves time, changes nothing."""
    name, the_split = split
    tiny = {"dim": 16, "layers": 1, "heads": 1, "max_len": 10, "epochs": 3, "progress": False}
    spec = ModelSpec("transformer", params=tiny, grid={"dropout": [0.1, 0.3]})
    result = run_experiment(ExperimentConfig(name, seeds=1), [spec], split=split)
    outcome = result.outcomes["transformer"]
    chosen = outcome.chosen
    fresh = make_model("transformer", **{**tiny, **chosen, "seed": 0})
    fresh.fit_split(the_split, "test")
    expected = evaluate(fresh, the_split, "test", progress=False).metrics
    got = outcome.runs[0].results[0].metrics
    assert got["ndcg@10"] == pytest.approx(expected["ndcg@10"], abs=1e-12)
    assert got["recall@20"] == pytest.approx(expected["recall@20"], abs=1e-12)
    assert outcome.model.extend_fit(the_split, "test") is True
    assert make_model("ease").extend_fit(the_split, "test") is False  # EASE refits for test


def test_the_transformer_stops_early_under_the_experiments_repeat_mode():
    tiny = {"dim": 8, "layers": 1, "heads": 1, "max_len": 8, "epochs": 1, "progress": False}
    result = compare("synthetic-repeats", ["transformer"], {"transformer": tiny}, mode="repeats")
    (run,) = result.outcomes["transformer"].runs
    assert run.params["eval_mode"] == "repeats"
    assert run.results[0].protocol == "full-ranking-repeats"
    with pytest.raises(ConfigError, match="sometimes"):
        make_model("transformer", eval_mode="sometimes")


def test_rating_cross_validation_chooses_a_grid_on_the_first_folds_training_ratings():
    """k-fold RMSE with a grid: every point scored on ratings held out of fold 1's training
    part (never a test part), the lowest RMSE fitted on every fold, the choice recorded."""
    from lmrec.experiment import cross_validate_ratings

    spec = ModelSpec("svd", params={"factors": 8}, grid={"iterations": [1, 20]})
    record = cross_validate_ratings("synthetic", spec, n_splits=3)
    assert [row["params"] for row in record["tuning"]] == [{"iterations": 1}, {"iterations": 20}]
    errors = [row["valid_rmse"] for row in record["tuning"]]
    assert record["chosen"] == record["tuning"][int(np.argmin(errors))]["params"]
    assert record["params"]["iterations"] == record["chosen"]["iterations"]
    assert record["params"]["factors"] == 8
    assert len(record["per_fold"]) == 3 and record["metrics"]["rmse"] > 0
    plain = cross_validate_ratings("synthetic", ModelSpec("svd", params={"factors": 8}), n_splits=3)
    assert "tuning" not in plain and "chosen" not in plain
