"""Multi-scenario interests: source weights are a masked distribution, fixed weights are
obeyed, the learned gate finds the informative source, and bad settings fail clearly."""

import numpy as np
import pandas as pd
import pytest

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.models.multi_interest import MultiInterest, available_sources, parse_weights
from lmrec.models.registry import load

N_CLUSTERS, CLUSTER_SIZE = 4, 10
FAST = dict(dim=16, epochs=30, batch_size=64, lr=1e-2, patience=30, progress=False)


def make_world(n_users: int = 160, seed: int = 0) -> Dataset:
    """Each user likes one cluster of items. Views come from that cluster (informative),
    favourites are uniform over the catalogue (noise), buys come from the cluster
    (:func:`split_last_buys` keeps the last ones apart as held-out answers).

    Ratings are attached to views, so the ``rating`` source exists too; a few users only
    have favourites (their view source is empty and must get weight 0).
    """
    rng = np.random.default_rng(seed)
    n_items = N_CLUSTERS * CLUSTER_SIZE
    rows = []
    for u in range(n_users):
        cluster = u % N_CLUSTERS
        own = cluster * CLUSTER_SIZE + np.arange(CLUSTER_SIZE)
        t = 0
        no_views = u % 20 == 0
        for i in [] if no_views else rng.choice(own, size=5, replace=False):
            rows.append((f"u{u}", f"i{i}", "view", float(rng.integers(3, 6)), t))
            t += 1
        for i in rng.choice(n_items, size=5, replace=False):
            rows.append((f"u{u}", f"i{i}", "fav", np.nan, t))
            t += 1
        for i in rng.choice(own, size=5, replace=False):
            rows.append((f"u{u}", f"i{i}", "buy", np.nan, t))
            t += 1
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "behaviour", "rating", "timestamp"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)]})
    return Dataset.from_frames(frame, items, name="clusters")


def split_last_buys(data: Dataset, n: int = 2) -> tuple[Dataset, pd.DataFrame]:
    """Training data without each user's last ``n`` buys, and those buys as targets."""
    inter = data.interactions
    buys = inter[inter["behaviour"] == "buy"]
    held = buys.groupby("user_id", observed=True).tail(n)
    return data.with_interactions(inter.drop(index=held.index)), held


def cluster_hit_rate(model: MultiInterest, targets: pd.DataFrame, k: int = 5) -> float:
    """How often the top-k (seen items excluded) holds a held-out buy of the user."""
    groups = list(targets.groupby("user_id", observed=True))
    top, _ = model.recommend([str(user) for user, _ in groups], k=k)
    hits = [
        bool(set(row) & set(g["item_id"].astype(str)))
        for row, (_, g) in zip(top, groups, strict=True)
    ]
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def world() -> tuple[Dataset, pd.DataFrame]:
    return split_last_buys(make_world())


@pytest.fixture(scope="module")
def learned(world) -> MultiInterest:
    train, _ = world
    return MultiInterest(
        sources="behaviour:view,behaviour:fav", target_behaviour="buy", **FAST
    ).fit(train)


def test_available_sources_follow_the_data(world):
    train, _ = world
    expected = ["behaviour:view", "behaviour:fav", "behaviour:buy", "rating"]
    assert available_sources(train) == expected


def test_source_weights_are_a_distribution_over_the_sources_a_user_has(learned):
    weights = learned.source_weights_of(["u0", "u1", "u2", "u3"])
    assert list(weights.columns) == ["behaviour:view", "behaviour:fav"]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert weights.loc["u0", "behaviour:view"] == 0.0  # u0 has no views
    assert weights.loc["u0", "behaviour:fav"] == pytest.approx(1.0)


def test_learned_gate_prefers_the_informative_source_and_beats_the_noisy_one(world, learned):
    train, targets = world
    weights = learned.source_weights_of([f"u{u}" for u in range(1, 40)])
    assert (weights["behaviour:view"] > weights["behaviour:fav"]).mean() > 0.9
    noisy = MultiInterest(
        sources="behaviour:view,behaviour:fav",
        source_weighting="fixed",
        source_weights="behaviour:fav=1",
        target_behaviour="buy",
        **FAST,
    ).fit(train)
    learned_hits = cluster_hit_rate(learned, targets)
    noisy_hits = cluster_hit_rate(noisy, targets)
    assert learned_hits > noisy_hits + 0.2, (learned_hits, noisy_hits)


def test_fixed_weights_are_used_as_given_and_renormalised_per_user(world):
    train, _ = world
    model = MultiInterest(
        sources="behaviour:view,behaviour:fav,rating",
        source_weighting="fixed",
        source_weights="behaviour:view=3,behaviour:fav=1",
        target_behaviour="buy",
        **{**FAST, "epochs": 2},
    ).fit(train)
    weights = model.source_weights_of(["u0", "u1"])
    # u1: views and favourites → 3:1; the rating source has weight 0 (not named)
    np.testing.assert_allclose(weights.loc["u1"].to_numpy(), [0.75, 0.25, 0.0], atol=1e-6)
    # u0 has no views (and no ratings): everything on favourites
    np.testing.assert_allclose(weights.loc["u0"].to_numpy(), [0.0, 1.0, 0.0], atol=1e-6)


def test_training_never_sees_the_event_it_predicts():
    """Leave-one-event-out: removing an event's own contribution gives the inputs the user
    would have had without it."""
    data = make_world(n_users=8)
    model = MultiInterest(target_behaviour="buy", **{**FAST, "epochs": 1}).fit(data)
    d = model.data_
    event = int(np.flatnonzero(d.users == 1)[0])
    with_drop = model.data_.inputs(np.array([1]), drop_events=np.array([event]))
    keep = np.ones(len(data.interactions), dtype=bool)
    keep[event] = False
    without = (
        type(d)
        .from_dataset(data.with_interactions(data.interactions[keep]), d.sources, None)
        .inputs(np.array([1]))
    )
    for a, b in zip(with_drop, without, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_save_and_load_round_trip(tmp_path, world, learned):
    train, _ = world
    with_ratings = MultiInterest(
        sources="behaviour:view,rating", target_behaviour="buy", **{**FAST, "epochs": 2}
    ).fit(train)
    for name, model in (("multi", learned), ("ratings", with_ratings)):
        again = load(model.save(tmp_path / name))
        users = ["u1", "u7", "u0"]
        np.testing.assert_allclose(again.score(users), model.score(users), atol=1e-5)
        weights = again.source_weights_of(users)
        pd.testing.assert_frame_equal(weights, model.source_weights_of(users))


def test_review_source_uses_the_users_own_review_text(tmp_path):
    """With the bundled encoder: users who review in their cluster's words get a review
    vector, and those without reviews get weight 0 on it."""
    data = make_world(n_users=40)
    inter = data.interactions.copy()
    words = ["guitar strings", "drum sticks", "piano keys", "microphone cable"]
    users = inter["user_id"].astype(str).str[1:].astype(int)
    is_buy = (inter["behaviour"] == "buy").to_numpy()
    reviewed = is_buy & (users % 2 == 1).to_numpy()
    inter["review"] = np.where(reviewed, [f"great {words[u % N_CLUSTERS]}" for u in users], "")
    data = data.with_interactions(inter)
    model = MultiInterest(
        sources="behaviour:fav,review",
        target_behaviour="buy",
        text_cache_dir=str(tmp_path / "cache"),
        **{**FAST, "epochs": 3},
    ).fit(data)
    weights = model.source_weights_of(["u2", "u3"])
    assert weights.loc["u2", "review"] == 0.0
    assert weights.loc["u3", "review"] > 0.0
    assert model.data_.review_vectors.shape == (len(inter), 384)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sources": "behaviour:view,clicks"}, "unknown source 'clicks'"),
        ({"sources": "review"}, "source 'review' has no review text"),
        ({"sources": "behaviour:cart"}, "source 'behaviour:cart' has no events"),
        ({"source_weighting": "fixed"}, "source_weighting='fixed' needs source_weights"),
        ({"source_weighting": "average"}, "source_weighting must be one of"),
        ({"source_weights": "behaviour:view=-1"}, "negative weight"),
        ({"source_weights": "behaviour:view=heavy"}, "is not 'source=number'"),
        ({"source_weights": "behaviour:view=0,behaviour:fav=0"}, "all zero"),
        ({"sources": "behaviour:view", "source_weights": "rating=1"}, "not among the sources"),
        ({"target_behaviour": "purchase"}, "target_behaviour must be one of"),
    ],
)
def test_bad_settings_are_clear_config_errors(world, params, message):
    train, _ = world
    with pytest.raises(ConfigError, match=message):
        MultiInterest(**{**FAST, "epochs": 1, **params}).fit(train)


def test_parse_weights():
    assert parse_weights(None) == {}
    assert parse_weights(" rating=0.5 , behaviour:buy=2") == {"rating": 0.5, "behaviour:buy": 2.0}


def test_old_files_with_fusion_load_with_source_weighting(tmp_path, world):
    """Models saved before ``fusion`` was renamed ``source_weighting`` still load."""
    import json

    train, _ = world
    model = MultiInterest(
        sources="behaviour:view,behaviour:fav",
        source_weighting="fixed",
        source_weights="behaviour:view=3,behaviour:fav=1",
        **{**FAST, "epochs": 1},
    ).fit(train)
    path = model.save(tmp_path / "old")
    config = json.loads((path / "config.json").read_text())
    config["params"]["fusion"] = config["params"].pop("source_weighting")
    (path / "config.json").write_text(json.dumps(config))
    again = load(path)
    assert again.source_weighting == "fixed" and "fusion" not in again.get_params()
    pd.testing.assert_frame_equal(
        again.source_weights_of(["u1", "u2"]), model.source_weights_of(["u1", "u2"])
    )


def test_training_settings_are_the_train_config_fields():
    from dataclasses import fields

    from lmrec.train.loop import TrainConfig

    defaults = MultiInterest.param_defaults()
    assert {f.name for f in fields(TrainConfig)} <= set(defaults)
    assert defaults["warmup_steps"] == 20 and defaults["source_weighting"] == "learned"
    model = MultiInterest(warmup_steps=3, clip_norm=0.5)
    assert model.config(TrainConfig) == TrainConfig(
        lr=2e-3, warmup_steps=3, clip_norm=0.5, epochs=100, batch_size=256, patience=5
    )
    # A config object gives every one of its fields; keywords override them.
    given = MultiInterest(TrainConfig(lr=0.1), seed=4).config(TrainConfig)
    assert given == TrainConfig(lr=0.1, seed=4)
    assert type(model)(**model.get_params()).get_params() == model.get_params()
    with pytest.raises(ConfigError, match=r"no parameter 'fusion'.*source_weighting='learned'"):
        MultiInterest(fusion="fixed")
