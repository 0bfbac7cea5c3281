"""The Transformer's rating head (transformer-rating): what it reads, what it learns, errors.

The contract suite (test_contract.py) already runs the model through fit / score / save /
load / capabilities; these tests check what is specific to the rating task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.data.schema import Dataset
from lmrec.data.split import hold_out_ratings
from lmrec.errors import ConfigError
from lmrec.models import load, make_model
from lmrec.train.objectives import HiddenRating
from lmrec.train.sequences import rating_batch, rating_levels, user_sequences

TINY = {"dim": 16, "layers": 1, "heads": 1, "max_len": 12, "warmup_steps": 2, "progress": False}


def item_quality_data(n_users: int = 60, n_items: int = 20, seed: int = 0) -> Dataset:
    """Ratings that depend only on the item (item j is rated 1 + j mod 5), each user rating
    10 random items: a model that learns anything about items beats the global mean."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for t, j in enumerate(rng.choice(n_items, 10, replace=False)):
            rows.append((f"u{u}", f"i{j}", float(1 + j % 5), 100.0 * u + t))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return Dataset.from_frames(frame, name="item-quality")


def test_rating_levels_cover_half_stars_and_missing() -> None:
    levels = rating_levels(np.array([np.nan, 0.5, 1.0, 3.5, 5.0, 7.0]))
    assert levels.tolist() == [0, 1, 2, 7, 10, 10]


def test_hidden_ratings_never_reach_the_context(tiny: Dataset) -> None:
    seqs = user_sequences(tiny)
    task = HiddenRating(seqs, max_len=50, hide_prob=0.5)
    rng = np.random.default_rng(0)
    inputs = task.batch(np.arange(len(task.users)), rng)
    targets = inputs["rating_targets"].numpy()
    for row, u in enumerate(task.users):
        n_hidden = int((~np.isnan(targets[row])).sum())
        assert 1 <= n_hidden < len(seqs.items[u])  # at least one hidden, one shown
        context = inputs["items"][row]
        assert int((context != 0).sum()) == len(seqs.items[u]) - n_hidden


def test_a_query_is_rated_the_same_alone_or_with_others(tiny: Dataset) -> None:
    model = make_model("transformer-rating", epochs=1, **TINY).fit(tiny)
    together = model.predict(["u0"] * 4, ["i0", "i1", "i2", "i3"])
    alone = [model.predict(["u0"], [item])[0] for item in ("i0", "i1", "i2", "i3")]
    np.testing.assert_allclose(together, alone, rtol=1e-5)


def test_the_rating_head_reads_the_history_ratings(tiny: Dataset) -> None:
    """Changing the ratings shown in a history changes the prediction: they are inputs."""
    model = make_model("transformer-rating", epochs=1, **TINY).fit(tiny)
    seqs = model.sequences_
    row = 0
    query = [np.array([2])]
    net = model.net_
    with torch.no_grad():
        before = net(**rating_batch(seqs, np.array([row]), query, 12))[0]
        seqs.ratings[row][:] = np.where(seqs.ratings[row] > 3, 1.0, 5.0)
        after = net(**rating_batch(seqs, np.array([row]), query, 12))[0]
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("sequence_weight", [0.0, 1.0])
def test_it_learns_item_quality_better_than_the_mean(sequence_weight: float) -> None:
    data = item_quality_data()
    test_data = item_quality_data(seed=1)  # the same items, other users' draws
    model = make_model(
        "transformer-rating",
        epochs=40,
        lr=5e-3,
        batch_size=16,
        patience=40,
        sequence_weight=sequence_weight,
        seed=0,
        **TINY,
    ).fit(data)
    frame = test_data.interactions
    predicted = model.predict(list(frame["user_id"]), list(frame["item_id"]))
    actual = frame["rating"].to_numpy()
    rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
    baseline = float(np.sqrt(np.mean((actual - data.interactions["rating"].mean()) ** 2)))
    assert rmse < 0.6 * baseline, (rmse, baseline)


def test_rating_only_ranks_by_predicted_rating(tiny: Dataset) -> None:
    model = make_model("transformer-rating", epochs=1, sequence_weight=0.0, **TINY).fit(tiny)
    scores = model.score(["u1"])[0]
    items = list(model.idmap_.items)
    predicted = model._predict_pairs(model.sequences_, ["u1"] * len(items), items, model.net_)
    np.testing.assert_allclose(scores, predicted, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="ratings alone"):
        model.explain("u1", "i0")


def test_save_and_load_keep_predictions(tiny: Dataset, tmp_path) -> None:
    model = make_model("transformer-rating", epochs=1, **TINY).fit(tiny)
    model.save(tmp_path / "run")
    again = load(tmp_path / "run")
    pairs = (["u0", "u1", "nobody"], ["i0", "i_new", "i3"])
    np.testing.assert_allclose(again.predict(*pairs), model.predict(*pairs), rtol=1e-6)


def test_holdout_keeps_every_user_rated(tiny: Dataset) -> None:
    kept, held = hold_out_ratings(tiny, 0.2, seed=0)
    assert len(kept.interactions) + len(held) == len(tiny.interactions)
    assert len(held) > 0 and set(held["user_id"]) <= set(kept.interactions["user_id"])


def test_without_ratings_the_error_says_what_to_use(tiny_clicks: Dataset) -> None:
    with pytest.raises(ConfigError, match=r"no ratings to learn from.*transformer"):
        make_model("transformer-rating", epochs=1, **TINY).fit(tiny_clicks)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rating_weight": 0.0}, "rating_weight must be > 0"),
        ({"sequence_weight": -1.0}, "sequence_weight must be >= 0"),
        ({"hide_prob": 1.0}, r"hide_prob must be in \(0, 1\)"),
        ({"stop_on": "auc"}, "stop_on must be one of"),
        ({"stop_on": "ndcg", "sequence_weight": 0.0}, "needs the next-item task"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_model("transformer-rating", **params)
