"""The LightGBM behaviour baseline: its features are right, both feature paths agree, it
learns, and it round-trips."""

import numpy as np
import pandas as pd
import pytest

import lmrec.models
from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import Dataset
from lmrec.data.split import leave_one_out
from lmrec.evaluate.binary import auc
from lmrec.models.gbdt import FEATURES, HistoryFeatures, LightGBMBehaviour
from lmrec.train.behaviour import held_out_examples
from lmrec.train.sequences import user_sequences


@pytest.fixture(scope="module")
def split():
    return leave_one_out(make_synthetic(n_users=300, n_items=120, seed=1))


def test_features_of_a_small_history():
    frame = pd.DataFrame(
        {
            "user_id": ["u"] * 4 + ["v"],
            "item_id": ["a", "b", "a", "a", "b"],
            "behaviour": ["view", "view", "fav", "buy", "buy"],
            "timestamp": [1.0, 2.0, 3.0, 4.0, 1.0],
            "rating": [np.nan, 4.0, np.nan, np.nan, 2.0],
        }
    )
    data = Dataset.from_frames(
        frame, pd.DataFrame({"item_id": ["a", "b"], "categories": [["x"], ["x", "y"]]})
    )
    seqs = user_sequences(data)
    features = HistoryFeatures.from_data(data, seqs)
    u = int(data.idmap.user_index(["u"])[0])
    a, b = data.idmap.item_index(["a", "b"])
    # u's history before the buy at position 3: view a, view b, fav a; the buy is "own"
    x = features.for_user(u, np.array([3, 3]), np.array([a, b]), np.array([True, False]))
    f = dict(zip(FEATURES, x.T, strict=True))
    np.testing.assert_array_equal(f["n_view"], [1, 1])
    np.testing.assert_array_equal(f["n_fav"], [1, 0])
    np.testing.assert_array_equal(f["n_buy"], [0, 0])
    np.testing.assert_array_equal(f["since_last"], [1, 2])  # a last at 2, b at 1; end 3
    # item a has 1 buy in the data, and that buy is this example's own event: 0 left
    np.testing.assert_allclose(f["item_buy"], [np.log1p(0), np.log1p(1)])
    np.testing.assert_allclose(f["item_mean_rating"], [np.nan, 3.0])
    np.testing.assert_array_equal(f["user_events"], [3, 3])
    np.testing.assert_allclose(f["user_mean_rating"], [4.0, 4.0])
    # categories of the history: a (x), b (x, y halves), a (x) → x 2.5/3, y 0.5/3
    np.testing.assert_allclose(f["affinity"], [2.5 / 3, (2.5 / 3 + 0.5 / 3) / 2], rtol=1e-6)


def test_the_table_path_and_the_comparison_path_agree(split):
    data = split.train
    seqs = user_sequences(data)
    features = HistoryFeatures.from_data(data, seqs)
    u = int(np.argmax([len(s) for s in seqs.items]))
    every = np.arange(data.n_items)
    end = len(seqs.items[u]) - 2
    ends = np.full(data.n_items, end)
    own = np.zeros(data.n_items, dtype=bool)
    table = features.for_user(u, ends, every, own)  # many candidates: per-item tables
    pieces = [
        features.for_user(u, ends[lo : lo + 50], every[lo : lo + 50], own[lo : lo + 50])
        for lo in range(0, data.n_items, 50)
    ]  # few candidates each: candidates × history comparison
    np.testing.assert_allclose(table, np.vstack(pieces), equal_nan=True)


def test_learns_and_round_trips(tmp_path, split):
    model = LightGBMBehaviour(target="like", n_estimators=50).fit_split(split, "test")
    fit = split.fit_data("test")
    examples = held_out_examples(model.task_, fit, user_sequences(fit), split.test, 0)
    users, items, labels = examples.flat()
    p = model.predict_behaviour(fit.idmap.users[users], fit.idmap.items[items - 1])
    assert auc(labels, p) > 0.6
    assert ((p > 0) & (p < 1)).all()
    model.save(tmp_path / "run")
    loaded = lmrec.models.load(tmp_path / "run")
    pairs = ([*fit.idmap.users[:4], "nobody"], [*fit.idmap.items[:4], "nothing"])
    np.testing.assert_allclose(loaded.predict_behaviour(*pairs), model.predict_behaviour(*pairs))
    np.testing.assert_allclose(
        loaded.score_indices(np.arange(3)), model.score_indices(np.arange(3)), rtol=1e-5
    )
