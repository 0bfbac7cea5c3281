"""The behaviour head: the task's examples and negatives, training, calibration, round trip."""

import numpy as np
import pandas as pd
import pytest
import torch

import lmrec.models
from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import Dataset
from lmrec.data.split import leave_one_out
from lmrec.errors import ConfigError
from lmrec.evaluate.binary import auc
from lmrec.models.behaviour_transformer import BehaviourTransformer
from lmrec.models.registry import make_model
from lmrec.train.behaviour import (
    BUY,
    NegativeSampler,
    behaviour_task,
    held_out_examples,
    training_positives,
    with_negatives,
)
from lmrec.train.sequences import user_sequences

FAST = dict(
    dim=32,
    heads=2,
    layers=1,
    max_len=20,
    epochs=30,
    batch_size=64,
    warmup_steps=10,
    progress=False,
    seed=0,
)


@pytest.fixture(scope="module")
def split():
    return leave_one_out(make_synthetic(n_users=300, n_items=120, seed=1))


def _frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "behaviour", "rating"])


def test_the_task_follows_what_the_data_has():
    shop = Dataset.from_frames(
        _frame([("u", "a", "view", None), ("u", "a", "buy", None), ("v", "b", "view", None)])
    )
    rated = Dataset.from_frames(_frame([("u", "a", "rate", 5.0), ("v", "b", "rate", 2.0)]))
    views = Dataset.from_frames(_frame([("u", "a", "view", None), ("v", "b", "view", None)]))
    assert behaviour_task(shop).kind == "buy"
    assert behaviour_task(rated).kind == "like"
    with pytest.raises(ConfigError, match="hard_share applies to the buy target"):
        behaviour_task(rated, hard_share=0.5)
    with pytest.raises(ConfigError, match="needs buys among other behaviours or ratings"):
        behaviour_task(views)
    with pytest.raises(ConfigError, match="target 'like' needs ratings"):
        behaviour_task(shop, "like")
    with pytest.raises(ConfigError, match="target 'buy' needs buy events"):
        behaviour_task(rated, "buy")
    with pytest.raises(ConfigError, match="target must be one of"):
        behaviour_task(shop, "click")


def test_examples_and_negatives(split):
    data = split.train
    seqs = user_sequences(data)
    task = behaviour_task(data, "buy", negatives=4, hard_share=0.5)
    positives = training_positives(task, seqs)
    for u, end, (item,) in zip(positives.users, positives.ends, positives.queries, strict=True):
        assert end >= 1 and seqs.items[u][end] == item and seqs.behaviours[u][end] == BUY
    assert (positives.labels == 1).all()

    sampler = NegativeSampler(task, seqs, data.n_items)
    examples = with_negatives(positives, sampler, np.random.default_rng(0))
    assert examples.queries.shape == (len(positives), 5)
    assert (examples.labels[:, 1:] == 0).all()
    own = 0
    for u, queries in zip(examples.users, examples.queries, strict=True):
        bought = set(seqs.items[u][seqs.behaviours[u] == BUY].tolist())
        negatives = queries[1:].tolist()
        assert queries[0] not in negatives and not bought & set(negatives)
        assert len(set(negatives)) == 4 and all(1 <= i <= data.n_items for i in negatives)
        own += len(set(negatives) & set(seqs.items[u].tolist()))
    assert own >= len(examples)  # about half of the negatives come from the user's history

    like = behaviour_task(data, "like")
    rows = held_out_examples(like, data, seqs, split.valid, seed=3)
    again = held_out_examples(like, data, seqs, split.valid, seed=3)
    np.testing.assert_array_equal(rows.queries, again.queries)  # seeded: the same candidates
    ratings = split.valid["rating"].to_numpy()
    assert rows.labels[:, 0].sum() == (ratings >= 4).sum()
    np.testing.assert_array_equal(rows.ends, [len(seqs.items[u]) for u in rows.users])
    for u, queries in zip(rows.users, rows.queries, strict=True):
        assert not set(queries[1:].tolist()) & set(seqs.items[u].tolist())  # never had them


@pytest.fixture(scope="module")
def fitted(split):
    model = BehaviourTransformer(**FAST, target="like")
    model.fit_split(split, "test")
    return model


def test_learns_likes_and_calibrates(split, fitted):
    examples = fitted.behaviour_examples(split, "test")
    logits = fitted.behaviour_logits(examples)
    labels = examples.labels.ravel()
    assert auc(labels, logits.ravel()) > 0.6  # random is 0.5
    assert fitted.history_.best_score > 0.6  # validation AUC drove early stopping
    assert 0.1 < fitted.behaviour_temperature_ < 10
    assert fitted.supports("predict_behaviour")
    p = fitted.predict_behaviour(
        [split.train.idmap.users[0], "never-seen", split.train.idmap.users[1]],
        [split.train.idmap.items[0], split.train.idmap.items[1], "never-sold"],
    )
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()


def test_round_trip_keeps_predictions(tmp_path, split, fitted):
    fitted.save(tmp_path / "run")
    loaded = lmrec.models.load(tmp_path / "run")
    users = list(split.train.idmap.users[:5])
    items = list(split.train.idmap.items[:5])
    np.testing.assert_allclose(
        loaded.predict_behaviour(users, items), fitted.predict_behaviour(users, items), atol=1e-6
    )
    assert loaded.task_ == fitted.task_


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target": "click"}, "target must be one of"),
        ({"negatives": 0}, "negatives must be an integer"),
        ({"hard_share": 2.0}, r"hard_share must be in \[0, 1\]"),
        ({"behaviour_weight": 0.0}, "behaviour_weight must be > 0"),
        ({"sequence_weight": -1.0}, "sequence_weight must be >= 0"),
        ({"task_weighting": "magic"}, "task_weighting must be one of"),
        ({"task_weighting": "uncertainty", "sequence_weight": 0.0}, "there is one"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_model("transformer-behaviour", **params)


def test_data_without_the_behaviour_is_a_clear_error():
    views = Dataset.from_frames(_frame([("u", "a", "view", None), ("u", "b", "view", None)]))
    with pytest.raises(ConfigError, match="needs buys among other behaviours or ratings"):
        BehaviourTransformer(**FAST).fit(views)


def test_uncertainty_weighting_learns_each_task_weight(tmp_path, split):
    """With task_weighting="uncertainty" the loss is Σ exp(-s_t)·L_t + s_t: the log
    variances move off zero during training, the task still learns, and they are saved."""
    from lmrec.models.sequential import SequenceTransformer
    from lmrec.train.objectives import WithTask

    model = BehaviourTransformer(**FAST, target="like", task_weighting="uncertainty")
    model.fit_split(split, "test")
    s = model.net_.task_log_vars.detach()
    assert s.shape == (2,) and float(s.abs().min()) > 1e-3
    examples = model.behaviour_examples(split, "test")
    assert auc(examples.labels.ravel(), model.behaviour_logits(examples).ravel()) > 0.6
    model.save(tmp_path / "uw")
    loaded = lmrec.models.load(tmp_path / "uw")
    assert torch.equal(loaded.net_.task_log_vars, model.net_.task_log_vars)

    # the loss is the documented formula
    class Fixed:
        def __init__(self, value):
            self.value = torch.tensor(value)

        def loss(self, net, inputs):
            return self.value, 1.0

    with torch.no_grad():
        model.net_.task_log_vars.copy_(torch.tensor([0.5, -1.0]))
    objective = WithTask(Fixed(2.0), Fixed(3.0), weight=1.0, weighting="uncertainty")
    loss, _ = objective.loss(model.net_, {"sequence": None, "task": None})
    expected = np.exp(-0.5) * 2.0 + 0.5 + np.exp(1.0) * 3.0 - 1.0
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ConfigError, match="multi-task model"):
        SequenceTransformer(task_weighting="uncertainty").fit(split.train)
