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
from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig, gap_buckets

FAST = dict(
    dim=32,
    heads=2,
    layers=1,
    max_len=20,
    epochs=20,
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
    from lmrec.train.objectives import sequence_objective
    from lmrec.train.sequences import user_sequences

    seqs = user_sequences(split.train)

    def run(epochs, resume):
        torch.manual_seed(0)
        net = SequenceTransformerNet(
            TransformerConfig(n_items=split.train.n_items, dim=16, heads=2, layers=1, max_len=20)
        )
        objective = sequence_objective("causal", seqs, 20, mask_index=net.config.mask_index)
        config = TrainConfig(epochs=epochs, batch_size=64, warmup_steps=5, seed=0)
        history = train(
            net,
            objective,
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


def test_interests_are_distributions_close_to_the_synthetic_truth(split, fitted):
    from lmrec.data.loaders.synthetic import synthetic_truth
    from lmrec.evaluate.calibration import kl_divergence

    truth = synthetic_truth(n_users=200, n_items=120, seed=1)
    model = fitted.set_history(split.fit_data("test"))
    probs = model.predict_proba(truth.user_ids)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # True next-category distribution: stay in the last category with prob s, else draw from π_u.
    cat_of = dict(zip(truth.item_ids, truth.item_category, strict=True))
    history = model.sequences_.items
    users = model.idmap_.user_index(truth.user_ids)
    last_cat = np.array([cat_of[model.idmap_.items[history[u][-1] - 1]] for u in users])
    s = truth.stickiness
    true_next = (1 - s) * truth.mixtures
    true_next[np.arange(len(users)), last_cat] += s
    # The model's category distribution, and popularity's as a yardstick.
    item_cat = np.array([cat_of[i] for i in model.idmap_.items])
    onehot = np.eye(len(truth.categories))[item_cat]
    ours = probs @ onehot
    counts = np.bincount(
        item_cat,
        weights=np.asarray(model.seen_.sum(axis=0)).ravel(),
        minlength=len(truth.categories),
    )
    pop = np.tile(counts / counts.sum(), (len(users), 1))
    kl_ours = kl_divergence(true_next, ours).mean()
    kl_pop = kl_divergence(true_next, pop).mean()
    assert kl_ours < 0.5 * kl_pop
    one = model.interests(truth.user_ids[0], top_categories=3)
    assert len(one.categories) == 3 and one.category_probs[0] >= one.category_probs[-1]
    assert one.categories[0] in truth.categories


def test_raw_histories_and_their_bad_input(fitted, split):
    from lmrec.errors import ConfigError

    user = split.train.idmap.users[0]
    data = split.fit_data("test")
    fitted.set_history(data)
    events = data.interactions[data.interactions.user_id == user]
    a = fitted.score_histories(
        [list(events.item_id)], [list(events.behaviour.astype(str))], [list(events.timestamp)]
    )
    b = fitted.score([user])
    np.testing.assert_allclose(a, b, atol=1e-4)  # same events => same scores
    long = list(split.train.idmap.items[:60])  # longer than max_len=20: keeps the latest 20
    np.testing.assert_allclose(
        fitted.score_histories([long]), fitted.score_histories([long[-20:]]), atol=1e-5
    )
    with pytest.raises(UnknownIdError, match="item id 'no-such-item'"):
        fitted.score_histories([["no-such-item"]])
    with pytest.raises(ConfigError, match="history 0 is empty"):
        fitted.score_histories([[]])
    with pytest.raises(ConfigError, match="exactly one"):
        fitted.interests()


def test_fit_resumes_from_its_checkpoint_dir(tmp_path, split):
    params = {**FAST, "epochs": 3, "checkpoint_dir": str(tmp_path / "ckpt")}
    SequenceTransformer(**{**params, "epochs": 2}).fit(split.train)  # "interrupted" after 2
    resumed = SequenceTransformer(**params).fit(split.train)
    uninterrupted = SequenceTransformer(**{**params, "checkpoint_dir": None}).fit(split.train)
    assert len(resumed.history_.losses) == 3
    # The learning-rate schedule depends on the total epochs, so only epoch 1 must agree.
    assert resumed.history_.losses[0] == pytest.approx(uninterrupted.history_.losses[0])


def test_corrupted_model_or_checkpoint_files_are_clear_errors(tmp_path, split, fitted):
    from lmrec.errors import ModelFileError

    fitted.save(tmp_path / "run")
    (tmp_path / "run" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFileError, match=r"model\.safetensors"):
        lmrec.models.load(tmp_path / "run")
    fitted.save(tmp_path / "old")
    config = tmp_path / "old" / "config.json"
    config.write_text(config.read_text().replace('"format_version": 1', '"format_version": 0'))
    with pytest.raises(ModelFileError, match="format_version"):
        lmrec.models.load(tmp_path / "old")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "trainer.json").write_text("{}")
    (ckpt / "trainer.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="cannot resume"):
        SequenceTransformer(**{**FAST, "epochs": 1, "checkpoint_dir": str(ckpt)}).fit(split.train)


def test_sampled_softmax_trains_and_still_scores_every_item(split):
    model = SequenceTransformer(**{**FAST, "epochs": 3, "sampled_softmax": 30})
    model.fit(split.train)
    assert all(np.isfinite(loss) for loss in model.history_.losses)
    assert model.history_.losses[-1] < model.history_.losses[0]
    assert model.score(split.train.idmap.users[:2]).shape == (2, split.train.n_items)


def test_a_one_event_history_scores_every_item(fitted, split):
    """Regression: torch's inference fast path failed on one-column batches."""
    item = split.train.idmap.items[0]
    scores = fitted.score_histories([[item]], [["buy"]], [[1.6e9]])
    assert scores.shape == (1, split.train.n_items) and np.isfinite(scores).all()


def test_a_training_batch_of_one_event_inputs_with_timestamps_trains():
    """Regression: a batch whose windows all hold two events (one input, one target) made
    the time-gap buckets (B, 0) instead of (B, 1), which broadcast the inputs away."""
    net = _net()
    net.train()
    items = torch.tensor([[3], [5], [7]])
    gaps = gap_buckets(torch.tensor([[1.6e9], [1.7e9], [float("nan")]], dtype=torch.float64))
    assert gaps.shape == (3, 1) and int(gaps.abs().sum()) == 0
    logits, loss = net(items, torch.ones_like(items), gaps, torch.tensor([[4], [6], [8]]))
    assert logits.shape[-1] == 30 and torch.isfinite(loss)


def test_diversity_task_spreads_predictions_over_the_users_interests(split, fitted):
    """The CategoryMix task (L = L_next + λ·KL(history mix || predicted mix)) lowers the
    miscalibration of the model's own lists against the model trained without it."""
    from lmrec.evaluate.diversity import item_space

    mtl = SequenceTransformer(**FAST, diversity_weight=3.0)
    mtl.fit(split.train, valid=split.train.with_interactions(split.valid))
    assert all(np.isfinite(loss) for loss in mtl.history_.losses)
    space = item_space(split.train)
    plain = evaluate(fitted, split, "valid", progress=False, items=space).metrics
    diverse = evaluate(mtl, split, "valid", progress=False, items=space).metrics
    assert diverse["calibration_kl@10"] < plain["calibration_kl@10"]


def test_diversity_task_bad_settings_are_clear_errors(split):
    with pytest.raises(ConfigError, match="diversity_weight must be >= 0"):
        SequenceTransformer(**FAST, diversity_weight=-1.0).fit(split.train)
    with pytest.raises(ConfigError, match="needs the full softmax"):
        SequenceTransformer(**FAST, diversity_weight=1.0, sampled_softmax=20).fit(split.train)
    from dataclasses import replace

    no_categories = split.train.items.assign(categories=[[] for _ in range(len(split.train.items))])
    bare = replace(split.train, items=no_categories)
    with pytest.raises(ConfigError, match="no item has a category"):
        SequenceTransformer(**{**FAST, "epochs": 1}, diversity_weight=1.0).fit(bare)


@pytest.mark.parametrize("objective", ["causal", "masked"])
def test_served_user_states_give_the_same_scores_and_never_go_stale(split, objective):
    model = SequenceTransformer(**{**FAST, "objective": objective, "epochs": 2})
    model.fit(split.train)
    users = np.arange(split.train.n_users)
    before = model.score_indices(users)
    model.prepare_for_serving()
    assert "_user_states" in model.__dict__
    np.testing.assert_allclose(model.score_indices(users), before, atol=1e-4)
    np.testing.assert_allclose(model.score_indices(users[[7, 3]]), before[[7, 3]], atol=1e-4)

    model.compress(prune=0.5)  # weights change in place: the states must not be read
    pruned = SequenceTransformer._score_sequences(model, model.sequences_, users)
    np.testing.assert_allclose(model.score_indices(users), pruned, atol=1e-5)
    assert not np.allclose(pruned, before, atol=1e-3)

    model.prepare_for_serving()
    model.set_history(split.fit_data("test"))  # new histories: scores follow them
    fresh = SequenceTransformer._score_sequences(model, model.sequences_, users)
    np.testing.assert_allclose(model.score_indices(users), fresh, atol=1e-5)
