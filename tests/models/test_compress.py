"""Compression of a trained Transformer: int8 scoring stays close to float and survives a
save/load, pruning zeroes what it says, bad settings are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.split import leave_one_out
from lmrec.errors import ConfigError
from lmrec.models.registry import load, make_model

FAST = dict(dim=32, heads=2, layers=1, max_len=20, epochs=8, batch_size=64, progress=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    split = leave_one_out(make_synthetic(n_users=150, n_items=200, seed=2))
    model = make_model("transformer", **FAST).fit(split.train)
    return model.save(tmp_path_factory.mktemp("runs") / "float")


def _users(model) -> list[str]:
    return list(model.idmap_.users[:40])


def test_int8_scores_stay_close_and_are_rebuilt_on_load(saved, tmp_path):
    model = load(saved)
    users = _users(model)
    float_scores = model.score(users)
    float_weights = model.net_.item_emb.weight.detach().clone()
    model.compress(quantize="int8")
    int8_scores = model.score(users)

    assert model.net_.output is None  # the float net is untouched; only scoring is int8
    assert np.array_equal(model.net_.item_emb.weight.detach().numpy(), float_weights.numpy())
    assert not np.array_equal(int8_scores, float_scores)  # it really scores in int8
    for f, q in zip(float_scores, int8_scores, strict=True):
        assert np.corrcoef(f, q)[0, 1] > 0.99
        top_f, top_q = set(np.argsort(-f)[:10]), set(np.argsort(-q)[:10])
        assert len(top_f & top_q) >= 7

    reloaded = load(model.save(tmp_path / "int8"))
    assert reloaded.quantize == "int8"
    np.testing.assert_array_equal(reloaded.score(users), int8_scores)
    np.testing.assert_allclose(reloaded.predict_proba(users).sum(axis=1), 1.0, rtol=1e-5)


def test_prune_zeroes_the_share_of_each_weight_matrix(saved, tmp_path):
    model = load(saved).compress(prune=0.4)
    for name, param in model.net_.named_parameters():
        if param.dim() >= 2:
            assert float((param == 0).float().mean()) >= 0.4 - 1e-3, name
    reloaded = load(model.save(tmp_path / "pruned"))
    assert reloaded.prune == 0.4 and reloaded.quantize is None
    np.testing.assert_allclose(reloaded.score(_users(model)), model.score(_users(model)))
    assert np.isfinite(reloaded.score(_users(model))).all()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"quantize": "int4"}, "quantize must be one of"),
        ({"prune": 1.0}, "prune must be a share in [0, 1)"),
        ({"prune": -0.1}, "prune must be a share"),
        ({"prune": True}, "prune must be a share"),
    ],
)
def test_bad_settings_are_clear_errors(saved, kwargs, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace(")", r"\)")):
        load(saved).compress(**kwargs)
    with pytest.raises(ConfigError, match="must be"):
        make_model("transformer", **kwargs)


def test_cannot_prune_less_than_already_pruned(saved):
    model = load(saved).compress(prune=0.3)
    with pytest.raises(ConfigError, match=r"already pruned by 0\.3"):
        model.compress(prune=0.1)
    quantized = model.compress(quantize="int8")  # a pruned model can still go int8
    assert quantized.prune == 0.3 and quantized.quantize == "int8"
