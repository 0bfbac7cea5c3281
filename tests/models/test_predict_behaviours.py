"""predict_behaviours: causal training on every next event, the output told which behaviour
it predicts; scoring asks for the target behaviour and gets a different answer than for
views, and the batches say the right behaviour at the right place."""

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.errors import ConfigError
from lmrec.models.registry import make_model
from lmrec.models.sequential import SequenceTransformer
from lmrec.train.objectives import objective_class
from lmrec.train.sequences import Windows, causal_batch, user_sequences

CLUSTERS, SIZE = 4, 8
VIEW, BUY = BEHAVIOURS.index("view") + 1, BEHAVIOURS.index("buy") + 1
FAST = dict(
    dim=16,
    heads=2,
    layers=1,
    max_len=12,
    epochs=25,
    batch_size=64,
    lr=1e-2,
    warmup_steps=5,
    dropout=0.1,
    target_behaviour="buy",
    progress=False,
    seed=0,
)


def make_world(n_users: int = 300, seed: int = 0) -> Dataset:
    """Users view items of their cluster c and buy items of cluster c + 1, in random order
    (each event a buy with probability 0.35): what comes next depends on which behaviour
    is asked for, and nothing in the history says which comes next."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        c = u % CLUSTERS
        for t in range(10):
            buy = rng.random() < 0.35
            cluster = (c + 1) % CLUSTERS if buy else c
            item = rng.integers(SIZE) + cluster * SIZE
            rows.append((f"u{u}", f"i{item}", "buy" if buy else "view", t))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "behaviour", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(CLUSTERS * SIZE)]})
    return Dataset.from_frames(frame, items, name="view-then-buy")


def test_every_next_event_is_a_target_and_says_its_behaviour():
    data = make_world(n_users=2)
    seqs = user_sequences(data)
    windows = Windows(np.array([0, 1]), np.array([0, 4]), np.array([10, 10]))
    told = causal_batch(seqs, windows, np.arange(2), target_behaviour=BUY, tell_behaviour=True)
    real = told.targets != 0
    assert real.sum(1).tolist() == [9, 5]  # every next event, views too
    for row, (u, start) in enumerate([(0, 0), (1, 4)]):
        said = told.next_behaviours[row][real[row]].numpy()
        assert (said == seqs.behaviours[u][start + 1 : 10]).all()
    assert (told.next_behaviours[~real] == 0).all()
    plain = causal_batch(seqs, windows, np.arange(2), target_behaviour=BUY)
    assert plain.next_behaviours is None
    assert ((plain.targets != 0) == (told.next_behaviours == BUY)).all()  # buys only


def _top_clusters(model: SequenceTransformer, users: list[str], asked: int) -> np.ndarray:
    """The cluster of each user's top item when the last position is asked for ``asked``."""
    rows = model.idmap_.user_index(users)
    net = model.net_.eval()
    inputs = objective_class("causal").inference(
        model.sequences_, rows, model.max_len, net.config.mask_index, asked
    )
    with torch.no_grad():
        logits, _ = net(**inputs)
    top = model.idmap_.items[logits.argmax(1).numpy()]
    return np.array([int(i[1:]) // SIZE for i in top])


def test_the_asked_behaviour_changes_the_answer():
    data = make_world()
    model = SequenceTransformer(**FAST, predict_behaviours=True).fit(data)
    users = [f"u{u}" for u in range(0, 300, 7)]
    own = np.array([int(u[1:]) % CLUSTERS for u in users])
    buys = _top_clusters(model, users, BUY)
    views = _top_clusters(model, users, VIEW)
    assert (buys == (own + 1) % CLUSTERS).mean() > 0.9
    assert (views == own).mean() > 0.9
    top, _ = model.recommend(users, k=3)  # scoring asks for the target behaviour, buy
    bought = [
        [int(i[1:]) // SIZE == (c + 1) % CLUSTERS for i in row]
        for row, c in zip(top, own, strict=True)
    ]
    share = np.mean(bought)
    assert share > 0.9


def test_predict_behaviours_needs_the_causal_objective_and_a_target():
    with pytest.raises(ConfigError, match="needs objective='causal' and a target_behaviour"):
        make_model("transformer", predict_behaviours=True)
    with pytest.raises(ConfigError, match="needs objective='causal'"):
        make_model(
            "transformer", predict_behaviours=True, objective="masked", target_behaviour="buy"
        )
