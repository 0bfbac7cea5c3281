"""Masked-item training on one target behaviour: only its events are hidden and predicted,
and inference asks the trailing [MASK] for that behaviour."""

import numpy as np
import pandas as pd

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.models.sequential import SequenceTransformer
from lmrec.train.objectives import MaskedItem
from lmrec.train.sequences import UserSequences, masked_batch, training_windows

VIEW, BUY = BEHAVIOURS.index("view") + 1, BEHAVIOURS.index("buy") + 1


def _seqs() -> UserSequences:
    rng = np.random.default_rng(0)
    items, kinds = [], []
    for n in (12, 7, 3):
        items.append(rng.integers(1, 30, n))
        k = np.full(n, VIEW)
        k[rng.permutation(n)[: max(1, n // 3)]] = BUY
        kinds.append(k)
    items.append(np.array([4, 5, 6]))  # a user without a buy
    kinds.append(np.full(3, VIEW))
    return UserSequences(items, kinds, [np.full(len(i), np.nan) for i in items])


def test_only_target_behaviour_events_are_masked_and_every_window_with_one_gets_a_mask():
    seqs = _seqs()
    windows = training_windows(seqs, 20)
    idx = np.arange(len(windows.user))
    rng = np.random.default_rng(1)
    for _ in range(50):
        batch = masked_batch(seqs, windows, idx, 99, 0.3, rng, target_behaviour=BUY)
        masked = (batch.items == 99).numpy()
        kinds = batch.behaviours.numpy()
        assert (kinds[masked] == BUY).all()  # masked events keep their behaviour token
        has_buy = (kinds == BUY).any(axis=1)
        assert (masked.any(axis=1) == has_buy).all()
        targets = batch.targets.numpy()
        assert ((targets != 0) == masked).all()
    # without a target behaviour any event may be masked
    seen = set()
    for _ in range(50):
        batch = masked_batch(seqs, windows, idx, 99, 0.3, rng)
        seen |= set(batch.behaviours.numpy()[(batch.items == 99).numpy()].tolist())
    assert seen == {VIEW, BUY}


def test_masked_model_on_buys_learns_and_scores_with_a_buy_mask(monkeypatch):
    rows = []
    rng = np.random.default_rng(0)
    for u in range(60):
        group = u % 3  # each group views and buys within its own block of items
        for item in rng.choice(np.arange(10 * group, 10 * group + 10), 6, replace=False):
            rows.append((f"u{u}", f"i{item}", "view"))
        for item in rng.choice(np.arange(10 * group, 10 * group + 10), 2, replace=False):
            rows.append((f"u{u}", f"i{item}", "buy"))
    data = Dataset.from_frames(pd.DataFrame(rows, columns=["user_id", "item_id", "behaviour"]))
    seen: list[int] = []
    original = MaskedItem.inference

    def spy(*args, **kwargs):
        inputs = original(*args, **kwargs)
        seen.append(int(inputs["behaviours"][0, -1]))
        return inputs

    monkeypatch.setattr(MaskedItem, "inference", staticmethod(spy))
    model = SequenceTransformer(
        objective="masked", target_behaviour="buy", dim=16, heads=2, layers=1, max_len=12,
        epochs=60, batch_size=16, lr=5e-3, warmup_steps=5, progress=False, seed=0,
    ).fit(data)  # fmt: skip
    assert model.history_.losses[-1] < model.history_.losses[0]
    scores = model.score(["u0"])[0]
    assert seen and set(seen) == {BUY}
    own = [model.idmap_.item_index([f"i{i}"])[0] for i in range(10)]
    other = [model.idmap_.item_index([f"i{i}"])[0] for i in range(10, 30)]
    assert scores[own].mean() > scores[other].mean()  # the group's block ranks first


def test_shuffle_tied_runs_reorders_only_within_runs_of_the_same_time_and_behaviour():
    from lmrec.train.sequences import shuffle_tied_runs

    nan = np.nan
    seqs = UserSequences(
        items=[np.arange(1, 9), np.array([], dtype=np.int64), np.array([20, 21, 22])],
        behaviours=[
            np.array([VIEW, VIEW, VIEW, BUY, BUY, BUY, VIEW, VIEW]),
            np.array([], dtype=np.int64),
            np.array([BUY, BUY, BUY]),
        ],
        timestamps=[
            np.array([nan, nan, nan, nan, nan, nan, 5.0, 6.0]),
            np.array([]),
            np.array([1.0, 1.0, 2.0]),
        ],
        ratings=[np.arange(1, 9) / 2, np.array([]), np.array([1.0, 2.0, 3.0])],
    )
    rng = np.random.default_rng(0)
    firsts, seconds = set(), set()
    for _ in range(40):
        out = shuffle_tied_runs(seqs, rng)
        a = out.items[0]
        assert sorted(a[:3]) == [1, 2, 3] and sorted(a[3:6]) == [4, 5, 6]
        assert a[6:].tolist() == [7, 8]  # different timestamps: kept in order
        assert out.items[1].size == 0
        assert sorted(out.items[2][:2]) == [20, 21] and out.items[2][2] == 22
        # every field moves with its event
        assert np.array_equal(out.ratings[0], a / 2)
        assert (out.behaviours[0][:3] == VIEW).all() and (out.behaviours[0][3:6] == BUY).all()
        firsts.add(int(a[0]))
        seconds.add(int(out.items[2][0]))
    assert firsts == {1, 2, 3} and seconds == {20, 21}  # really shuffled
    assert seqs.items[0].tolist() == list(range(1, 9))  # the input is left alone


def test_shuffle_ties_is_off_by_default_and_changes_the_epochs_batches_when_on():
    from lmrec.train.objectives import sequence_objective

    seqs = _seqs()
    for shuffle in (False, True):
        objective = sequence_objective(
            "causal", seqs, 20, mask_index=99, target_behaviour=BUY, shuffle_ties=shuffle
        )
        rng = np.random.default_rng(0)
        orders = set()
        for _ in range(10):
            (idx,) = objective.batches(rng, 100)
            batch = objective.batch(np.sort(idx), rng)
            orders.add(batch["items"].numpy().tobytes())
        assert (len(orders) > 1) == shuffle
