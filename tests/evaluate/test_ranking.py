"""The chunked evaluator against a brute-force ranking of every user."""

import math

import numpy as np
import pandas as pd
import pytest

from lmrec.data.schema import Dataset
from lmrec.data.split import leave_one_out
from lmrec.evaluate.ranking import evaluate, evaluate_targets
from lmrec.models.base import Recommender


class FixedScores(Recommender):
    """A 'model' whose scores are a given matrix: lets tests control every tie."""

    model_type = "fixed-scores-test"

    def __init__(self, table: np.ndarray | None = None):
        self.table = table

    def _fit(self, train, valid):
        self.table_ = np.asarray(self.table, dtype=np.float32)

    def _score(self, users):
        return self.table_[users]


def _toy(n_users=30, n_items=25, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for t, i in enumerate(rng.choice(n_items, size=rng.integers(3, 9), replace=False)):
            rows.append((f"u{u}", f"i{i}", float(t)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Dataset.from_frames(frame, name="toy")


def _brute_force_ndcg_hr(table, split, k):
    """Average over 2,000 random tie orders of the single-target NDCG/HR."""
    fit = split.fit_data("test")
    seen = fit.matrix("binary").toarray() > 0
    rng = np.random.default_rng(1)
    ndcg, hr = [], []
    for _, row in split.test.iterrows():
        u = fit.idmap.user_index([row.user_id])[0]
        t = fit.idmap.item_index([row.item_id])[0]
        cand = np.flatnonzero(~seen[u] | (np.arange(seen.shape[1]) == t))
        vals = []
        for _ in range(200):
            noise = rng.random(len(cand))
            order = cand[np.lexsort((noise, -table[u, cand]))]
            pos = int(np.flatnonzero(order == t)[0])
            vals.append((pos < k, (pos < k) / math.log2(pos + 2)))
        hr.append(np.mean([v[0] for v in vals]))
        ndcg.append(np.mean([v[1] for v in vals]))
    return float(np.mean(ndcg)), float(np.mean(hr))


def test_matches_brute_force_with_heavy_ties():
    data = _toy()
    split = leave_one_out(data)
    rng = np.random.default_rng(0)
    table = rng.integers(0, 4, size=(data.n_users, data.n_items)).astype(np.float32)
    model = FixedScores(table).fit(split.fit_data("test"))
    result = evaluate(model, split, "test", ks=(5,), progress=False)
    ndcg, hr = _brute_force_ndcg_hr(table, split, 5)
    assert result.metrics["ndcg@5"] == pytest.approx(ndcg, abs=0.02)
    assert result.metrics["hr@5"] == pytest.approx(hr, abs=0.02)
    assert result.protocol == "full-ranking"
    assert result.n_users == split.test["user_id"].nunique()


def test_chunk_size_does_not_change_results():
    data = _toy(seed=3)
    split = leave_one_out(data)
    table = np.random.default_rng(2).normal(size=(data.n_users, data.n_items))
    model = FixedScores(table).fit(split.fit_data("test"))
    big = evaluate(model, split, "test", chunk_size=1000, progress=False).metrics
    small = evaluate(model, split, "test", chunk_size=1, progress=False).metrics
    assert big == pytest.approx(small)


def test_seen_items_are_excluded_but_the_target_is_not():
    data = _toy(seed=4)
    split = leave_one_out(data)
    fit = split.fit_data("test")
    seen = fit.matrix("binary").toarray() > 0
    # Seen items get the highest scores: if they were not excluded every target would fall.
    table = np.where(seen, 10.0, 0.0)
    tu = fit.idmap.user_index(split.test["user_id"])
    ti = fit.idmap.item_index(split.test["item_id"])
    table[tu, ti] = 5.0
    model = FixedScores(table).fit(fit)
    result = evaluate(model, split, "test", ks=(1,), progress=False)
    assert result.metrics["hr@1"] == 1.0
    # A target the user had already seen stays a candidate (repeat consumption).
    repeat = split.test.iloc[[0]].copy()
    repeat["item_id"] = fit.interactions.loc[
        fit.interactions.user_id == repeat.user_id.iloc[0], "item_id"
    ].iloc[0]
    u = fit.idmap.user_index(repeat["user_id"])[0]
    i = fit.idmap.item_index(repeat["item_id"])[0]
    table2 = np.zeros_like(table)
    table2[u, i] = 1.0
    model2 = FixedScores(table2).fit(fit)
    assert evaluate_targets(model2, fit, repeat, ks=(1,), progress=False).metrics["hr@1"] == 1.0


def test_constant_scores_give_random_ranking_metrics():
    data = _toy(seed=5)
    split = leave_one_out(data)
    fit = split.fit_data("test")
    model = FixedScores(np.zeros((data.n_users, data.n_items))).fit(fit)
    result = evaluate(model, split, "test", ks=(5,), progress=False)
    seen = fit.matrix("binary").toarray() > 0
    u = fit.idmap.user_index(split.test["user_id"])
    candidates = ~seen[u]
    candidates[np.arange(len(u)), fit.idmap.item_index(split.test["item_id"])] = True
    n_candidates = candidates.sum(axis=1)
    assert result.metrics["hr@5"] == pytest.approx(np.mean(np.minimum(5 / n_candidates, 1)))


def test_sampled_negatives_are_labelled_and_easier():
    data = _toy(n_items=60, seed=6)
    split = leave_one_out(data)
    table = np.random.default_rng(0).normal(size=(data.n_users, data.n_items))
    model = FixedScores(table).fit(split.fit_data("test"))
    full = evaluate(model, split, "test", ks=(10,), progress=False)
    sampled = evaluate(model, split, "test", ks=(10,), negatives=9, progress=False)
    assert sampled.protocol == "sampled-9"
    assert sampled.metrics["hr@10"] == 1.0  # 9 negatives + the target always fit in a top 10
    assert full.metrics["hr@10"] < 1.0
