"""Behaviour prediction in the experiment path: every behaviour model is scored on the same
held-out candidates, and its records and per-example files carry AUC, GAUC, LogLoss, ECE."""

import numpy as np
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.split import leave_one_out
from lmrec.errors import CapabilityError
from lmrec.evaluate.behaviour import behaviour_candidates, evaluate_behaviour
from lmrec.evaluate.report import read_per_user
from lmrec.experiment import ExperimentConfig, ModelSpec, run_experiment, save_result
from lmrec.models.gbdt import LightGBMBehaviour
from lmrec.models.registry import make_model


@pytest.fixture(scope="module")
def split():
    return leave_one_out(make_synthetic(n_users=200, n_items=100, seed=2))


def test_two_models_get_the_same_candidates(split):
    a = LightGBMBehaviour(target="buy", n_estimators=20).fit_split(split, "test")
    b = LightGBMBehaviour(target="buy", n_estimators=5, num_leaves=4).fit_split(split, "test")
    ca, cb = behaviour_candidates(a, split), behaviour_candidates(b, split)
    np.testing.assert_array_equal(ca.user_ids, cb.user_ids)
    np.testing.assert_array_equal(ca.item_ids, cb.item_ids)
    assert not np.allclose(ca.probabilities, cb.probabilities)
    result = evaluate_behaviour(a, split)
    assert result.protocol == "behaviour-buy"
    assert set(result.metrics) == {"auc", "gauc", "logloss", "ece", "positive_rate"}
    # buy: every example has its positive, so every example has a pair AUC
    assert len(result.ids) == result.n_targets == len(result.per_user["pair_auc"])
    assert not np.isnan(result.per_user["pair_auc"]).any()
    assert result.metrics["positive_rate"] == pytest.approx(1 / 5)  # 1 positive, 4 negatives


def test_a_ranking_model_has_no_behaviour_predictions(split):
    with pytest.raises(CapabilityError, match="predict_behaviour"):
        behaviour_candidates(make_model("popular").fit(split.train), split)


def test_experiment_records_and_per_example_files(tmp_path, split):
    config = ExperimentConfig("synthetic", split="loo", seeds=2)
    spec = ModelSpec("lightgbm", params={"target": "like", "n_estimators": 20})
    result = run_experiment(config, [spec], split=("synthetic", split))
    records = save_result(result, tmp_path / "r.json", tmp_path / "per_user")
    (behaviour,) = [r for r in records if r["protocol"] == "behaviour-like"]
    assert behaviour["seeds"] == [0, 1] and "auc" in behaviour["metrics_ci95"]
    per_example = read_per_user(tmp_path / behaviour["per_user_file"])
    assert per_example["scores"]["logloss"].shape == (2, len(per_example["user_ids"]))
    # like: a held-out rating below 4 has no positive, so no pair AUC (NaN, stored as null)
    labels_positive = split.test["rating"].to_numpy() >= 4
    assert np.isnan(per_example["scores"]["pair_auc"][0]).sum() == (~labels_positive).sum()


def test_no_held_out_event_of_the_task_leaves_the_ranking_metrics_alone(split):
    from dataclasses import replace

    from lmrec.experiment import score_fitted

    clicks = replace(split, test=split.test[split.test["behaviour"] != "buy"])
    model = LightGBMBehaviour(target="buy", n_estimators=5).fit_split(clicks, "test")
    (result,) = score_fitted(model, clicks, "test")
    assert result.protocol == "full-ranking"
