"""Text fusion: item vectors mix ID and text as documented, and text reaches cold items."""

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import Dataset
from lmrec.data.split import leave_one_out
from lmrec.errors import ConfigError
from lmrec.evaluate.cold_start import cold_item_split, evaluate_cold_items
from lmrec.models.fusion import FUSIONS, TextFusion, reduce_text
from lmrec.models.popular import MostPopular
from lmrec.models.registry import load
from lmrec.models.sequential import SequenceTransformer

FAST = dict(
    dim=32, heads=2, layers=1, max_len=20, epochs=15, batch_size=64, warmup_steps=10,
    progress=False, seed=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("text-cache"))


@pytest.fixture(scope="module")
def world():
    return make_synthetic(n_users=200, n_items=120, seed=1)


def _fusion(mode: str, n_items: int = 4, text_dim: int = 3, dim: int = 2) -> TextFusion:
    torch.manual_seed(0)
    fusion = TextFusion(mode, n_items + 2, text_dim, dim)
    text = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]], dtype=np.float32)
    fusion.set_text(text, trained=np.array([True, True, True, False]))
    return fusion


def test_fusion_masks_follow_the_documented_fallbacks():
    fusion = _fusion("add")
    ids = torch.randn(6, 2)
    out = fusion(ids)
    t = fusion.proj(fusion.text)
    # item 3 (row 3) has empty text: ID only; item 4 (row 4) never trained: text only
    assert torch.allclose(out[3], ids[3])
    assert torch.allclose(out[4], t[4])
    assert torch.allclose(out[1], ids[1] + t[1])
    assert float(fusion.text[3].abs().sum()) == 0.0  # the empty text stays empty


def test_reduce_text_centres_projects_and_keeps_empty_rows_empty():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 8)) + 5.0  # a shared offset, as sentence encoders have
    z[7] = 0.0
    out = reduce_text(z, n_components=3)
    has = np.ones(50, dtype=bool)
    has[7] = False
    assert out.shape == (50, 3) and not out[7].any()
    np.testing.assert_allclose(out[has].mean(0), 0.0, atol=1e-6)
    assert np.linalg.norm(out[has], axis=1).mean() == pytest.approx(1.0, rel=1e-5)
    # the first component carries the most variance
    assert out[has, 0].var() >= out[has, 1].var() >= out[has, 2].var()


def test_text_mode_ignores_item_ids_but_keeps_the_mask_token():
    fusion = _fusion("text")
    a, b = torch.randn(6, 2), torch.randn(6, 2)
    out_a, out_b = fusion(a), fusion(b)
    assert torch.allclose(out_a[1:5], out_b[1:5])
    assert torch.allclose(out_a[5], a[5])  # [MASK] row


@pytest.mark.parametrize("mode", ["concat", "gate"])
def test_mixing_modes_give_one_vector_per_row(mode):
    out = _fusion(mode)(torch.randn(6, 2))
    assert out.shape == (6, 2) and torch.isfinite(out).all()


def test_unknown_fusion_and_data_without_text_are_clear_errors(cache_dir):
    with pytest.raises(ConfigError, match="fusion must be one of"):
        SequenceTransformer(fusion="mix").fit(make_synthetic(n_users=20, n_items=40))
    rows = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"], "item_id": list("xyzxy")})
    bare = Dataset.from_frames(rows, name="bare")
    with pytest.raises(ConfigError, match="no item has any text"):
        SequenceTransformer(**FAST, fusion="gate", text_cache_dir=cache_dir).fit(bare)


@pytest.mark.parametrize("mode", [m for m in FUSIONS if m != "id"])
def test_fused_models_train_save_and_load(tmp_path, world, cache_dir, mode):
    split = leave_one_out(world)
    model = SequenceTransformer(**{**FAST, "epochs": 3}, fusion=mode, text_cache_dir=cache_dir)
    model.fit_split(split, "test")
    users = list(split.test["user_id"][:5])
    model.save(tmp_path / mode)
    again = load(tmp_path / mode)
    np.testing.assert_allclose(again.score(users), model.score(users), rtol=1e-5, atol=1e-5)
    ids, _ = again.similar_items(world.idmap.items[0], k=3)
    assert len(ids) == 3 and world.idmap.items[0] not in ids


def test_the_inference_table_cache_follows_weight_changes(world, cache_dir):
    """Scoring reuses the fused item table, but an in-place weight change (pruning, a
    training step) is seen at once: cached and freshly fused tables agree."""
    model = SequenceTransformer(**{**FAST, "epochs": 1}, fusion="gate", text_cache_dir=cache_dir)
    model.fit(world)
    net = model.net_.eval()
    users = list(world.idmap.users[:3])
    before = model.score(users)
    with torch.no_grad():
        assert net.item_table() is net.item_table()  # cached between calls
        net.item_emb.weight.mul_(0.5)
        fresh = net.fusion(net.item_emb.weight)
        torch.testing.assert_close(net.item_table(), fresh)
    assert not np.allclose(model.score(users), before)


def test_text_only_model_recommends_items_nobody_trained_on(world, cache_dir):
    """Synthetic titles name the item's category; users have category mixtures. A text
    model should rank held-out items of a user's categories above chance; popularity
    cannot (every cold item has zero training popularity: a tie at the expected rank)."""
    cold = cold_item_split(world, fraction=0.25, seed=0)
    text_model = SequenceTransformer(**FAST, fusion="text", text_cache_dir=cache_dir)
    text_model.fit_split(cold.split, "test")
    popular = MostPopular().fit(cold.split.fit_data("test"))
    text = evaluate_cold_items(text_model, cold, ks=(5,), progress=False).metrics["recall@5"]
    pop = evaluate_cold_items(popular, cold, ks=(5,), progress=False).metrics["recall@5"]
    chance = 5 / len(cold.cold_items)
    assert pop == pytest.approx(chance, rel=0.05)
    assert text > 2 * chance


def test_id_dropout_shows_trained_items_by_their_text_alone_in_training_only():
    torch.manual_seed(1)
    fusion = TextFusion("add", 6, 3, 2, id_dropout=0.5)
    text = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]], dtype=np.float32)
    fusion.set_text(text, trained=np.array([True, True, True, False]))
    ids = torch.randn(6, 2)
    t = fusion.proj(fusion.text).detach()
    fusion.train()
    text_only = torch.zeros(6)
    for _ in range(400):
        out = fusion(ids).detach()
        text_only += torch.isclose(out, t, atol=1e-6).all(dim=1).float()
        assert torch.allclose(out[3], ids[3])  # empty text: never dropped
    share = text_only / 400
    assert 0.4 < share[1] < 0.6 and 0.4 < share[2] < 0.6  # trained items with text: p = 0.5
    assert share[4] == 1.0  # the cold item is text only anyway
    fusion.eval()  # at inference every trained item keeps its ID embedding
    assert torch.allclose(fusion(ids)[1], ids[1] + t[1])


def test_id_dropout_needs_text_and_a_range(world):
    with pytest.raises(ConfigError, match="needs fusion add, concat or gate"):
        SequenceTransformer(id_dropout=0.3).fit(world)
    with pytest.raises(ConfigError, match=r"id_dropout must be in \[0, 1\)"):
        SequenceTransformer(fusion="add", id_dropout=1.0).fit(world)


def test_mask_untrained_leaves_untrained_items_out_of_the_training_softmax():
    """In training the loss is the cross-entropy over trained items only (both loss paths)
    and an untrained item's bias and vector get no gradient; at inference it is scored."""
    from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig

    torch.manual_seed(0)
    config = TransformerConfig(
        n_items=5, dim=8, heads=2, layers=1, max_len=4, fusion="add", text_dim=3,
        mask_untrained=True,
    )  # fmt: skip
    net = SequenceTransformerNet(config)
    trained = np.array([True, True, True, False, True])
    net.fusion.set_text(np.eye(5, 3, dtype=np.float32), trained)
    net.set_trained(trained)
    items = torch.tensor([[1, 2, 3, 5], [0, 5, 2, 1]])
    targets = torch.tensor([[2, 3, 5, 1], [0, 2, 1, 5]])  # catalogue item 4 is never a target
    net.train()
    torch.manual_seed(1)
    logits, loss = net(items, targets=targets, need_logits=True)
    assert torch.isinf(logits[:, 3]).all() and torch.isfinite(logits[:, [0, 1, 2, 4]]).all()
    keep = [0, 1, 2, 4]
    y = targets[targets != 0] - 1
    expected = torch.nn.functional.cross_entropy(
        logits[:, keep], torch.tensor([keep.index(int(v)) for v in y])
    )
    assert torch.allclose(loss, expected)
    torch.manual_seed(1)
    _, chunked = net(items, targets=targets, need_logits=False)
    assert torch.allclose(chunked, loss, atol=1e-6)
    chunked.backward()
    assert float(net.out_bias.grad[4]) == 0.0  # row 4 = catalogue item 3
    assert float(net.item_emb.weight.grad[4].abs().sum()) == 0.0
    assert float(net.out_bias.grad[1].abs()) > 0
    net.eval()
    with torch.no_grad():
        assert torch.isfinite(net(items)[0]).all()  # at inference every item is scored


def test_new_items_start_from_the_mean_bias_of_the_others():
    from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig

    net = SequenceTransformerNet(TransformerConfig(n_items=4, dim=8, heads=2, layers=1))
    with torch.no_grad():
        net.out_bias[1:5] = torch.tensor([1.0, 2.0, 6.0, -3.0])
    net.new_items_start(np.array([False, False, True, False]))
    assert net.out_bias[1:5].tolist() == [1.0, 2.0, 0.0, -3.0]


def test_mask_untrained_ranks_new_items_higher_in_the_full_catalogue(world, cache_dir):
    """Without the mask every step pushes the cold items down as negatives; with it they
    compete by their text (synthetic titles name the item's category)."""
    from lmrec.evaluate.cold_start import evaluate_cold_items_full

    cold = cold_item_split(world, fraction=0.25, seed=0)
    recall = {}
    for mask in (False, True):
        model = SequenceTransformer(
            **FAST, fusion="add", text_cache_dir=cache_dir, mask_untrained=mask
        ).fit_split(cold.split, "test")
        recall[mask] = evaluate_cold_items_full(model, cold)[0].metrics["recall@20"]
    assert recall[True] > recall[False] + 0.05


def test_mask_untrained_needs_item_text(world):
    with pytest.raises(ConfigError, match=r"mask_untrained .* needs item text"):
        SequenceTransformer(mask_untrained=True).fit(world)


def _text_bias_net(id_dropout: float):
    from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig

    torch.manual_seed(0)
    config = TransformerConfig(
        n_items=5, dim=8, heads=2, layers=1, max_len=4, fusion="add", text_dim=3,
        id_dropout=id_dropout, text_bias=True, mask_untrained=True,
    )  # fmt: skip
    net = SequenceTransformerNet(config)
    text = np.eye(5, 3, dtype=np.float32) + 0.5  # every item has text
    trained = np.array([True, True, True, False, True])
    net.fusion.set_text(text, trained)
    net.set_trained(trained)
    with torch.no_grad():
        net.out_bias[1:6] = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
        net.fusion.bias_proj.bias.fill_(-7.0)
    return net


def test_text_bias_replaces_the_bias_of_items_seen_by_their_text_alone():
    """At inference the untrained item (catalogue 3) takes its text's bias, the others
    their own; in training, the items this step's ID dropout dropped take it too, the same
    items whose table rows lost their ID part."""
    net = _text_bias_net(id_dropout=0.5)
    predicted = net.fusion.text_bias()[1:6].detach()
    net.eval()
    bias = net.output_bias().detach()
    assert bias.tolist()[:3] == [1.0, 2.0, 3.0] and float(bias[4]) == 5.0
    assert torch.isclose(bias[3], predicted[3])
    net.train()
    torch.manual_seed(3)
    table = net.item_table()
    dropped = (net.fusion.step_keep[1:6] == 0).numpy()
    dropped[3] = False  # untrained: -inf in training (mask_untrained), checked below
    assert dropped.any() and not dropped.all()
    bias = net.output_bias().detach()
    assert torch.allclose(bias[dropped], predicted[dropped])
    kept = ~dropped
    kept[3] = False
    assert torch.equal(bias[kept], net.out_bias[1:6].detach()[kept])
    assert torch.isinf(bias[3])
    t = net.fusion.proj(net.fusion.text)
    assert torch.allclose(table[1:6][dropped], t[1:6][dropped])


def test_text_bias_learns_from_dropped_items_and_new_items_start_from_it():
    net = _text_bias_net(id_dropout=0.9)
    net.train()
    items = torch.tensor([[1, 2, 3, 5], [0, 5, 2, 1]])
    targets = torch.tensor([[2, 3, 5, 1], [0, 2, 1, 5]])
    torch.manual_seed(1)
    _, loss = net(items, targets=targets, need_logits=False)
    loss.backward()
    assert float(net.fusion.bias_proj.weight.grad.abs().sum()) > 0
    net.new_items_start(np.array([False, False, False, True, False]))
    assert torch.isclose(net.out_bias[4], net.fusion.text_bias()[4])
    assert net.out_bias[1:4].tolist() == [1.0, 2.0, 3.0]


def test_output_only_id_dropout_keeps_the_history_ids_and_drops_candidates_ids():
    """``id_dropout_inputs=False``: the history's items are encoded with the full fused
    table (the states equal those of a net without dropout) while the output layer sees
    the dropped items by their text alone and gives them their text's bias."""
    net = _text_bias_net(id_dropout=0.5)
    net.config = net.config.__class__(**{**net.config.to_dict(), "id_dropout_inputs": False})
    items = torch.tensor([[1, 2, 3, 5], [0, 5, 2, 1]])
    targets = torch.tensor([[2, 3, 5, 1], [0, 2, 1, 5]])
    net.train()
    torch.manual_seed(3)
    inputs = net.input_table()
    full = net.fusion(net.item_emb.weight, drop=False)
    assert torch.equal(inputs, full)  # every trained ID kept in the history
    net.emb_drop.p = 0.0  # compare states without dropout noise
    for block in net.blocks:
        block.attn.dropout = 0.0
        block.attn.resid_drop.p = block.ff.drop.p = 0.0
    for seed in range(50):  # a step that drops some trained items and keeps others
        torch.manual_seed(seed)
        logits, _ = net(items, targets=targets)
        dropped = (net.fusion.step_keep[1:6] == 0).numpy()
        dropped[3] = False  # untrained: masked out of the training softmax
        if 0 < dropped.sum() < 4:
            break
    states = net.encode(items, table=full)[targets != 0]
    table = net.fusion(net.item_emb.weight, drop=False).detach()
    t = net.fusion.proj(net.fusion.text).detach()
    text_bias = net.fusion.text_bias().detach()
    j = int(np.flatnonzero(dropped)[0])  # a dropped catalogue item: text vector, text bias
    assert torch.allclose(logits[:, j], states @ t[j + 1] + text_bias[j + 1], atol=1e-5)
    kept = next(k for k in range(5) if not dropped[k] and k != 3)
    expected = states @ table[kept + 1] + net.out_bias[kept + 1]
    assert torch.allclose(logits[:, kept], expected, atol=1e-5)
    with pytest.raises(ConfigError, match=r"id_dropout_inputs=False .* needs id_dropout > 0"):
        SequenceTransformer(fusion="add", id_dropout_inputs=False).fit(make_synthetic(20, 40))


def test_text_bias_needs_text_and_id_dropout(world):
    with pytest.raises(ConfigError, match=r"text_bias .* needs fusion 'text'"):
        SequenceTransformer(fusion="add", text_bias=True).fit(world)
    with pytest.raises(ConfigError, match="text_bias"):
        SequenceTransformer(text_bias=True).fit(world)


def _text_head_net(weight: float = 1.0):
    from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig

    torch.manual_seed(0)
    config = TransformerConfig(
        n_items=5, dim=8, heads=2, layers=1, max_len=4, fusion="add", text_dim=3,
        text_bias=True, mask_untrained=True, text_head=weight, dropout=0.0,
    )  # fmt: skip
    net = SequenceTransformerNet(config)
    text = np.eye(5, 3, dtype=np.float32) + 0.5
    trained = np.array([True, True, True, False, True])  # catalogue item 3 is new
    net.fusion.set_text(text, trained)
    net.set_trained(trained)
    with torch.no_grad():
        net.out_bias[1:6] = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    return net


def test_text_head_scores_new_items_by_text_as_log_probabilities_over_trained_items():
    """At inference a new item gets the text head's log-probability, h·t + b̂ minus the
    text head's log-normaliser over the trained items; trained items get the fused
    head's log-probability over the same items, so their order is the fused order."""
    net = _text_head_net().eval()
    items = torch.tensor([[1, 2, 5, 4], [0, 0, 2, 1]])
    with torch.no_grad():
        states = net.encode(items)[:, -1]
        scores = net.logits(states)
        table = net.item_table()[1:6]
        fused = states @ table.T + net.out_bias[1:6]
        t = net.fusion.proj(net.fusion.text)[1:6]
        text = states @ t.T + net.fusion.text_bias()[1:6]
    warm = [0, 1, 2, 4]
    expected_warm = torch.log_softmax(fused[:, warm], dim=-1)
    assert torch.allclose(scores[:, warm], expected_warm, atol=1e-5)
    expected_new = text[:, 3] - torch.logsumexp(text[:, warm], dim=-1)
    assert torch.allclose(scores[:, 3], expected_new, atol=1e-5)
    assert net.text_only_items().tolist() == [False, False, False, True, False]
    assert torch.equal(scores[:, warm].argsort(dim=-1), fused[:, warm].argsort(dim=-1))
    net.config = net.config.__class__(**{**net.config.to_dict(), "text_head_offset": -1.5})
    with torch.no_grad():
        shifted = net.logits(states)
    assert torch.allclose(shifted[:, 3], expected_new - 1.5, atol=1e-5)
    assert torch.equal(shifted[:, warm], scores[:, warm])


def test_text_head_adds_its_weighted_loss_on_the_same_targets():
    """Training: L = L_fused + λ·L_text, the text head's softmax without the untrained item
    (mask_untrained), with or without the logits; the text head's gradient trains the text
    projection and the text bias map."""
    items = torch.tensor([[1, 2, 5, 4], [0, 5, 2, 1]])
    targets = torch.tensor([[2, 5, 1, 5], [0, 2, 1, 5]])
    nets, losses = {}, {}
    for weight in (0.0, 0.5):
        nets[weight] = net = _text_head_net(weight).train()
        _, with_logits = net(items, targets=targets)
        _, losses[weight] = net(items, targets=targets, need_logits=False)
        assert torch.isclose(with_logits, losses[weight], atol=1e-5)
    net = nets[0.5]
    states = net.encode(items)[targets != 0]
    y = targets[targets != 0] - 1
    t = net.fusion.proj(net.fusion.text)[1:6]
    text = states @ t.T + net.fusion.text_bias()[1:6] + net.untrained_penalty
    expected = losses[0.0] + 0.5 * torch.nn.functional.cross_entropy(text, y)
    assert torch.isclose(losses[0.5], expected, atol=1e-5)
    losses[0.5].backward()
    assert float(net.fusion.bias_proj.weight.grad.abs().sum()) > 0
    losses[0.0].backward()
    grad = nets[0.0].fusion.bias_proj.weight.grad  # no text head: only the masked new item
    assert grad is None or float(grad.abs().sum()) == 0


def test_text_head_needs_text_bias_fusion_and_the_full_softmax(world):
    with pytest.raises(ConfigError, match=r"text_head .* needs fusion add, concat or gate"):
        SequenceTransformer(fusion="add", text_head=1.0).fit(world)
    with pytest.raises(ConfigError, match="text_head"):
        SequenceTransformer(text_head=1.0, text_bias=True).fit(world)
    with pytest.raises(ConfigError, match=r"text_head.*sampled_softmax=0"):
        SequenceTransformer(fusion="add", text_bias=True, text_head=1.0, sampled_softmax=10).fit(
            world
        )
    with pytest.raises(ConfigError, match=r"compress a model with text_head=0"):
        SequenceTransformer(fusion="add", text_bias=True, text_head=1.0, quantize="int8").fit(world)
    with pytest.raises(ConfigError, match="text_head"):
        SequenceTransformer(fusion="add", text_bias=True, text_head=-1.0).fit(world)
    with pytest.raises(ConfigError, match="text_head_offset"):
        SequenceTransformer(text_head_offset=float("nan")).fit(world)


def test_a_text_head_model_ranks_new_items_and_saves_and_loads(world, cache_dir, tmp_path):
    cold = cold_item_split(world, fraction=0.2, seed=0)
    model = SequenceTransformer(
        **{**FAST, "epochs": 3}, fusion="add", text_bias=True, text_head=1.0,
        mask_untrained=True, text_cache_dir=cache_dir,
    ).fit_split(cold.split, "test")  # fmt: skip
    users = world.idmap.users[:5]
    scores = model.score(users)
    new = model.idmap_.item_index(cold.cold_items)
    assert np.isfinite(scores).all() and (scores <= 0).all()  # log-probabilities
    top = np.argsort(-scores, axis=1)[:, :20]
    assert np.isin(top, new).any()  # new items compete with warm ones
    model.save(tmp_path / "run")
    again = load(tmp_path / "run")
    assert np.allclose(scores, again.score(users), atol=1e-5)


def test_a_text_bias_model_saves_and_loads_with_the_same_scores(world, cache_dir, tmp_path):
    split = leave_one_out(world)
    model = SequenceTransformer(
        **{**FAST, "epochs": 2}, fusion="add", id_dropout=0.3, text_bias=True,
        text_cache_dir=cache_dir,
    ).fit_split(split, "test")  # fmt: skip
    model.save(tmp_path / "run")
    again = load(tmp_path / "run")
    users = world.idmap.users[:5]
    assert np.allclose(model.predict_proba(users), again.predict_proba(users), atol=1e-6)
