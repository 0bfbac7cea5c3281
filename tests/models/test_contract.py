"""One contract every registered model keeps, run on every model type in the registry.

The lmrec version of implicit's ``RecommenderBaseTestMixin``: each test takes ``fitted`` (a
model of every type in :data:`lmrec.models.registry.MODEL_TYPES`, fitted once per module on
the tiny data), so a newly registered model is covered with no edit here. Add its small,
fast parameters to :data:`TINY_PARAMS` (defaults are used otherwise), and if its
``score_histories`` is not defined as "a known user's history scores as that user", say so
in :data:`HISTORY_VS_SCORE`. Model-specific checks (formulas, reference implementations)
live in each model's own test file.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

import lmrec.models
from lmrec.data.schema import Dataset
from lmrec.errors import (
    CapabilityError,
    ConfigError,
    LmrecError,
    ModelFileError,
    NotFittedError,
    UnknownIdError,
)
from lmrec.models import CAPABILITIES, MODEL_TYPES, Recommender, capabilities_table, make_model

#: Small, fast parameters per model type (one dict, easy to adjust when parameters move).
TINY_PARAMS: dict[str, dict[str, Any]] = {
    "itemknn": {"k": 5},
    "ease": {"l2": 10.0},
    "als": {"factors": 8, "iterations": 3},
    # one thread: BPR's parallel SGD is not reproducible run to run
    "bpr": {"factors": 8, "iterations": 5, "num_threads": 1},
    "svd": {"factors": 8, "iterations": 5},
    "svdpp": {"factors": 4, "iterations": 3},
    "transformer": {
        "dim": 16,
        "layers": 1,
        "heads": 1,
        "max_len": 10,
        "epochs": 2,
        "warmup_steps": 2,
        "progress": False,
    },
    "transformer-rating": {
        "dim": 16,
        "layers": 1,
        "heads": 1,
        "max_len": 10,
        "epochs": 2,
        "warmup_steps": 2,
        "progress": False,
    },
    "transformer-behaviour": {
        "dim": 16,
        "layers": 1,
        "heads": 1,
        "max_len": 10,
        "epochs": 2,
        "warmup_steps": 2,
        "progress": False,
    },
    "lightgbm": {"n_estimators": 20},
    "multi-interest": {"dim": 16, "epochs": 2, "progress": False},
}

#: How ``score_histories`` of a known user's own training history (with its behaviours and
#: timestamps) relates to ``score`` for that user. Default "exact": the same scores.
#: "close": a fold-in that approximates the trained user (scores strongly correlated);
#: "different": not defined that way (documented on the model's ``_score_histories``).
HISTORY_VS_SCORE: dict[str, str] = {"als": "close", "bpr": "different"}

#: Known bugs on other branches: (model type, test) -> reason. Each becomes a strict xfail,
#: so the fix turns it into a failure that says "remove me".
KNOWN_BUGS: dict[tuple[str, str], str] = {}

NAMES = list(MODEL_TYPES)
HISTORY_NAMES = [n for n in NAMES if MODEL_TYPES[n].supports("score_histories")]


def make(name: str, **overrides: Any) -> Recommender:
    return make_model(name, **{**TINY_PARAMS.get(name, {}), **overrides})


def with_known_bugs(names: list[str], test: str) -> list[Any]:
    """``names`` as parameters, a strict xfail on those with a known bug in ``test``."""
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[n, test]))
        if (n, test) in KNOWN_BUGS
        else n
        for n in names
    ]


def own_history(data: Dataset, user: str) -> tuple[list[str], list[str], list[float]]:
    """A user's items, behaviours and timestamps in time order, as the model saw them."""
    df = data.interactions
    events = df[df["user_id"] == user].sort_values("timestamp", kind="stable")
    return (
        events["item_id"].astype(str).tolist(),
        events["behaviour"].astype(str).tolist(),
        events["timestamp"].astype(float).tolist(),
    )


@pytest.fixture(scope="module", params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def fitted(name: str, tiny: Dataset) -> Recommender:
    return make(name).fit(tiny)


# ------------------------------------------------------------------------- fitting
def test_registry_and_tiny_params_agree() -> None:
    assert set(TINY_PARAMS) <= set(MODEL_TYPES), "TINY_PARAMS names an unregistered model"
    for name, cls in MODEL_TYPES.items():
        assert cls.model_type == name
        assert cls.capabilities <= set(CAPABILITIES), f"{name} declares an unknown capability"
    table = capabilities_table()
    assert list(table) == NAMES
    assert table["ease"] == ("score_histories",)
    assert table["svd"] == ("predict_ratings",)


def test_fit_returns_self_and_keeps_params(name: str, tiny: Dataset) -> None:
    model = make(name)
    assert model.fit(tiny) is model
    assert model.get_params() == {**MODEL_TYPES[name].param_defaults(), **TINY_PARAMS.get(name, {})}
    assert type(model).__name__ in repr(model)


def test_refit_is_reproducible(name: str, fitted: Recommender, tiny: Dataset) -> None:
    users = tiny.idmap.users
    np.testing.assert_array_equal(make(name).fit(tiny).score(users), fitted.score(users))


def test_fit_needs_a_dataset(name: str, tiny: Dataset) -> None:
    with pytest.raises(ConfigError, match="expects an lmrec Dataset"):
        make(name).fit(tiny.interactions)  # type: ignore[arg-type]


def test_unknown_parameter_names_the_allowed_ones(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_model(name, no_such_param=1)
    assert "'no_such_param'" in str(info.value)
    for param in MODEL_TYPES[name].param_defaults():
        assert param in str(info.value)


def test_use_before_fit_raises_not_fitted(name: str) -> None:
    model = make(name)
    calls: list[Callable[[], object]] = [
        lambda: model.score(["u0"]),
        lambda: model.recommend("u0"),
        lambda: model.similar_items("i0"),
        lambda: model.save("unused"),
        lambda: model.item_ids,
    ]
    if model.supports("score_histories"):
        calls += [
            lambda: model.score_histories([["i0"]]),
            lambda: model.recommend_histories([["i0"]]),
        ]
    for call in calls:
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


# ------------------------------------------------------------------------- scoring
def test_score_covers_every_item_as_finite_float32(fitted: Recommender, tiny: Dataset) -> None:
    scores = fitted.score(tiny.idmap.users)  # includes u_cold, who has no history
    assert scores.shape == (tiny.n_users, tiny.n_items)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(fitted.item_ids, tiny.idmap.items)


def test_recommend_is_1d_for_one_user_and_2d_for_a_list(fitted: Recommender) -> None:
    ids, scores = fitted.recommend("u0", k=5)
    assert ids.shape == scores.shape == (5,)
    assert all(isinstance(i, str) and i for i in ids)
    ids, scores = fitted.recommend(["u0", "u1", "u2"], k=5)
    assert ids.shape == scores.shape == (3, 5)


def test_batch_matches_single(fitted: Recommender, tiny: Dataset) -> None:
    users = list(tiny.idmap.users[:8])
    batch_ids, batch_scores = fitted.recommend(users, k=6)
    for row, user in enumerate(users):
        ids, scores = fitted.recommend(user, k=6)
        np.testing.assert_allclose(scores, batch_scores[row], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ids, batch_ids[row])


def test_recommend_is_best_first_and_agrees_with_score(fitted: Recommender) -> None:
    ids, scores = fitted.recommend(["u0", "u3", "u_cold"], k=10, exclude_seen=False)
    assert (np.diff(scores, axis=1) <= 0).all()
    full = fitted.score(["u0", "u3", "u_cold"])
    columns = {item: j for j, item in enumerate(fitted.item_ids)}
    for row in range(3):
        np.testing.assert_array_equal(scores[row], full[row, [columns[i] for i in ids[row]]])
        assert scores[row, -1] >= np.sort(full[row])[-10]  # nothing better was left out


def test_exclude_seen(fitted: Recommender, tiny: Dataset) -> None:
    df = tiny.interactions
    for user in ("u0", "u5", "u9"):
        seen = set(df.loc[df["user_id"] == user, "item_id"])
        ids, _ = fitted.recommend(user, k=tiny.n_items, exclude_seen=True)
        assert not seen & set(ids)
        assert (ids != "").sum() == tiny.n_items - len(seen)
        ids, _ = fitted.recommend(user, k=tiny.n_items, exclude_seen=False)
        assert seen <= set(ids)


def test_items_restricts_candidates(fitted: Recommender) -> None:
    allowed = ["i1", "i3", "i5", "i_new"]
    ids, scores = fitted.recommend("u4", k=4, exclude_seen=False, items=allowed)
    assert sorted(ids) == sorted(allowed)
    ids, scores = fitted.recommend(["u4", "u7"], k=10, exclude_seen=False, items=allowed)
    assert set(ids[ids != ""]) <= set(allowed)
    assert np.isneginf(scores[:, len(allowed) :]).all()


def test_k_larger_than_the_catalogue_pads(fitted: Recommender, tiny: Dataset) -> None:
    k = tiny.n_items + 7
    ids, scores = fitted.recommend("u_cold", k=k)
    assert ids.shape == scores.shape == (k,)
    assert (ids[: tiny.n_items] != "").all()
    assert (ids[tiny.n_items :] == "").all()
    assert np.isneginf(scores[tiny.n_items :]).all()


def test_similar_items_excludes_the_item(fitted: Recommender) -> None:
    ids, scores = fitted.similar_items("i0", k=5)
    assert ids.shape == scores.shape == (5,)
    assert "i0" not in ids
    assert (np.diff(scores) <= 0).all()
    ids, _ = fitted.similar_items(["i0", "i2"], k=30)  # more than the catalogue: padded
    assert ids.shape == (2, 30)
    assert "i0" not in ids[0] and "i2" not in ids[1]


# ---------------------------------------------------------------------- bad input
def test_unknown_ids_raise_naming_the_id(fitted: Recommender) -> None:
    with pytest.raises(UnknownIdError, match="'nobody'"):
        fitted.recommend("nobody")
    with pytest.raises(UnknownIdError, match="'nobody'"):
        fitted.score(["u0", "nobody"])
    with pytest.raises(UnknownIdError, match="'no-item'"):
        fitted.similar_items("no-item")
    with pytest.raises(UnknownIdError, match="'no-item'"):
        fitted.recommend("u0", items=["i1", "no-item"])


@pytest.mark.parametrize("k", [0, -3, 2.5, True, "10"])
def test_bad_k_is_a_config_error(fitted: Recommender, k: Any) -> None:
    with pytest.raises(ConfigError, match=r"k must be an int >= 1, got"):
        fitted.recommend("u0", k=k)
    with pytest.raises(ConfigError, match=r"k must be an int >= 1, got"):
        fitted.similar_items("i0", k=k)
    if fitted.supports("score_histories"):
        with pytest.raises(ConfigError, match=r"k must be an int >= 1, got"):
            fitted.recommend_histories([["i0"]], k=k)


def test_empty_lists_and_bare_strings_are_config_errors(fitted: Recommender) -> None:
    with pytest.raises(ConfigError, match="user_ids is empty"):
        fitted.recommend([])
    with pytest.raises(ConfigError, match="user_ids is empty"):
        fitted.score([])
    with pytest.raises(ConfigError, match="item_ids is empty"):
        fitted.similar_items([])
    with pytest.raises(ConfigError, match="items is empty"):
        fitted.recommend("u0", items=[])
    with pytest.raises(ConfigError, match=r"user_ids must be a list, got the string 'u0'"):
        fitted.score("u0")  # type: ignore[arg-type]


# ------------------------------------------------------------------- capabilities
def check_score_histories(model: Recommender, data: Dataset) -> None:
    scores = model.score_histories([["i0", "i1"], ["i2"], ("i3", "i3", "i1")])
    assert scores.shape == (3, data.n_items) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    ids, top = model.recommend_histories([["i0", "i1"], ["i2"]], k=5)
    assert ids.shape == top.shape == (2, 5)
    assert not {"i0", "i1"} & set(ids[0]) and "i2" not in ids[1]
    ids, _ = model.recommend_histories([["i0"]], k=3, exclude_seen=False, items=["i0", "i4"])
    assert sorted(ids[0][:2]) == ["i0", "i4"] and ids[0][2] == ""


def check_interests(model: Recommender, data: Dataset) -> None:
    for interests in (model.interests("u0", top_items=3), model.interests(history=["i0", "i1"])):
        assert len(interests.item_ids) == len(interests.item_probs) <= 10
        assert ((interests.item_probs >= 0) & (interests.item_probs <= 1)).all()
        assert (np.diff(interests.item_probs) <= 0).all()


def check_predict_proba(model: Recommender, data: Dataset) -> None:
    probs = model.predict_proba(["u0", "u1"])
    assert probs.shape == (2, data.n_items)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def check_predict_ratings(model: Recommender, data: Dataset) -> None:
    ratings = model.predict(["u0", "u1", "u2"], ["i0", "i1", "i_new"])
    assert ratings.shape == (3,)
    assert ((ratings >= 1) & (ratings <= 5)).all()  # the tiny data rates 1–5


def check_predict_behaviour(model: Recommender, data: Dataset) -> None:
    p = model.predict_behaviour(["u0", "u1", "u_new"], ["i0", "i_new", "i1"])
    assert p.shape == (3,)
    assert ((p > 0) & (p < 1)).all()


def check_source_weights(model: Recommender, data: Dataset) -> None:
    weights = model.source_weights_of(["u0", "u1"])
    assert list(weights.index) == ["u0", "u1"]
    np.testing.assert_allclose(weights.to_numpy().sum(axis=1), 1.0, rtol=1e-5)


def check_explain(model: Recommender, data: Dataset) -> None:
    (item,), _ = model.recommend("u0", k=1)
    events = model.explain("u0", item, top=50)
    assert events and abs(sum(e.share for e in events) - 1) < 1e-6
    values = [e.attribution for e in events]
    assert values == sorted(values, reverse=True)
    raw = model.explain(item_id=item, history=["i0", "i1"], top=5)
    assert {e.item_id for e in raw} <= {"i0", "i1"}


def check_update(model: Recommender, data: Dataset) -> None:
    import copy

    updated = copy.deepcopy(model)  # the fitted fixture is shared
    events = pd.DataFrame(
        {
            "user_id": ["u_arrival", "u_arrival", "u1"],
            "item_id": ["i0", "i_arrival", "i1"],
            "timestamp": [1e9, 1e9 + 1, 1e9 + 2],
        }
    )
    items = pd.DataFrame({"item_id": ["i_arrival"], "title": ["Item arrival"]})
    assert updated.update(events, items, epochs=1) is updated
    assert updated.idmap_.has_user("u_arrival") and updated.idmap_.has_item("i_arrival")
    assert list(updated.idmap_.items[: data.n_items]) == list(data.idmap.items)
    scores = updated.score(["u_arrival", "u1"])
    assert scores.shape == (2, data.n_items + 1) and np.isfinite(scores).all()
    ids, _ = updated.recommend(["u_arrival"], k=3)
    assert not {"i0", "i_arrival"} & set(ids[0])  # the new events count as seen
    assert model.idmap_.n_items == data.n_items  # the original is untouched


#: What each capability must do when declared.
CAPABILITY_CHECKS: dict[str, Callable[[Recommender, Dataset], None]] = {
    "score_histories": check_score_histories,
    "interests": check_interests,
    "predict_proba": check_predict_proba,
    "predict_ratings": check_predict_ratings,
    "predict_behaviour": check_predict_behaviour,
    "source_weights": check_source_weights,
    "explain": check_explain,
    "update": check_update,
}

#: The calls that must raise CapabilityError when a capability is not declared.
CAPABILITY_CALLS: dict[str, list[Callable[[Recommender], object]]] = {
    "score_histories": [
        lambda m: m.score_histories([["i0"]]),
        lambda m: m.recommend_histories([["i0"]]),
    ],
    "interests": [lambda m: m.interests("u0")],
    "predict_proba": [lambda m: m.predict_proba(["u0"])],
    "predict_ratings": [lambda m: m.predict(["u0"], ["i0"])],
    "predict_behaviour": [lambda m: m.predict_behaviour(["u0"], ["i0"])],
    "source_weights": [lambda m: m.source_weights_of(["u0"])],
    "explain": [lambda m: m.explain("u0", "i0")],
    "update": [lambda m: m.update(pd.DataFrame({"user_id": ["u0"], "item_id": ["i0"]}))],
}


def test_every_capability_has_a_check() -> None:
    assert set(CAPABILITY_CHECKS) == set(CAPABILITY_CALLS) == set(CAPABILITIES)


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_supports_agrees_with_behaviour(
    fitted: Recommender, tiny: Dataset, capability: str
) -> None:
    if fitted.supports(capability):
        CAPABILITY_CHECKS[capability](fitted, tiny)
        return
    for call in CAPABILITY_CALLS[capability]:
        with pytest.raises(CapabilityError, match=rf"does not support '{capability}'") as info:
            call(fitted)
        assert isinstance(info.value, NotImplementedError)
        assert isinstance(info.value, LmrecError)


def test_supports_refuses_unknown_capabilities(fitted: Recommender) -> None:
    with pytest.raises(ConfigError, match=r"unknown capability 'nonsense'.*score_histories"):
        fitted.supports("nonsense")
    for capability in CAPABILITIES:  # a class question: the same before and after fit
        assert type(fitted).supports(capability) == (capability in fitted.capabilities)
    assert fitted.predicts_ratings == fitted.supports("predict_ratings")


# ----------------------------------------------------------------- score_histories
@pytest.fixture
def history_model(fitted: Recommender) -> Recommender:
    assert fitted.supports("score_histories"), "parametrise with HISTORY_NAMES"
    return fitted


@pytest.mark.parametrize("name", HISTORY_NAMES, indirect=True)
def test_own_history_scores_like_the_user(
    name: str, history_model: Recommender, tiny: Dataset
) -> None:
    """A known user's training history, scored raw, against ``score`` for that user."""
    relation = HISTORY_VS_SCORE.get(name, "exact")
    for user in ("u0", "u3", "u7"):
        items, kinds, stamps = own_history(tiny, user)
        raw = history_model.score_histories([items], [kinds], [stamps])[0]
        known = history_model.score([user])[0]
        if relation == "exact":
            np.testing.assert_allclose(raw, known, rtol=1e-5, atol=1e-6)
        elif relation == "close":
            assert np.corrcoef(raw, known)[0, 1] > 0.98
        else:
            assert relation == "different", f"HISTORY_VS_SCORE[{name!r}] = {relation!r}"
            assert raw.shape == known.shape


@pytest.mark.parametrize("name", HISTORY_NAMES, indirect=True)
def test_history_errors_name_the_problem(history_model: Recommender) -> None:
    with pytest.raises(UnknownIdError, match="'nope'"):
        history_model.score_histories([["i0", "nope"]])
    with pytest.raises(ConfigError, match="history 1 is empty"):
        history_model.score_histories([["i0"], []])
    with pytest.raises(UnknownIdError, match="'nope'"):
        history_model.recommend_histories([["nope"]])


@pytest.mark.parametrize("name", with_known_bugs(HISTORY_NAMES, "history_input"), indirect=True)
def test_history_lists_are_checked_on_the_base(history_model: Recommender) -> None:
    with pytest.raises(ConfigError, match="histories is empty"):
        history_model.score_histories([])
    with pytest.raises(ConfigError, match=r"history 0 is 'i0', not a list of item ids"):
        history_model.score_histories(["i0", "i1"])  # one history not wrapped in a list
    with pytest.raises(ConfigError, match="histories must be a list, got the string"):
        history_model.score_histories("i0")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="history 0 has 2 items but 1 timestamps"):
        history_model.score_histories([["i0", "i1"]], timestamps=[[1.0]])
    with pytest.raises(ConfigError, match="1 histories but 2 behaviours lists"):
        history_model.score_histories([["i0"]], behaviours=[["click"], ["click"]])


@pytest.mark.parametrize("name", with_known_bugs(HISTORY_NAMES, "threads"), indirect=True)
def test_score_histories_is_thread_safe(name: str, tiny: Dataset) -> None:
    """Eight threads score different histories at once and get the serial answers, and
    the model scores its known users as before."""
    history_model = make(name).fit(tiny)  # its own: a failure must not leak into other tests
    users = list(tiny.idmap.users[:8])
    histories = [own_history(tiny, u) for u in users]
    histories = [
        (items[: 1 + n % 5], kinds[: 1 + n % 5], t[: 1 + n % 5])
        for n, (items, kinds, t) in enumerate(histories)
    ]
    before = history_model.score(tiny.idmap.users)
    serial = [history_model.score_histories([h], [b], [t]) for h, b, t in histories]
    start = threading.Barrier(len(histories))

    def run(n: int) -> list[np.ndarray]:
        h, b, t = histories[n]
        start.wait()
        return [history_model.score_histories([h], [b], [t]) for _ in range(20)]

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unsafe model shows it
    try:
        with ThreadPoolExecutor(max_workers=len(histories)) as pool:
            results = list(pool.map(run, range(len(histories))))
    finally:
        sys.setswitchinterval(switch)
    for n, rounds in enumerate(results):
        for scores in rounds:
            np.testing.assert_array_equal(scores, serial[n])
    np.testing.assert_array_equal(history_model.score(tiny.idmap.users), before)


def test_recommend_is_thread_safe(fitted: Recommender, tiny: Dataset) -> None:
    """Known users recommended from eight threads at once get the serial answers."""
    users = [[u] for u in tiny.idmap.users[:8]]
    serial = [fitted.recommend(u, k=5) for u in users]
    start = threading.Barrier(len(users))

    def run(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        start.wait()
        return [fitted.recommend(users[n], k=5) for _ in range(10)]

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=len(users)) as pool:
            results = list(pool.map(run, range(len(users))))
    finally:
        sys.setswitchinterval(switch)
    for n, rounds in enumerate(results):
        for ids, scores in rounds:
            np.testing.assert_array_equal(ids, serial[n][0])
            np.testing.assert_array_equal(scores, serial[n][1])


# -------------------------------------------------------------------- persistence
def test_save_load_round_trip(fitted: Recommender, tiny: Dataset, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "model")
    loaded = lmrec.models.load(path)
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    users = tiny.idmap.users
    np.testing.assert_array_equal(loaded.score(users), fitted.score(users))
    for a, b in zip(loaded.recommend(users, k=5), fitted.recommend(users, k=5), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        loaded.similar_items(["i0", "i1"]), fitted.similar_items(["i0", "i1"]), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    if fitted.supports("score_histories"):
        histories = [["i0", "i1"], ["i5"]]
        np.testing.assert_array_equal(
            loaded.score_histories(histories), fitted.score_histories(histories)
        )
    assert loaded.titles(["i3"]) == ["Item i3"]
    files = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "idmap.json"} <= files
    assert not any(p.suffix in (".pkl", ".pickle", ".npy", ".pt", ".bin") for p in path.iterdir())


def test_missing_state_arrays_are_clear_errors(fitted: Recommender, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "model")
    weights = path / "model.safetensors"
    arrays = load_file(str(weights))
    kept = {k: v for k, v in arrays.items() if not k.startswith("state.")}
    if len(kept) == len(arrays):
        pytest.skip(f"{type(fitted).__name__} saves no learned arrays")
    save_file(kept, str(weights))
    with pytest.raises(ModelFileError, match=r"state\."):
        lmrec.models.load(path)


def test_damaged_model_files_are_clear_errors(fitted: Recommender, tmp_path: Path) -> None:
    path = fitted.save(tmp_path / "model")
    weights = path / "model.safetensors"
    weights.write_bytes(b"\x00\x07not a safetensors file")
    with pytest.raises(ModelFileError, match=r"model\.safetensors"):
        lmrec.models.load(path)
    weights.unlink()
    with pytest.raises(ModelFileError, match=r"model\.safetensors"):
        lmrec.models.load(path)
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == fitted.model_type
    config["format_version"] = 999
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="format_version"):
        lmrec.models.load(path)
    (path / "config.json").unlink()
    with pytest.raises(ModelFileError, match=r"no config\.json"):
        lmrec.models.load(path)
