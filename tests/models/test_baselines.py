"""What is specific to each baseline: its formula or reference implementation, its refused
parameters, and its fold-in for raw histories.

The checks every model shares (shapes, ordering, filters, errors, capabilities, save/load,
thread safety) run on every registered model in ``test_contract.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lmrec.models
from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError, ModelFileError
from lmrec.evaluate.ranking import evaluate_ratings
from lmrec.models import (
    ALS,
    BPR,
    EASE,
    MODEL_TYPES,
    SVD,
    ItemKNN,
    MostPopular,
    RandomRanking,
    Recommender,
    SVDpp,
    make_model,
)
from lmrec.models.ratings import rated_interactions

#: Small, fast parameters for the tiny data.
PARAMS: dict[str, dict[str, Any]] = {
    "popular": {},
    "random": {},
    "itemknn": {"k": 5},
    "ease": {"l2": 10.0},
    "als": {"factors": 8, "iterations": 3},
    "bpr": {"factors": 8, "iterations": 5, "num_threads": 1},
    "svd": {"factors": 8, "iterations": 5},
    "svdpp": {"factors": 4, "iterations": 3},
}

#: Parameter sets each baseline must refuse with a ConfigError naming the parameter.
BAD_PARAMS: dict[str, list[dict[str, Any]]] = {
    "random": [{"seed": -1}, {"seed": 0.5}, {"seed": True}],
    "itemknn": [{"k": 0}, {"k": 2.5}, {"shrink": -1.0}],
    "ease": [{"l2": 0.0}, {"l2": "big"}, {"max_items": 0}],
    "als": [{"factors": 0}, {"alpha": 0.0}, {"matrix": "rating"}, {"iterations": True}],
    "bpr": [{"learning_rate": 0}, {"num_threads": -1}],
    "svd": [{"factors": -1}, {"regularization": -0.1}],
    "svdpp": [{"learning_rate": 0.0}, {"init_std": -1.0}],
}


def fit(name: str, data: Dataset, **overrides: Any) -> Recommender:
    return make_model(name, **{**PARAMS[name], **overrides}).fit(data)


@pytest.mark.parametrize(
    "name,bad", [(name, bad) for name, sets in BAD_PARAMS.items() for bad in sets]
)
def test_bad_params_raise_config_error(tiny: Dataset, name: str, bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=repr(next(iter(bad)))):
        make_model(name, **bad)
    with pytest.raises(ConfigError):  # and at fit time, when built directly
        MODEL_TYPES[name](**bad).fit(tiny)


def test_popular_has_no_parameters() -> None:
    with pytest.raises(ConfigError, match=r"'k'.*none"):
        make_model("popular", k=10)


def test_random_is_a_fixed_shuffle_per_seed_and_user(tiny: Dataset) -> None:
    model = fit("random", tiny)
    users = list(tiny.idmap.users[:4])
    scores = model.score(users)
    assert ((scores >= 0) & (scores < 1)).all()
    assert len({tuple(np.argsort(row)) for row in scores}) == len(users)  # users differ
    np.testing.assert_array_equal(model.score(users[::-1]), scores[::-1])  # order-free
    np.testing.assert_array_equal(fit("random", tiny).score(users), scores)
    assert not np.array_equal(fit("random", tiny, seed=1).score(users), scores)


def test_random_ranks_every_item_alike(tiny: Dataset) -> None:
    """Over many seeds each item's mean rank is the middle of the catalogue."""
    user = tiny.idmap.users[0]
    ranks = np.stack(
        [np.argsort(np.argsort(-fit("random", tiny, seed=s).score([user])[0])) for s in range(400)]
    )
    middle = (tiny.n_items - 1) / 2
    spread = tiny.n_items / np.sqrt(12 * 400)  # standard error of a uniform rank's mean
    assert np.abs(ranks.mean(axis=0) - middle).max() < 5 * spread


def test_popularity_counts_distinct_users(tiny: Dataset) -> None:
    model = fit("popular", tiny)
    df = tiny.interactions
    expected = df.groupby("item_id")["user_id"].nunique()
    scores = model.score(["u_cold"])[0]
    for item, count in expected.items():
        assert scores[tiny.idmap.item_index([item])[0]] == count
    assert scores[tiny.idmap.item_index(["i_new"])[0]] == 0
    np.testing.assert_array_equal(model.score_histories([["i0"], ["i3", "i9"]])[1], scores)


class TestItemKNN:
    @pytest.mark.parametrize("k,shrink", [(3, 0.0), (5, 2.0), (100, 0.0)])
    def test_matches_dense_cosine(self, tiny: Dataset, k: int, shrink: float) -> None:
        model = ItemKNN(k=k, shrink=shrink).fit(tiny)
        x = tiny.matrix("binary").toarray().astype(np.float64)
        co = x.T @ x
        norms = np.sqrt(np.diag(co))
        norms[norms == 0] = 1.0
        sim = co / (np.outer(norms, norms) + shrink)
        np.fill_diagonal(sim, 0.0)
        learned = model.similarity_.toarray()
        for i in range(tiny.n_items):
            kept = np.flatnonzero(learned[i])
            assert len(kept) <= k
            np.testing.assert_allclose(learned[i, kept], sim[i, kept], rtol=1e-6)
            if len(kept):  # the kept neighbours are the k most similar
                others = np.setdiff1d(np.arange(tiny.n_items), kept)
                assert sim[i, others].max(initial=0) <= learned[i, kept].min() + 1e-7
        np.testing.assert_allclose(model.score(tiny.idmap.users), x @ learned, rtol=1e-5, atol=1e-6)


class TestEASE:
    # l2=10 takes the float32 inverse, l2=1e-3 (ill conditioned) the float64 one.
    @pytest.mark.parametrize("l2,tol", [(10.0, 1e-5), (1e-3, 1e-4)])
    def test_matches_closed_form(self, tiny: Dataset, l2: float, tol: float) -> None:
        model = EASE(l2=l2).fit(tiny)
        x = tiny.matrix("binary").toarray().astype(np.float64)
        p = np.linalg.inv(x.T @ x + l2 * np.eye(tiny.n_items))
        b = np.eye(tiny.n_items) - p / np.diag(p)[None, :]
        scale = np.abs(b).max()
        np.testing.assert_allclose(model.weights_, b, atol=tol * scale)
        assert (np.diag(model.weights_) == 0).all()
        np.testing.assert_allclose(model.score(tiny.idmap.users), x @ b, atol=10 * tol * scale)

    def test_refuses_large_catalogues(self, tiny: Dataset) -> None:
        with pytest.raises(ConfigError, match=r"'tiny'.*max_items=10"):
            EASE(max_items=10).fit(tiny)


class TestALS:
    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, tiny: Dataset) -> Recommender:
        return fit("als", tiny)

    def test_factors_and_count_matrix(self, fitted: Recommender, tiny: Dataset) -> None:
        assert fitted.user_factors_.shape == (tiny.n_users, 8)
        assert fitted.item_factors_.shape == (tiny.n_items, 8)
        counts = fit("als", tiny, matrix="count")
        assert not np.array_equal(counts.item_factors_, fitted.item_factors_)

    @pytest.mark.parametrize("matrix,alpha", [("binary", 1.0), ("count", 5.0)])
    def test_fold_in_is_implicits_recalculate_user(
        self, tiny: Dataset, matrix: str, alpha: float
    ) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        model = fit("als", tiny, matrix=matrix, alpha=alpha, regularization=0.5)
        histories = [["i0", "i3", "i3", "i7"], ["i1"], ["i2", "i9", "i4", "i2", "i2"]]
        indices = [tiny.idmap.item_index(h) for h in histories]
        reference = AlternatingLeastSquares(
            factors=8, regularization=0.5, alpha=alpha, random_state=0
        )
        reference.item_factors = model.item_factors_.copy()
        rows = model._history_matrix(indices, counts=matrix == "count")
        users = reference.recalculate_user(np.arange(len(histories)), rows)
        np.testing.assert_allclose(
            model.score_histories(histories), users @ model.item_factors_.T, rtol=1e-4, atol=1e-5
        )


class TestBPR:
    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, tiny: Dataset) -> Recommender:
        return fit("bpr", tiny)

    def test_item_vectors_leave_out_the_bias(self, fitted: Recommender, tiny: Dataset) -> None:
        assert fitted.item_factors_.shape == (tiny.n_items, 9)  # 8 factors + item bias
        assert fitted._item_vectors().shape == (tiny.n_items, 8)
        assert (fitted.user_factors_[:, -1] == 1).all()  # the bias's partner in every user

    def test_histories_score_with_the_mean_item_factor(
        self, fitted: Recommender, tiny: Dataset
    ) -> None:
        q = fitted.item_factors_.astype(np.float64)
        items = tiny.idmap.item_index(["i0", "i4"])
        user = np.append(q[items, :-1].mean(axis=0), 1.0)
        scores = fitted.score_histories([["i0", "i4", "i4"]])  # a repeat counts once
        np.testing.assert_allclose(scores[0], q @ user, rtol=1e-5, atol=1e-6)


class TestRatings:
    @pytest.fixture(scope="class", params=["svd", "svdpp"])
    @classmethod
    def name(cls, request: pytest.FixtureRequest) -> str:
        return request.param

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, tiny: Dataset, name: str) -> Recommender:
        return fit(name, tiny)

    def test_predict_equals_surprise(self, fitted: Recommender, tiny: Dataset) -> None:
        import surprise

        rated = rated_interactions(tiny)
        reader = surprise.Reader(rating_scale=(rated["rating"].min(), rated["rating"].max()))
        trainset = surprise.Dataset.load_from_df(rated, reader).build_full_trainset()
        algo = fitted._surprise_algorithm()
        algo.fit(trainset)
        users = ["u0", "u1", "u7", "u29", "u_cold", "nobody", "u3"]
        items = ["i0", "i5", "i_new", "i2", "i1", "i1", "unknown-item"]
        ours = fitted.predict(users, items)
        theirs = [algo.predict(u, i).est for u, i in zip(users, items, strict=True)]
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)
        assert fitted.predict("u0", "i0")[0] == ours[0]

    def test_predict_clips_and_unknown_gets_the_mean(self, fitted: Recommender) -> None:
        lo, hi = fitted.rating_scale_
        pred = fitted.predict(["u0"] * 25, [f"i{i}" for i in range(24)] + ["i_new"])
        assert ((pred >= lo) & (pred <= hi)).all()
        assert fitted.predict(["nobody"], ["no-item"])[0] == pytest.approx(fitted.mu_[0])
        with pytest.raises(ConfigError, match="one item per user"):
            fitted.predict(["u0", "u1"], ["i0"])

    def test_evaluate_ratings(self, fitted: Recommender, tiny: Dataset) -> None:
        result = evaluate_ratings(fitted, tiny.interactions.head(40))
        assert result.protocol == "rating"
        assert 0 < result.metrics["rmse"] < 2

    def test_needs_ratings(self, tiny_clicks: Dataset, name: str) -> None:
        with pytest.raises(ConfigError, match=r"'tiny-clicks' has no ratings.*ranking model"):
            fit(name, tiny_clicks)


def test_svdpp_user_term(tiny: Dataset) -> None:
    model = fit("svdpp", tiny)
    rated = rated_interactions(tiny)
    u = tiny.idmap.user_index(["u3"])[0]
    n_u = tiny.idmap.item_index(rated.loc[rated["user_id"] == "u3", "item_id"])
    expected = model.pu_[u] + model.yj_[n_u].sum(axis=0) / np.sqrt(len(n_u))
    np.testing.assert_allclose(model.zu_[u], expected, rtol=1e-10)


# ---------------------------------------------------------------------- registry
BASELINES: dict[str, type[Recommender]] = {
    "popular": MostPopular,
    "random": RandomRanking,
    "itemknn": ItemKNN,
    "ease": EASE,
    "als": ALS,
    "bpr": BPR,
    "svd": SVD,
    "svdpp": SVDpp,
}


def test_registry_holds_every_baseline() -> None:
    for name, cls in BASELINES.items():
        assert MODEL_TYPES[name] is cls
        assert cls.__doc__ and ".. math::" in cls.__doc__  # docstrings open with the rule
    for name, cls in MODEL_TYPES.items():
        assert cls.model_type == name
    assert [c for c in BASELINES.values() if c.supports("predict_ratings")] == [SVD, SVDpp]


def test_make_model_unknown_name_lists_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"'knn'.*popular, random, itemknn, ease, als, bpr, svd, svdpp"
    ):
        make_model("knn")


def test_load_unknown_model_type(tiny: Dataset, tmp_path: Path) -> None:
    path = MostPopular().fit(tiny).save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["model_type"] = "gpt5"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"'gpt5'.*known types"):
        lmrec.models.load(path)
    for text, needle in (("[]", "expected a JSON object, got list"), ("{", "not valid JSON")):
        (path / "config.json").write_text(text)
        with pytest.raises(ModelFileError, match=rf"config\.json: {needle}"):
            lmrec.models.load(path)
    shutil.rmtree(path)
    with pytest.raises(ModelFileError, match=r"no config\.json"):
        lmrec.models.load(path)


def test_fit_on_a_split_part_keeps_the_catalogue(tiny: Dataset) -> None:
    # A split part shares the id map; items and users absent from it still get scores.
    part = tiny.with_interactions(tiny.interactions.iloc[:60])
    for name in BASELINES:
        params = {"factors": 4, "iterations": 2} if name in ("als", "bpr", "svd", "svdpp") else {}
        model = make_model(name, **params).fit(part)
        assert model.score(["u29"]).shape == (1, tiny.n_items)
