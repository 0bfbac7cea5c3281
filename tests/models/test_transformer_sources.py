"""Sources on the sequence Transformer: ratings and reviews as event features carry what
the items alone do not, source weights are per-user distributions (fixed ones obeyed),
no source leaks a later or a masked event, and bad settings fail clearly."""

import numpy as np
import pandas as pd
import pytest
import torch

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.errors import ConfigError
from lmrec.models.registry import load, make_model
from lmrec.models.sequential import SequenceTransformer
from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig
from lmrec.train.sequences import (
    Windows,
    keep_behaviours,
    masked_batch,
    user_sequences,
)

CLUSTER = 10  # items per cluster; two clusters
FAST = dict(
    dim=16,
    heads=2,
    layers=1,
    max_len=10,
    epochs=25,
    batch_size=64,
    lr=1e-2,
    warmup_steps=5,
    dropout=0.1,
    target_behaviour="buy",
    progress=False,
    seed=0,
)
LOVED = ["I loved it, wonderful", "Excellent, I adore this", "Great, I really liked it"]
HATED = ["I hated it, awful", "Terrible, I disliked this", "Bad, a waste of money"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("text-cache")


def make_world(n_users: int = 600, seed: int = 0) -> tuple[Dataset, pd.DataFrame]:
    """Every user views 3 items of each of two clusters, liking one cluster: views of it
    are rated 5 with a loving review, the others 1 with a hating one. Then they buy an
    unseen item of the liked cluster. The items alone are balanced, so only the ratings
    or the reviews say which cluster the buy comes from.

    Returns the data with the buys of the last 150 users held out, and those buys."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        liked = u % 2
        picks = {c: rng.permutation(CLUSTER) + c * CLUSTER for c in (0, 1)}
        views = [(i, c) for c in (0, 1) for i in picks[c][:3]]
        rng.shuffle(views)
        for t, (i, c) in enumerate(views):
            good = c == liked
            review = (LOVED if good else HATED)[rng.integers(3)]
            rows.append((f"u{u}", f"i{i}", "view", 5.0 if good else 1.0, review, t))
        buy = picks[liked][3 + rng.integers(CLUSTER - 3)]
        rows.append((f"u{u}", f"i{buy}", "buy", np.nan, "", len(views)))
    cols = ["user_id", "item_id", "behaviour", "rating", "review", "timestamp"]
    frame = pd.DataFrame(rows, columns=cols)
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(2 * CLUSTER)]})
    data = Dataset.from_frames(frame, items, name="liked-clusters")
    inter = data.interactions
    test_users = {f"u{u}" for u in range(n_users - 150, n_users)}
    held = (inter["behaviour"] == "buy") & inter["user_id"].astype(str).isin(test_users)
    return data.with_interactions(inter[~held]), inter[held]


@pytest.fixture(scope="module")
def world():
    return make_world()


def liked_share(model: SequenceTransformer, held: pd.DataFrame, k: int = CLUSTER - 3) -> float:
    """Share of each user's top k (seen items excluded) in the cluster they like: 1 when
    the model knows which it is (k = its unseen items), about 1/2 when it cannot tell."""
    users = held["user_id"].astype(str).tolist()
    liked = np.array([int(u[1:]) % 2 for u in users])
    top, _ = model.recommend(users, k=k)
    cluster = np.array([[int(i[1:]) // CLUSTER for i in row] for row in top])
    return float((cluster == liked[:, None]).mean())


@pytest.fixture(scope="module")
def fitted(world, cache_dir):
    """Without sources, with ratings, with reviews (fitted once for the tests below)."""
    train, _ = world
    out = {}
    for name, sources in (("none", ""), ("rating", "rating"), ("review", "review")):
        model = SequenceTransformer(**FAST, sources=sources, text_cache_dir=cache_dir)
        out[name] = model.fit(train)
    return out


def test_ratings_and_reviews_say_what_the_items_cannot(world, fitted):
    _, held = world
    # Items alone cannot tell the clusters apart: about half of the list is in the other.
    assert liked_share(fitted["none"], held) < 0.7
    assert liked_share(fitted["rating"], held) > 0.9
    assert liked_share(fitted["review"], held) > 0.9


def test_source_weights_are_per_user_distributions(world, fitted):
    _, held = world
    users = held["user_id"].astype(str).tolist()[:20]
    weights = fitted["review"].source_weights_of(users)
    assert list(weights.columns) == ["behaviour", "review"]
    assert list(weights.index) == users
    np.testing.assert_allclose(weights.to_numpy().sum(axis=1), 1.0, atol=1e-6)
    assert (weights.to_numpy() >= 0).all()
    plain = fitted["none"].source_weights_of(users[:3])  # one source: its behaviour sequence
    assert list(plain.columns) == ["behaviour"] and (plain.to_numpy() == 1.0).all()


def test_fixed_weights_are_obeyed_and_saved(tmp_path, world, cache_dir):
    train, held = world
    model = SequenceTransformer(
        **{**FAST, "epochs": 2},
        sources="rating,review",
        source_weighting="fixed",
        source_weights="behaviour=1,rating=1,review=2",
        text_cache_dir=cache_dir,
    ).fit(train)
    users = held["user_id"].astype(str).tolist()[:5]
    weights = model.source_weights_of(users)
    assert list(weights.columns) == ["behaviour", "rating", "review"]
    np.testing.assert_allclose(weights.to_numpy(), [[0.25, 0.25, 0.5]] * 5, atol=1e-6)
    model.save(tmp_path / "run")
    loaded = load(tmp_path / "run")
    np.testing.assert_allclose(loaded.score(users), model.score(users), atol=1e-5)
    np.testing.assert_allclose(loaded.source_weights_of(users), weights, atol=1e-6)


def test_a_loaded_review_model_conditions_on_new_reviews_as_in_training(tmp_path, world, fitted):
    """set_history after loading encodes new events' reviews with the saved basis."""
    train, _ = world
    model = fitted["review"]
    model.save(tmp_path / "run")
    loaded = load(tmp_path / "run")
    loaded.set_history(train)
    users = train.interactions["user_id"].astype(str).unique()[:10].tolist()
    np.testing.assert_allclose(loaded.score(users), model.score(users), atol=1e-5)


def _net(**kw) -> SequenceTransformerNet:
    torch.manual_seed(0)
    config = TransformerConfig(n_items=30, dim=16, heads=2, max_len=8, **kw)
    net = SequenceTransformerNet(config).eval()
    if net.source_gate is not None:  # a gate that depends on the history
        torch.nn.init.normal_(net.source_gate.weight, std=1.0)
    return net


def test_no_source_lets_a_state_see_a_later_event():
    net = _net(sources="rating,review", review_dim=4)
    items = torch.tensor([[3, 4, 5, 6, 7]])
    ratings = torch.tensor([[10, 2, 10, 4, 6]])
    reviews = torch.randn(1, 5, 4)
    a = net.encode(items, causal=True, ratings=ratings, reviews=reviews)
    later = items.clone()
    later[0, 4] = 9
    later_ratings, later_reviews = ratings.clone(), reviews.clone()
    later_ratings[0, 4] = 1
    later_reviews[0, 4] = torch.randn(4)
    b = net.encode(later, causal=True, ratings=later_ratings, reviews=later_reviews)
    assert torch.allclose(a[0, :4], b[0, :4], atol=1e-6)
    assert not torch.allclose(a[0, 4], b[0, 4])
    # and the features do reach the state
    c = net.encode(items, causal=True, ratings=later_ratings, reviews=reviews)
    assert not torch.allclose(a[0, 4], c[0, 4])


def test_masked_events_hide_their_rating_and_review():
    items = [np.array([1, 2, 3, 4, 5, 6])]
    seqs = user_sequences_of(items, ratings=[np.array([5.0, 1, 5, 1, 5, 1])])
    windows = Windows(np.array([0]), np.array([0]), np.array([6]))
    batch = masked_batch(
        seqs,
        windows,
        np.array([0]),
        mask_index=99,
        mask_prob=0.5,
        rng=np.random.default_rng(3),
        features=("rating", "review"),
    )
    masked = (batch.items == 99).numpy()[0]
    assert masked.any() and not masked.all()
    assert (batch.ratings.numpy()[0][masked] == 0).all()
    assert (batch.ratings.numpy()[0][~masked] > 0).all()
    reviews = batch.reviews.numpy()[0]
    assert (reviews[masked] == 0).all() and (np.abs(reviews[~masked]).sum(axis=1) > 0).all()


def user_sequences_of(items, ratings):
    """Sequences of one user from arrays (behaviour view, no time, review vectors 1..n)."""
    frame = pd.DataFrame(
        {
            "user_id": "u",
            "item_id": [f"i{i}" for i in items[0]],
            "behaviour": "view",
            "rating": ratings[0],
        }
    )
    data = Dataset.from_frames(frame, name="one-user")
    reviews = np.arange(1, len(frame) + 1, dtype=np.float32)[:, None].repeat(3, axis=1)
    return user_sequences(data, reviews)


def test_history_behaviours_keeps_only_those_events(world):
    train, held = world
    seqs = user_sequences(train)
    buy = BEHAVIOURS.index("buy") + 1
    kept = keep_behaviours(seqs, np.array([buy]))
    assert all((b == buy).all() for b in kept.behaviours)
    assert sum(len(s) for s in kept.items) == int((train.interactions["behaviour"] == "buy").sum())
    model = SequenceTransformer(**{**FAST, "epochs": 1}, history_behaviours="view").fit(train)
    assert all(len(s) == 6 for s in model.sequences_.items)
    users = held["user_id"].astype(str).tolist()[:3]
    seen = model.seen_[model.idmap_.user_index(users)].toarray()
    assert (seen.sum(axis=1) == 6).all()  # seen items stay every behaviour's


def test_bad_source_settings_are_clear_errors(world, cache_dir):
    train, _ = world
    bad = [
        ({"sources": "rating,colour"}, "unknown source 'colour'"),
        ({"sources": "rating", "source_weights": "rating=1"}, "source_weighting='fixed'"),
        (
            {"sources": "rating", "source_weighting": "fixed", "source_weights": "likes=1"},
            "'likes', which is not among the sources",
        ),
        (
            {"sources": "rating", "source_weighting": "fixed", "source_weights": "rating=0"},
            "all zero",
        ),
        ({"sources": "rating", "source_weighting": "often"}, "source_weighting must be one of"),
        ({"history_behaviours": "teleport"}, "history_behaviours"),
    ]
    for params, message in bad:
        with pytest.raises(ConfigError, match=message):
            make_model("transformer", **params)
    with pytest.raises(ConfigError, match="transformer-rating already reads"):
        make_model("transformer-rating", sources="review")
    with pytest.raises(ConfigError, match="transformer-behaviour reads behaviours"):
        make_model("transformer-behaviour", sources="rating")
    no_ratings = train.with_interactions(train.interactions.assign(rating=np.nan))
    with pytest.raises(ConfigError, match=r"liked-clusters: sources='rating'.*no ratings"):
        SequenceTransformer(**FAST, sources="rating").fit(no_ratings)
    no_reviews = train.with_interactions(train.interactions.assign(review=""))
    with pytest.raises(ConfigError, match="no event has review text"):
        SequenceTransformer(**FAST, sources="review", text_cache_dir=cache_dir).fit(no_reviews)


def test_an_update_carries_the_new_events_ratings_and_reviews(world, cache_dir):
    train, _ = world
    model = SequenceTransformer(
        **{**FAST, "epochs": 2}, sources="rating,review", text_cache_dir=cache_dir
    ).fit(train)
    events = pd.DataFrame(
        {
            "user_id": ["new", "new", "u0"],
            "item_id": ["i1", "i12", "i3"],
            "behaviour": "view",
            "rating": [5.0, 1.0, 4.0],
            "review": [LOVED[0], HATED[0], ""],
            "timestamp": [100.0, 101.0, 102.0],
        }
    )
    model.update(events, epochs=1)
    (new,) = model.idmap_.user_index(["new"])
    np.testing.assert_array_equal(model.sequences_.ratings[new], [5.0, 1.0])
    reviews = model.sequences_.reviews[new]
    assert reviews.shape == (2, 64) and (np.abs(reviews).sum(axis=1) > 0).all()
    (u0,) = model.idmap_.user_index(["u0"])
    assert model.sequences_.ratings[u0][-1] == 4.0
    assert not model.sequences_.reviews[u0][-1].any()  # no review: a zero vector
    weights = model.source_weights_of(["new"])
    np.testing.assert_allclose(weights.to_numpy().sum(), 1.0, atol=1e-6)


def test_explanations_split_each_event_by_source(world, fitted):
    """The rating model can only tell the clusters apart by the ratings, so its
    explanations give the ratings a real share; each part is the score's derivative along
    that part at the blocks' input (checked against a finite difference)."""
    from lmrec.models.explain import gradient_x_input, source_shares

    _, held = world
    users = held["user_id"].astype(str).tolist()[:20]
    shares = []
    for user in users:
        (item,), _ = fitted["rating"].recommend(user, k=1)
        events = fitted["rating"].explain(user, item, top=50)
        assert all(set(a.sources) == {"item", "behaviour", "rating"} for a in events)
        shares.append(source_shares(events)["rating"])
    assert np.mean(shares) > 0.2
    (item,), _ = fitted["none"].recommend(users[0], k=1)
    plain = fitted["none"].explain(users[0], item, top=50)
    assert set(plain[0].sources) == {"item", "behaviour"}
    assert sum(source_shares(plain).values()) == pytest.approx(1.0)

    model = fitted["review"]
    net = model.net_.eval()
    row = model.idmap_.user_index([users[0]])
    _, inputs = next(model._inference_chunks(net, model.sequences_, row, 1))
    (item,) = model.idmap_.item_index([model.recommend(users[0], k=1)[0][0]])
    grads = gradient_x_input(net, inputs, int(item))
    last = int(np.flatnonzero(inputs["items"][0].numpy())[-1])
    with torch.no_grad():
        table = net.item_table()
        vectors = table[inputs["items"]]
        terms = net.event_features(
            vectors, inputs["items"], inputs["behaviours"], None, inputs["reviews"]
        )

        def score(offset: torch.Tensor) -> float:
            states = net.encode(
                inputs["items"],
                inputs.get("behaviours"),
                inputs.get("gaps"),
                causal=inputs.get("causal", True),
                reviews=inputs.get("reviews"),
                next_behaviours=inputs.get("next_behaviours"),
                input_offset=offset,
            )
            return float(net.logits(states[:, -1], table)[0, item])

        eps = 1e-3
        base = score(torch.zeros_like(vectors))
        for name, term in (("item", vectors), ("review", terms["review"])):
            offset = torch.zeros_like(vectors)
            offset[0, last] = eps * term[0, last]
            numeric = (score(offset) - base) / eps
            assert grads.parts[name][last] == pytest.approx(numeric, rel=0.05, abs=1e-3)
