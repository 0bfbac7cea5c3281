"""The sequence Transformer: masking is right, padding is free, it learns, it round-trips."""

import numpy as np
import pytest
import torch

import lmrec.models
from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.split import leave_one_out
from lmrec.errors import ConfigError, UnknownIdError
from lmrec.evaluate.ranking import evaluate, fit_evaluate
from lmrec.models.sequential import SequenceTransformer
from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig

FAST = dict(
    dim=32,
    heads=2,
    layers=1,
    max_len=20,
    epochs=6,
    batch_size=64,
    warmup_steps=10,
    progress=False,
    seed=0,
)


@pytest.fixture(scope="module")
def split():
    return leave_one_out(make_synthetic(n_users=200, n_items=120, seed=1))


@pytest.fixture(scope="module")
def fitted(split):
    model = SequenceTransformer(**FAST)
    model.fit(split.train, valid=split.train.with_interactions(split.valid))
    return model


def _net(**kw):
    torch.manual_seed(0)
    net = SequenceTransformerNet(TransformerConfig(n_items=30, dim=16, heads=2, max_len=8, **kw))
    return net.eval()


def test_causal_states_do_not_see_the_future():
    net = _net()
    items = torch.tensor([[3, 4, 5, 6, 7]])
    changed = items.clone()
    changed[0, 4] = 9
    a = net.encode(items, causal=True)
    b = net.encode(changed, causal=True)
    assert torch.allclose(a[0, :4], b[0, :4], atol=1e-6)
    assert not torch.allclose(a[0, 4], b[0, 4])
    bi_a, bi_b = net.encode(items, causal=False), net.encode(changed, causal=False)
    assert not torch.allclose(bi_a[0, 0], bi_b[0, 0])  # bidirectional: the past sees the future


def test_left_padding_does_not_change_the_prediction():
    net = _net()
    short = torch.tensor([[3, 4, 5]])
    padded = torch.tensor([[0, 0, 0, 3, 4, 5]])
    for causal in (True, False):
        a, _ = net(short, causal=causal)
        b, _ = net(padded, causal=causal)
        assert torch.isfinite(b).all()
        assert torch.allclose(a, b, atol=1e-5)


def test_learns_the_synthetic_world_better_than_popularity(split, fitted):
    ours = evaluate(fitted.set_history(split.fit_data("test")), split, "test", progress=False)
    pop, _ = fit_evaluate(lmrec.models.make_model("popular"), split, "test", progress=False)
    assert ours.metrics["ndcg@10"] > 2 * pop.metrics["ndcg@10"]
    assert fitted.history_.best_epoch >= 0
    assert len(fitted.history_.scores) == len(fitted.history_.losses)


def test_masked_objective_trains_and_scores(split):
    model = SequenceTransformer(**{**FAST, "objective": "masked", "epochs": 2})
    model.fit(split.train)
    scores = model.score(split.train.idmap.users[:3])
    assert scores.shape == (3, split.train.n_items)
    assert np.isfinite(scores).all()


def test_save_load_round_trip(tmp_path, split, fitted):
    fitted.save(tmp_path / "run")
    loaded = lmrec.models.load(tmp_path / "run")
    users = split.train.idmap.users[:5]
    np.testing.assert_allclose(loaded.score(users), fitted.score(users), atol=1e-5)
    ids, _ = loaded.recommend(users[0], k=5)
    assert len(ids) == 5


def test_bad_input_is_a_clear_error(split, fitted):
    with pytest.raises(UnknownIdError, match="user id 'nobody'"):
        fitted.recommend("nobody")
    with pytest.raises(ConfigError, match="divisible"):
        SequenceTransformer(dim=30, heads=4).fit(split.train)
    with pytest.raises(ConfigError, match="objective"):
        SequenceTransformer(objective="cloze").fit(split.train)


def test_resume_continues_from_the_checkpoint(tmp_path, split):
    from lmrec.train.loop import TrainConfig, train
    from lmrec.train.sequences import (
        bucketed_batches,
        causal_batch,
        training_windows,
        user_sequences,
    )

    seqs = user_sequences(split.train)
    windows = training_windows(seqs, 20)

    def run(epochs, resume):
        torch.manual_seed(0)
        net = SequenceTransformerNet(
            TransformerConfig(n_items=split.train.n_items, dim=16, heads=2, layers=1, max_len=20)
        )
        config = TrainConfig(epochs=epochs, batch_size=64, warmup_steps=5, seed=0)
        history = train(
            net,
            len(windows.user),
            lambda idx, rng: (causal_batch(seqs, windows, idx), True),
            lambda rng: bucketed_batches(windows.lengths, 64, rng),
            config,
            checkpoint_dir=tmp_path / "ckpt",
            resume=resume,
            progress=False,
        )
        return history

    first = run(2, resume=False)
    resumed = run(3, resume=True)
    assert len(first.losses) == 2
    assert len(resumed.losses) == 3  # two from the checkpoint, one new epoch
    assert resumed.losses[:2] == first.losses
