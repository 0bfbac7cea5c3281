"""Re-ranking a fitted model: the lists the evaluator judges are the re-ranked ones."""

import numpy as np
import pandas as pd
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import Dataset
from lmrec.data.split import split_dataset
from lmrec.errors import ConfigError
from lmrec.evaluate.diversity import item_space
from lmrec.evaluate.ranking import evaluate
from lmrec.models import make_model
from lmrec.models.base import mask_seen
from lmrec.rerank import Reranked


@pytest.fixture(scope="module")
def fitted():
    split = split_dataset(make_synthetic(n_users=200, n_items=120, seed=4), "loo")
    model = make_model("itemknn", k=50).fit_split(split, "test")
    fit_data = split.fit_data("test")
    return split, model, fit_data, item_space(fit_data)


def test_zero_knob_evaluates_exactly_like_the_model(fitted):
    split, model, fit_data, space = fitted
    base = evaluate(model, split, "test", progress=False).metrics
    same = evaluate(Reranked(model, fit_data, space, "mmr", 0.0), split, "test", progress=False)
    for name in ("ndcg@10", "recall@10", "ild@10", "coverage@10"):
        assert same.metrics[name] == pytest.approx(base[name]), name


@pytest.mark.parametrize("method", ["mmr", "dpp", "calibrated"])
def test_reranking_diversifies_the_evaluated_lists(fitted, method):
    split, model, fit_data, space = fitted
    base = evaluate(model, split, "test", progress=False).metrics
    reranked = Reranked(model, fit_data, space, method, 0.8)
    metrics = evaluate(reranked, split, "test", progress=False).metrics
    if method == "calibrated":
        assert metrics["calibration_kl@10"] < base["calibration_kl@10"]
    else:
        assert metrics["ild@10"] > base["ild@10"]
    assert reranked.label == f"{method}-0.8"


@pytest.mark.parametrize("method", ["mmr", "dpp", "calibrated"])
def test_probabilities_weigh_exp_of_the_scores_over_the_top_candidate(fitted, method):
    """relevance="probabilities" re-ranks exactly as "scores" would on exp(s - max s).

    It changes DPP's and calibrated lists here; MMR's stay the same on this catalogue,
    whose few category vectors make its similarity term a step that the knob 0.5 lets
    decide, and within a step any increasing relevance keeps the order."""
    _, model, fit_data, space = fitted
    users = np.arange(40)
    scores = model.score_indices(users).astype(np.float64) * 5.0  # logit-like gaps
    mask_seen(scores, fit_data.matrix("binary"), users)
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))  # no ties from underflow
    probs[np.isneginf(scores)] = -np.inf  # seen items stay out
    on_probs = Reranked(model, fit_data, space, method, 0.5, relevance="probabilities")
    on_scores = Reranked(model, fit_data, space, method, 0.5)
    lists = on_probs.lists(users, scores.copy())
    np.testing.assert_array_equal(lists, on_scores.lists(users, probs))
    changed = not np.array_equal(lists, on_scores.lists(users, scores.copy()))
    assert changed == (method != "mmr")
    assert on_probs.label == f"{method}-0.5-prob"


def test_recommend_returns_unseen_reranked_ids(fitted):
    _, model, fit_data, space = fitted
    user = fit_data.idmap.users[0]
    ids, scores = Reranked(model, fit_data, space, "dpp", 0.5).recommend([user], k=10)
    seen = set(fit_data.interactions.loc[fit_data.interactions["user_id"] == user, "item_id"])
    assert ids.shape == (1, 10) and not seen & set(ids[0]) and np.isfinite(scores).all()
    with pytest.raises(ConfigError, match="longer than the re-ranked list"):
        Reranked(model, fit_data, space, "dpp", 0.5).recommend([user], k=50)


def test_bad_settings_are_refused(fitted):
    _, model, fit_data, space = fitted
    with pytest.raises(ConfigError, match="method must be one of mmr, dpp, calibrated"):
        Reranked(model, fit_data, space, "shuffle", 0.5)
    with pytest.raises(ConfigError, match=r"diversity must be in \[0, 1\]"):
        Reranked(model, fit_data, space, "mmr", -0.1)
    with pytest.raises(ConfigError, match="relevance must be one of scores, probabilities"):
        Reranked(model, fit_data, space, "mmr", 0.5, relevance="logits")
    with pytest.raises(ConfigError, match="cannot re-rank 10 candidates into a list of 20"):
        Reranked(model, fit_data, space, "mmr", 0.5, candidates=10)
    plain = Dataset.from_frames(
        pd.DataFrame(
            {"user_id": ["u", "u", "v"], "item_id": ["a", "b", "a"], "timestamp": [1, 2, 1]}
        )
    )
    with pytest.raises(ConfigError, match="no item has a category, so calibrated"):
        Reranked(model, plain, item_space(plain), "calibrated", 0.5, list_size=1)


def test_list_diversity_checks_every_setting_and_names_itself():
    from lmrec.rerank import ListDiversity

    assert ListDiversity("dpp", 0.3).label == "dpp-0.3"
    assert (
        ListDiversity("calibrated", 0.2, relevance="probabilities").label == "calibrated-0.2-prob"
    )
    for bad, message in (
        (dict(method="zigzag", diversity=0.1), "method must be one of"),
        (dict(method="mmr", diversity=1.5), r"diversity must be in \[0, 1\]"),
        (dict(method="mmr", diversity=0.1, relevance="logits"), "relevance must be one of"),
        (dict(method="mmr", diversity=0.1, candidates=0), "candidates must be >= 1"),
        (dict(method="mmr", diversity=0.1, candidates=2.5), "whole number"),
        (dict(method="mmr", diversity=0.1, space="colour"), "item space must be one of"),
    ):
        with pytest.raises(ConfigError, match=message):
            ListDiversity(**bad)


def test_category_mix_of_a_few_items_matches_the_users_history_mix():
    from lmrec.evaluate.diversity import category_mix, history_distributions

    data = make_synthetic(n_users=30, n_items=40, seed=2)
    space = item_space(data)
    binary = data.matrix("binary")
    for u in range(5):
        items = binary[u].indices
        np.testing.assert_allclose(
            category_mix(space, items), history_distributions(data, np.array([u]), space)[0]
        )
    assert not category_mix(space, np.array([], dtype=np.int64)).any()
