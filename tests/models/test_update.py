"""Incremental update: a fitted Transformer continues on new events, users and items."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import Dataset
from lmrec.errors import CapabilityError, ConfigError, DataError
from lmrec.models.grow import append_events, grow_item_rows, grown_idmap, new_ids
from lmrec.models.popular import MostPopular
from lmrec.models.registry import load
from lmrec.models.sequential import SequenceTransformer
from lmrec.models.transformer import SequenceTransformerNet
from lmrec.train.sequences import UserSequences

FAST = dict(
    dim=32, heads=2, layers=1, max_len=20, epochs=8, batch_size=64, warmup_steps=10,
    progress=False, seed=0,
)  # fmt: skip
#: Items held back from the base data: they arrive with the update.
NEW_ITEMS = [str(i) for i in range(101, 121)]


@pytest.fixture(scope="module")
def world():
    return make_synthetic(n_users=200, n_items=120, seed=1)


@pytest.fixture(scope="module")
def parts(world):
    """(base data, update events): the first 85% of time without items 101-120, then the
    rest of time, which brings new users, new items and more events of known users."""
    inter = world.interactions
    cut = inter["timestamp"].quantile(0.85)
    early = inter[(inter["timestamp"] <= cut) & ~inter["item_id"].isin(NEW_ITEMS)]
    late = inter[inter["timestamp"] > cut].reset_index(drop=True)
    late = late[late["user_id"].isin(set(early["user_id"])) | (late.index % 2 == 0)]
    base_items = world.items[~world.items["item_id"].isin(NEW_ITEMS)]
    base = Dataset.from_frames(early, base_items, name="base")
    return base, late.reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(parts, tmp_path_factory):
    base, _ = parts
    path = tmp_path_factory.mktemp("base-run")
    SequenceTransformer(**FAST).fit(base).save(path)
    return path


def test_update_grows_users_and_items_at_the_end_and_keeps_old_indices(parts, fitted, world):
    base, events = parts
    model = load(fitted)
    before = model.score(list(base.idmap.users[:5]))
    model.update(events, items=world.items, epochs=2)
    assert list(model.idmap_.users[: base.n_users]) == list(base.idmap.users)
    assert list(model.idmap_.items[: base.n_items]) == list(base.idmap.items)
    assert set(NEW_ITEMS) <= set(model.idmap_.items[base.n_items :])
    new_users = set(events["user_id"]) - set(base.idmap.users)
    assert new_users and new_users <= set(model.idmap_.users[base.n_users :])
    assert model.seen_.shape == (model.idmap_.n_users, model.idmap_.n_items)
    after = model.score(list(base.idmap.users[:5]))
    assert after.shape == (5, model.idmap_.n_items)
    assert not np.allclose(after[:, : base.n_items], before)  # it trained
    user = sorted(new_users)[0]
    ids, _ = model.recommend([user], k=5)
    seen = set(events.loc[events["user_id"] == user, "item_id"])
    assert not seen & set(ids[0])  # a new user's events count as seen
    # a known user's sequence ends with their new events, in time order
    known = sorted(set(events["user_id"]) & set(base.idmap.users))[0]
    (row,) = model.idmap_.user_index([known])
    tail = model.idmap_.item_ids(model.sequences_.items[row][-2:] - 1)
    expected = events.loc[events["user_id"] == known, "item_id"].to_numpy()[-2:]
    assert list(tail) == list(expected)


def test_new_items_start_from_their_text_neighbours(parts, fitted, world):
    """Synthetic titles name the genre: a new Metal item's starting embedding is an average
    of Metal items' embeddings, so it is nearer to them than to other genres'."""
    base, events = parts
    model = load(fitted)
    old = model.net_.item_emb.weight.detach().clone()
    new = Dataset.from_frames(events, world.items)
    net = SequenceTransformerNet(replace(model.net_.config, n_items=base.n_items + 20))
    net.load_state_dict(grow_item_rows(model.net_.state_dict(), net.state_dict(), base.n_items))
    model._start_new_items(net, new.items.set_index("item_id").loc[NEW_ITEMS], base.n_items, None)
    genre = world.items.set_index("item_id")["categories"].map(lambda c: c[0])
    base_genre = genre.loc[list(base.idmap.items)].to_numpy()
    for j, item in enumerate(NEW_ITEMS):
        start = net.item_emb.weight[base.n_items + 1 + j].detach()
        same = old[1 : base.n_items + 1][base_genre == genre[item]].mean(0)
        other = old[1 : base.n_items + 1][base_genre != genre[item]].mean(0)
        assert torch.dist(start, same) < torch.dist(start, other)
    bias = net.out_bias.detach()
    assert torch.allclose(bias[base.n_items + 1 : -1], bias[1 : base.n_items + 1].mean())


def test_update_round_trips_through_save_and_load(parts, fitted, world, tmp_path):
    _, events = parts
    model = load(fitted).update(events, items=world.items, epochs=1)
    model.save(tmp_path / "updated")
    again = load(tmp_path / "updated")
    users = list(model.idmap_.users[-3:])
    assert np.allclose(again.score(users), model.score(users), atol=1e-5)
    assert list(again.item_titles_[-20:]) == list(model.item_titles_[-20:])


def test_update_refuses_events_older_than_the_model(parts, fitted):
    base, events = parts
    old = base.interactions.iloc[[3]][list(events.columns)]
    with pytest.raises(DataError, match=r"older than the model's latest event.*user '\w+'"):
        load(fitted).update(pd.concat([events, old]))


def test_update_refuses_bad_events_and_unsupported_models(parts, fitted):
    base, events = parts
    with pytest.raises(DataError, match="missing column"):
        load(fitted).update(events.rename(columns={"item_id": "product"}))
    with pytest.raises(DataError, match="behaviour 'teleport'"):
        load(fitted).update(events.assign(behaviour="teleport"))
    with pytest.raises(ConfigError, match="expects a Dataset or a DataFrame"):
        load(fitted).update([("u", "i")])
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        load(fitted).update(events, epochs=0)
    with pytest.raises(ConfigError, match="compressed"):
        load(fitted).compress(prune=0.3).update(events)
    with pytest.raises(CapabilityError, match="retrain"):
        MostPopular().fit(base).update(events)


def test_grow_helpers():
    from lmrec.data.idmap import IdMap

    idmap = IdMap(users=np.array(["a", "b"]), items=np.array(["x", "y"]))
    assert new_ids(idmap.users, ["b", "c", "c", "a", "d"]) == ["c", "d"]
    grown = grown_idmap(idmap, ["c"], ["z"])
    assert list(grown.users) == ["a", "b", "c"] and list(grown.items) == ["x", "y", "z"]
    seqs = UserSequences([np.array([1, 2])], [np.array([1, 1])], [np.array([1.0, 2.0])])
    out = append_events(
        seqs, 3, np.array([2, 0, 2]), np.array([3, 1, 2]), np.array([1, 2, 1]),
        np.array([5.0, 6.0, 7.0]),
    )  # fmt: skip
    assert [s.tolist() for s in out.items] == [[1, 2, 1], [], [3, 2]]
    assert out.behaviours[0].tolist() == [1, 1, 2]
    old = {"w": torch.arange(8.0).view(4, 2), "b": torch.ones(3)}
    new = {"w": torch.full((6, 2), -1.0), "b": torch.zeros(3)}
    rows = grow_item_rows(old, new, n_old=2)
    assert rows["w"][:3].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert rows["w"][3:5].tolist() == [[-1, -1], [-1, -1]]
    assert rows["w"][5].tolist() == [6, 7]  # [MASK] stays last
    assert rows["b"].tolist() == [1, 1, 1]


def test_a_text_fusion_model_places_new_items_text_in_its_saved_basis(parts, world, tmp_path):
    base, events = parts
    model = SequenceTransformer(**{**FAST, "epochs": 2}, fusion="add", mask_untrained=True)
    model.fit(base).save(tmp_path / "fusion")
    loaded = load(tmp_path / "fusion")
    assert np.allclose(loaded.text_basis_.components, model.text_basis_.components)
    loaded.update(events, items=world.items, epochs=1)
    fusion = loaded.net_.fusion
    rows = loaded.idmap_.item_index(NEW_ITEMS) + 1
    assert bool(fusion.has_text[rows].all())
    # the same reduction as the catalogue's: a new item's reduced text is as long as theirs
    old_norm = fusion.text[1 : base.n_items + 1].norm(dim=1).mean()
    assert fusion.text[rows].norm(dim=1).mean() == pytest.approx(float(old_norm), rel=0.3)
    # a model file without the basis cannot place new items' text: a clear error
    del_basis = load(tmp_path / "fusion")
    del_basis.text_basis_ = None
    with pytest.raises(ConfigError, match="no text basis"):
        del_basis.update(events, items=world.items)
