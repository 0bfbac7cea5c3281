"""The repeat baseline: the model contract, its formula, and what each protocol makes of it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import Dataset
from lmrec.data.split import leave_one_out
from lmrec.errors import ConfigError
from lmrec.evaluate.ranking import evaluate
from lmrec.models import make_model
from lmrec.models.popular import MostPopular
from lmrec.models.repeat import RepeatBaseline

# The model contract (shapes, filters, save/load, capabilities, threads) runs on the repeat
# baseline through tests/models/test_contract.py, which covers every registered model.


@pytest.mark.parametrize("bad", [{"blend": 1.5}, {"decay": 0.0}])
def test_out_of_range_parameters_are_refused(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        make_model("repeat", **bad)


def _history(items: list[str]) -> Dataset:
    rows = [("a", i, float(t)) for t, i in enumerate(items)]
    rows += [("b", "w", 0.0), ("c", "w", 0.0), ("c", "v", 1.0), ("d", "v", 2.0)]
    rows += [("e", "z", 0.0), ("e", "w", 1.0), ("f", "w", 0.0)]
    return Dataset.from_frames(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


def test_scores_follow_the_formula():
    data = _history(["x", "y", "x", "z"])  # a: x twice (last 1 event ago), y once, z last
    model = RepeatBaseline(blend=0.5, decay=0.5).fit(data)
    scores = dict(zip(model.item_ids, model.score(["a"])[0].tolist(), strict=True))
    assert scores["z"] == pytest.approx(1 + 0.5 * 1.0 + 0.5 * 1 / 4)
    assert scores["x"] == pytest.approx(1 + 0.5 * 0.5 + 0.5 * 2 / 4)
    assert scores["y"] == pytest.approx(1 + 0.5 * 0.25 + 0.5 * 1 / 4)
    # Items a never had: popularity (distinct users) / (1 + max popularity), below 1.
    assert scores["w"] == pytest.approx(4 / 5) and scores["v"] == pytest.approx(2 / 5)
    recency_only = RepeatBaseline(blend=1.0).fit(data)
    assert list(recency_only.recommend("a", k=3, exclude_seen=False)[0]) == ["z", "x", "y"]
    frequency_only = RepeatBaseline(blend=0.0).fit(data)
    assert frequency_only.recommend("a", k=1, exclude_seen=False)[0][0] == "x"
    # Raw histories score the same way as fitted users.
    np.testing.assert_allclose(model.score_histories([["x", "y", "x", "z"]]), model.score(["a"]))


def test_repeat_baseline_earns_under_repeats_and_nothing_under_new_items():
    data = make_synthetic(n_users=120, n_items=80, repeat=0.4, seed=3)
    split = leave_one_out(data)
    fit = split.fit_data("test")
    repeat = RepeatBaseline().fit(fit)
    popular = MostPopular().fit(fit)
    new_repeat = evaluate(repeat, split, "test", progress=False, mode="new-items")
    new_popular = evaluate(popular, split, "test", progress=False, mode="new-items")
    # Seen items are excluded, so the repeat baseline is popularity: the same ranks.
    assert new_repeat.metrics["ndcg@10"] == pytest.approx(new_popular.metrics["ndcg@10"])
    assert new_repeat.repeat_targets > 20
    rep_repeat = evaluate(repeat, split, "test", progress=False, mode="repeats")
    rep_popular = evaluate(popular, split, "test", progress=False, mode="repeats")
    assert rep_repeat.metrics["ndcg@10"] > 2 * rep_popular.metrics["ndcg@10"]


def test_registered_by_name():
    assert isinstance(make_model("repeat", decay=0.8), RepeatBaseline)
    assert RepeatBaseline.supports("score_histories") and RepeatBaseline.scores_seen_items


def test_transformer_scores_seen_items_and_learns_repeats():
    """The Transformer masks nothing: under "repeats" it can rank a user's own items, and on a
    world where users come back it learns to (beats popularity on the repeat targets)."""
    from lmrec.models.sequential import SequenceTransformer

    data = make_synthetic(n_users=100, n_items=40, max_len=20, repeat=0.5, seed=4)
    split = leave_one_out(data)
    model = SequenceTransformer(
        dim=16, heads=2, layers=1, max_len=20, epochs=5, batch_size=64, progress=False, seed=0
    )
    model.fit_split(split, "test")
    seen = model.seen_
    scores = model.score_indices(np.arange(data.n_users))
    assert np.isfinite(scores[seen.nonzero()]).all()
    top, _ = model.recommend(data.idmap.users[:20], k=5, exclude_seen=False)
    had = [
        set(split.fit_data("test").interactions.query("user_id == @u")["item_id"])
        for u in data.idmap.users[:20]
    ]
    assert any(set(row) & own for row, own in zip(top, had, strict=True))
    rep = evaluate(model, split, "test", progress=False, mode="repeats")
    pop = evaluate(
        MostPopular().fit(split.fit_data("test")), split, "test", progress=False, mode="repeats"
    )
    assert rep.protocol == "full-ranking-repeats"
    assert rep.metrics["ndcg@10"] > pop.metrics["ndcg@10"]
