"""The written-out block: same arithmetic as torch's encoder (old files convert exactly),
LoRA reaches attention, parameters come from the config dataclasses, objectives are named,
and raw-history scoring is thread-safe."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file
from torch import nn

import lmrec.models
from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.split import leave_one_out
from lmrec.errors import ConfigError, ModelFileError
from lmrec.models.sequential import SequenceTransformer
from lmrec.models.transformer import (
    DATA_FIELDS,
    SequenceTransformerNet,
    TransformerConfig,
    attention_mask,
    convert_legacy_state,
)
from lmrec.train.loop import TrainConfig

TINY = dict(dim=16, heads=2, layers=2, max_len=12, epochs=3, batch_size=64, progress=False)


@pytest.fixture(scope="module")
def split():
    return leave_one_out(make_synthetic(n_users=80, n_items=50, seed=3))


@pytest.fixture(scope="module")
def fitted(split):
    return SequenceTransformer(**TINY, warmup_steps=5).fit(split.train)


class LegacyNet(SequenceTransformerNet):
    """The network as lmrec built it before the block was written out: torch's
    ``nn.TransformerEncoder`` (norm_first, GELU) with a float mask repeated per head."""

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        del self.blocks
        layer = nn.TransformerEncoderLayer(
            d_model=config.dim,
            nhead=config.heads,
            dim_feedforward=config.ff_mult * config.dim,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.apply(self._init_weights)

    def encode(self, items, behaviours=None, gaps=None, causal=True, table=None, **_features):
        T, c = items.shape[1], self.config
        table = self.item_table() if table is None else table
        positions = torch.arange(T).unsqueeze(0)
        h = table[items] + self.pos_emb(positions + (c.max_len - T))
        if behaviours is not None:
            h = h + self.behaviour_emb(behaviours)
        if gaps is not None:
            h = h + self.gap_emb(gaps)
        h = self.emb_drop(self.emb_norm(h))
        visible = ~(items == 0)[:, None, :] | torch.eye(T, dtype=torch.bool)
        if causal:
            visible = visible & torch.tril(torch.ones(T, T, dtype=torch.bool))
        mask = torch.zeros(visible.shape).masked_fill(~visible, float("-inf"))
        h = self.encoder(h, mask=mask.repeat_interleave(c.heads, dim=0))
        return self.out_norm(h)


def legacy_state(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A new-layout state dict written in the old layout (the inverse of the conversion)."""
    names = {"attn.out_proj": "self_attn.out_proj", "ff.fc_in": "linear1", "ff.fc_out": "linear2"}
    names.update({"attn_norm": "norm1", "ff_norm": "norm2"})
    out = {}
    for key, value in state.items():
        if not key.startswith("net.blocks."):
            out[key] = value
            continue
        layer, rest = key[len("net.blocks.") :].split(".", 1)
        prefix = f"net.encoder.layers.{layer}."
        if rest.startswith(("attn.q_proj", "attn.k_proj", "attn.v_proj")):
            if rest.startswith("attn.q_proj"):
                kind = rest.rsplit(".", 1)[1]
                parts = [state[f"net.blocks.{layer}.attn.{p}_proj.{kind}"] for p in "qkv"]
                out[f"{prefix}self_attn.in_proj_{kind}"] = np.concatenate(parts)
            continue
        old = next(o for n, o in names.items() if rest.startswith(n + "."))
        new = next(n for n, o in names.items() if o == old)
        out[prefix + old + rest[len(new) :]] = value
    return out


def test_the_block_computes_what_torchs_encoder_computed():
    """Same weights (torch's converted) → the same logits, padded or not, causal or not."""
    config = TransformerConfig(n_items=30, dim=16, heads=4, layers=2, max_len=8)
    torch.manual_seed(0)
    old = LegacyNet(config).eval()
    state = old.state_dict()
    assert "encoder.layers.0.self_attn.in_proj_weight" in state
    new = SequenceTransformerNet(config).eval()
    new.load_state_dict(convert_legacy_state(state))
    items = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 7]])
    behaviours = (items > 0).long()
    for causal in (True, False):
        a, _ = old(items, behaviours, causal=causal)
        b, _ = new(items, behaviours, causal=causal)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        a, _ = old(items[1:2], causal=causal)  # no padding: the is_causal path
        b, _ = new(items[1:2], causal=causal)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_a_model_file_of_the_old_layout_loads_with_the_same_scores(tmp_path, fitted, split):
    path = fitted.save(tmp_path / "run")
    arrays = load_file(str(path / "model.safetensors"))
    state = {k[len("state.") :]: v for k, v in arrays.items() if k.startswith("state.")}
    old = legacy_state(state)
    assert "net.encoder.layers.1.linear1.weight" in old and not any("blocks" in k for k in old)
    arrays = {k: v for k, v in arrays.items() if not k.startswith("state.")}
    arrays.update({f"state.{k}": v for k, v in old.items()})
    save_file(arrays, str(path / "model.safetensors"))
    users = split.train.idmap.users[:6]
    again = lmrec.models.load(path)
    np.testing.assert_allclose(again.score(users), fitted.score(users), atol=1e-6)


def test_weights_that_do_not_fit_are_a_one_line_model_file_error(tmp_path, fitted):
    path = fitted.save(tmp_path / "run")
    arrays = load_file(str(path / "model.safetensors"))
    del arrays["state.net.out_norm.weight"]
    save_file(arrays, str(path / "model.safetensors"))
    with pytest.raises(ModelFileError, match="retrain") as info:
        lmrec.models.load(path)
    assert "\n" not in str(info.value)


def test_padding_keys_are_hidden_but_every_query_sees_itself():
    items = torch.tensor([[0, 0, 5], [4, 5, 6]])
    mask = attention_mask(items, causal=False)
    assert mask.shape == (2, 1, 3, 3) and mask.dtype == torch.bool
    assert mask[0, 0, :, 0].tolist() == [True, False, False]  # key 0 only for itself
    assert mask[0, 0, 2].tolist() == [False, False, True]
    assert attention_mask(items[1:], causal=True) is None  # no padding: is_causal instead


def test_lora_reaches_attention_and_a_fine_tune_moves_only_the_adapters(tmp_path, split):
    base = SequenceTransformer(**TINY, warmup_steps=5).fit(split.train)
    base.save(tmp_path / "base")
    tuned = SequenceTransformer(
        **{**TINY, "epochs": 2, "lr": 1e-2},
        warmup_steps=1,
        init_from=str(tmp_path / "base"),
        finetune_mode="lora",
        lora_rank=2,
    ).fit(split.train)
    names = [n for n, _ in tuned.net_.named_parameters()]
    for target in ("q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"):
        assert f"blocks.0.attn.{target}.lora_A.default.weight" in names or (
            f"blocks.0.ff.{target}.lora_A.default.weight" in names
        ), target
    trained = {n for n, p in tuned.net_.named_parameters() if p.requires_grad}
    assert trained == {n for n in names if "lora_" in n} | {"out_bias"}
    before = base.net_.state_dict()
    after = tuned.net_.state_dict()
    for key in ("attn.q_proj", "attn.v_proj", "ff.fc_in"):
        torch.testing.assert_close(
            after[f"blocks.1.{key}.base_layer.weight"], before[f"blocks.1.{key}.weight"]
        )
    lora_b = after["blocks.0.attn.q_proj.lora_B.default.weight"]
    assert lora_b.abs().sum() > 0  # the attention adapter trained (it starts at zero)
    users = split.train.idmap.users[:5]
    assert not np.allclose(tuned.score(users), base.score(users), atol=1e-4)
    again = lmrec.models.load(tuned.save(tmp_path / "tuned"))
    np.testing.assert_allclose(again.score(users), tuned.score(users), atol=1e-5)


def test_every_config_field_is_a_parameter_and_params_round_trip():
    defaults = SequenceTransformer.param_defaults()
    names = {f.name for f in fields(TransformerConfig)} - set(DATA_FIELDS)
    names |= {f.name for f in fields(TrainConfig)}
    assert names <= set(defaults)
    assert defaults["ff_mult"] == 4 and defaults["clip_norm"] == 1.0
    model = SequenceTransformer(ff_mult=2, clip_norm=0.5, objective="masked")
    params = model.get_params()
    assert json.loads(json.dumps(params)) == params
    assert SequenceTransformer(**params).get_params() == params
    assert model.net_config(n_items=10).ff_mult == 2
    assert model.train_config().clip_norm == 0.5
    given = SequenceTransformer(TransformerConfig(dim=32), TrainConfig(lr=0.1), seed=3)
    assert (given.dim, given.lr, given.seed, given.layers) == (32, 0.1, 3, 2)
    with pytest.raises(ConfigError, match=r"no parameter 'dims'.*ff_mult=4"):
        SequenceTransformer(dims=32)
    made = lmrec.models.make_model("transformer", ff_mult=2, clip_norm=0.5)
    assert made.get_params() == {**defaults, "ff_mult": 2, "clip_norm": 0.5}


def test_ff_mult_sets_the_feed_forward_width(split):
    model = SequenceTransformer(**{**TINY, "epochs": 1}, ff_mult=3).fit(split.train)
    assert model.net_.blocks[0].ff.fc_in.out_features == 3 * TINY["dim"]


def test_an_unknown_objective_is_a_one_line_config_error(split):
    from lmrec.train.objectives import objective_class

    with pytest.raises(ConfigError, match=r"objective must be one of \('causal', 'masked'\)"):
        objective_class("cloze")
    with pytest.raises(ConfigError, match="got 'cloze'") as info:
        SequenceTransformer(objective="cloze").fit(split.train)
    assert "\n" not in str(info.value)


def test_score_histories_from_eight_threads_matches_serial_scores(fitted, split):
    items = list(split.train.idmap.items)
    rng = np.random.default_rng(0)
    histories = [list(rng.choice(items, size=int(rng.integers(1, 15)))) for _ in range(16)]
    serial = [fitted.score_histories([h]) for h in histories]
    user = split.train.idmap.users[0]
    before = fitted.score([user])
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda h: fitted.score_histories([h]), histories * 2))
    for n, scores in enumerate(concurrent):
        np.testing.assert_allclose(scores, serial[n % len(histories)], atol=1e-6)
    np.testing.assert_allclose(fitted.score([user]), before)  # the model's own users intact
    assert fitted.interests(history=histories[0]).item_ids.shape == (10,)
