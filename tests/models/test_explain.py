"""Explanations: gradient × input over a history, checked against the model's own scores."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.split import leave_one_out
from lmrec.errors import CapabilityError, ConfigError, UnknownIdError
from lmrec.models.registry import make_model

FAST = dict(dim=32, heads=2, layers=1, max_len=20, epochs=10, batch_size=64, progress=False)


@pytest.fixture(scope="module")
def fitted():
    split = leave_one_out(make_synthetic(n_users=150, n_items=120, seed=3))
    return make_model("transformer", **FAST).fit(split.train)


def test_attributions_cover_the_history_and_rank_strongest_first(fitted):
    user = fitted.idmap_.users[0]
    (item,), _ = fitted.recommend(user, k=1)
    out = fitted.explain(user, item, top=100)
    history = [fitted.idmap_.items[i - 1] for i in fitted.sequences_.items[0][-fitted.max_len :]]
    assert sorted(a.item_id for a in out) == sorted(str(i) for i in history)
    values = [a.attribution for a in out]
    assert values == sorted(values, reverse=True)
    assert abs(sum(a.share for a in out) - 1) < 1e-6
    assert fitted.explain(user, item, top=2) == out[:2]
    assert fitted.explain(user, item, top=None) == out  # every event read
    for a in out:  # split at the blocks' input: the item vector and the behaviour token
        assert set(a.sources) == {"item", "behaviour"}
    # A raw history gets the same explanation as the user with that history.
    raw = fitted.explain(history=[str(i) for i in history], item_id=item, top=100)
    behaviours = {a.behaviour for a in out}
    if behaviours == {"click"}:
        np.testing.assert_allclose([a.attribution for a in raw], values, rtol=1e-4, atol=1e-6)


def test_deleting_top_attributed_events_lowers_the_score_more_than_random(fitted):
    rng = np.random.default_rng(0)
    top_drops, random_drops = [], []
    for u in range(40):
        user = fitted.idmap_.users[u]
        history = [str(fitted.idmap_.items[i - 1]) for i in fitted.sequences_.items[u]]
        history = history[-fitted.max_len :]
        if len(history) < 6:
            continue
        (item,), _ = fitted.recommend(user, k=1)
        col = fitted.idmap_.item_index([item])[0]
        ranked = fitted.explain(history=history, item_id=item, top=len(history))
        full = fitted.score_histories([history])[0, col]
        top3 = {a.position for a in ranked[:3]}
        rand3 = set(rng.choice(len(history), size=3, replace=False).tolist())
        for drop, removed in ((top_drops, top3), (random_drops, rand3)):
            kept = [h for j, h in enumerate(history) if j not in removed]
            drop.append(full - fitted.score_histories([kept])[0, col])
    assert len(top_drops) >= 20
    assert np.mean(top_drops) > np.mean(random_drops)


def test_bad_input_and_models_without_explanations(fitted):
    user = fitted.idmap_.users[0]
    with pytest.raises(ConfigError, match="exactly one of user_id or history"):
        fitted.explain(item_id=fitted.idmap_.items[0])
    with pytest.raises(ConfigError, match="give the item_id"):
        fitted.explain(user)
    with pytest.raises(UnknownIdError):
        fitted.explain(user, "no-such-item")
    with pytest.raises(ConfigError, match="top must be an int >= 1"):
        fitted.explain(user, fitted.idmap_.items[0], top=0)
    ease = make_model("ease")
    with pytest.raises(CapabilityError, match=r"does not support 'explain'.*transformer"):
        ease.explain("u", "i")
