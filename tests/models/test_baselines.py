"""Every baseline model against one contract, then what is specific to each.

:class:`RecommenderContract` is the lmrec version of implicit's ``RecommenderBaseTestMixin``:
a test class per model supplies only ``model_type``, small ``params`` and a ``bad_params``
list, and inherits every check. A new model gets the whole battery by adding five lines.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import lmrec.models
from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError, ModelFileError, NotFittedError, UnknownIdError
from lmrec.evaluate.ranking import evaluate_ratings
from lmrec.models import (
    ALS,
    BPR,
    EASE,
    MODEL_TYPES,
    SVD,
    ItemKNN,
    MostPopular,
    Recommender,
    SVDpp,
    make_model,
    model_params,
)
from lmrec.models.ratings import rated_interactions


class RecommenderContract:
    """Checks every model must pass. Subclasses set the three class attributes."""

    model_type: ClassVar[str]
    #: Small, fast parameters for the tiny data.
    params: ClassVar[dict[str, Any]] = {}
    #: Parameter sets that must be refused with ConfigError.
    bad_params: ClassVar[list[dict[str, Any]]] = []

    @classmethod
    def make(cls, **overrides: Any) -> Recommender:
        return make_model(cls.model_type, **{**cls.params, **overrides})

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, tiny: Dataset) -> Recommender:
        return cls.make().fit(tiny)

    # ------------------------------------------------------------------- fitting
    def test_fit_returns_self_and_keeps_params(self, tiny: Dataset) -> None:
        model = self.make()
        assert model.fit(tiny) is model
        assert model.get_params() == {**model_params(type(model)), **self.params}
        assert type(model).__name__ in repr(model)

    def test_refit_is_reproducible(self, tiny: Dataset, fitted: Recommender) -> None:
        again = self.make().fit(tiny)
        np.testing.assert_array_equal(again.score(tiny.idmap.users), fitted.score(tiny.idmap.users))

    def test_fit_needs_a_dataset(self, tiny: Dataset) -> None:
        with pytest.raises(ConfigError, match="expects an lmrec Dataset"):
            self.make().fit(tiny.interactions)  # type: ignore[arg-type]

    def test_not_fitted_raises(self) -> None:
        model = self.make()
        for call in (
            lambda: model.score(["u0"]),
            lambda: model.recommend("u0"),
            lambda: model.similar_items("i0"),
            lambda: model.save("unused"),
        ):
            with pytest.raises(NotFittedError, match="not fitted yet"):
                call()

    def test_bad_params_raise_config_error(self, tiny: Dataset) -> None:
        assert self.bad_params, "list at least one refused parameter set"
        cls = MODEL_TYPES[self.model_type]
        for bad in self.bad_params:
            with pytest.raises(ConfigError, match=repr(next(iter(bad)))):
                make_model(self.model_type, **bad)
            with pytest.raises(ConfigError):  # and at fit time, when built directly
                cls(**bad).fit(tiny)

    def test_unknown_parameter_names_the_allowed_ones(self) -> None:
        with pytest.raises(ConfigError) as info:
            make_model(self.model_type, no_such_param=1)
        assert "'no_such_param'" in str(info.value)
        for name in model_params(MODEL_TYPES[self.model_type]):
            assert name in str(info.value)

    # ------------------------------------------------------------------- scoring
    def test_score_covers_every_item_as_float32(self, fitted: Recommender, tiny: Dataset) -> None:
        scores = fitted.score(tiny.idmap.users)  # includes u_cold, who has no history
        assert scores.shape == (tiny.n_users, tiny.n_items)
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()
        np.testing.assert_array_equal(fitted.item_ids, tiny.idmap.items)

    def test_recommend_is_1d_for_one_user_and_2d_for_a_list(self, fitted: Recommender) -> None:
        ids, scores = fitted.recommend("u0", k=5)
        assert ids.shape == scores.shape == (5,)
        assert all(isinstance(i, str) and i for i in ids)
        ids, scores = fitted.recommend(["u0", "u1", "u2"], k=5)
        assert ids.shape == scores.shape == (3, 5)

    def test_batch_matches_single(self, fitted: Recommender, tiny: Dataset) -> None:
        users = list(tiny.idmap.users[:8])
        batch_ids, batch_scores = fitted.recommend(users, k=6)
        for row, user in enumerate(users):
            ids, scores = fitted.recommend(user, k=6)
            np.testing.assert_allclose(scores, batch_scores[row], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(ids, batch_ids[row])

    def test_scores_are_sorted_best_first(self, fitted: Recommender) -> None:
        _, scores = fitted.recommend(["u0", "u3", "u_cold"], k=10)
        assert (np.diff(scores, axis=1) <= 0).all()

    def test_exclude_seen(self, fitted: Recommender, tiny: Dataset) -> None:
        df = tiny.interactions
        for user in ("u0", "u5", "u9"):
            seen = set(df.loc[df["user_id"] == user, "item_id"])
            ids, _ = fitted.recommend(user, k=tiny.n_items, exclude_seen=True)
            assert not seen & set(ids)
            assert (ids != "").sum() == tiny.n_items - len(seen)
            ids, _ = fitted.recommend(user, k=tiny.n_items, exclude_seen=False)
            assert seen <= set(ids)

    def test_items_restricts_candidates(self, fitted: Recommender) -> None:
        allowed = ["i1", "i3", "i5", "i_new"]
        ids, scores = fitted.recommend("u4", k=4, exclude_seen=False, items=allowed)
        assert sorted(ids) == sorted(allowed)
        ids, scores = fitted.recommend(["u4", "u7"], k=10, exclude_seen=False, items=allowed)
        assert set(ids[ids != ""]) <= set(allowed)
        assert np.isneginf(scores[:, len(allowed) :]).all()

    def test_k_larger_than_catalogue_pads(self, fitted: Recommender, tiny: Dataset) -> None:
        k = tiny.n_items + 7
        ids, scores = fitted.recommend("u_cold", k=k)
        assert ids.shape == (k,)
        assert (ids[: tiny.n_items] != "").all()
        assert (ids[tiny.n_items :] == "").all()
        assert np.isneginf(scores[tiny.n_items :]).all()

    def test_unknown_ids_raise(self, fitted: Recommender) -> None:
        with pytest.raises(UnknownIdError, match="'nobody'"):
            fitted.recommend("nobody")
        with pytest.raises(UnknownIdError, match="'nobody'"):
            fitted.score(["u0", "nobody"])
        with pytest.raises(UnknownIdError, match="'no-item'"):
            fitted.similar_items("no-item")
        with pytest.raises(UnknownIdError, match="'no-item'"):
            fitted.recommend("u0", items=["i1", "no-item"])

    def test_similar_items_excludes_the_item(self, fitted: Recommender) -> None:
        ids, scores = fitted.similar_items("i0", k=5)
        assert ids.shape == scores.shape == (5,)
        assert "i0" not in ids
        ids, _ = fitted.similar_items(["i0", "i2"], k=30)
        assert ids.shape == (2, 30)
        assert "i0" not in ids[0] and "i2" not in ids[1]

    # --------------------------------------------------------------- persistence
    def test_save_load_round_trip(self, fitted: Recommender, tiny: Dataset, tmp_path: Path) -> None:
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
        assert loaded.titles(["i3"]) == ["Item i3"]
        assert not any(p.suffix in (".pkl", ".pickle", ".npy") for p in path.iterdir())

    def test_corrupted_weights_raise(self, fitted: Recommender, tmp_path: Path) -> None:
        path = fitted.save(tmp_path / "model")
        (path / "model.safetensors").write_bytes(b"\x00\x07not a safetensors file")
        with pytest.raises(ModelFileError, match=r"model\.safetensors"):
            lmrec.models.load(path)
        (path / "model.safetensors").unlink()
        with pytest.raises(ModelFileError, match=r"model\.safetensors"):
            lmrec.models.load(path)

    def test_missing_state_array_raises(self, fitted: Recommender, tmp_path: Path) -> None:
        path = fitted.save(tmp_path / "model")
        arrays = load_file(str(path / "model.safetensors"))
        kept = {k: v for k, v in arrays.items() if not k.startswith("state.")}
        if len(kept) == len(arrays):
            pytest.skip("this model saves no learned arrays")
        save_file(kept, str(path / "model.safetensors"))
        with pytest.raises(ModelFileError, match="state\\."):
            lmrec.models.load(path)

    def test_missing_config_raises(self, fitted: Recommender, tmp_path: Path) -> None:
        path = fitted.save(tmp_path / "model")
        (path / "config.json").unlink()
        with pytest.raises(ModelFileError, match=r"config\.json"):
            lmrec.models.load(path)

    def test_wrong_format_version_raises(self, fitted: Recommender, tmp_path: Path) -> None:
        path = fitted.save(tmp_path / "model")
        config = json.loads((path / "config.json").read_text())
        assert config["model_type"] == self.model_type
        config["format_version"] = 999
        (path / "config.json").write_text(json.dumps(config))
        with pytest.raises(ModelFileError, match="format_version"):
            lmrec.models.load(path)


class TestMostPopular(RecommenderContract):
    model_type = "popular"
    bad_params: ClassVar[list[dict[str, Any]]] = [{"k": 10}]

    def test_bad_params_raise_config_error(self, tiny: Dataset) -> None:
        # No parameters at all: anything passed is unknown to make_model.
        with pytest.raises(ConfigError, match=r"'k'.*none"):
            make_model(self.model_type, k=10)

    def test_popularity_counts_distinct_users(self, fitted: Recommender, tiny: Dataset) -> None:
        df = tiny.interactions
        expected = df.groupby("item_id")["user_id"].nunique()
        scores = fitted.score(["u_cold"])[0]
        for item, count in expected.items():
            assert scores[tiny.idmap.item_index([item])[0]] == count
        assert scores[tiny.idmap.item_index(["i_new"])[0]] == 0


class TestItemKNN(RecommenderContract):
    model_type = "itemknn"
    params: ClassVar[dict[str, Any]] = {"k": 5}
    bad_params: ClassVar[list[dict[str, Any]]] = [{"k": 0}, {"k": 2.5}, {"shrink": -1.0}]

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


class TestEASE(RecommenderContract):
    model_type = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 10.0}
    bad_params: ClassVar[list[dict[str, Any]]] = [{"l2": 0.0}, {"l2": "big"}, {"max_items": 0}]

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


class TestALS(RecommenderContract):
    model_type = "als"
    params: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 3}
    bad_params: ClassVar[list[dict[str, Any]]] = [
        {"factors": 0},
        {"alpha": 0.0},
        {"matrix": "rating"},
        {"iterations": True},
    ]

    def test_factors_and_count_matrix(self, fitted: Recommender, tiny: Dataset) -> None:
        assert fitted.user_factors_.shape == (tiny.n_users, 8)
        assert fitted.item_factors_.shape == (tiny.n_items, 8)
        counts = self.make(matrix="count").fit(tiny)
        assert not np.array_equal(counts.item_factors_, fitted.item_factors_)


class TestBPR(RecommenderContract):
    model_type = "bpr"
    # One thread: BPR's parallel SGD is not reproducible run to run.
    params: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 5, "num_threads": 1}
    bad_params: ClassVar[list[dict[str, Any]]] = [{"learning_rate": 0}, {"num_threads": -1}]

    def test_item_vectors_leave_out_the_bias(self, fitted: Recommender, tiny: Dataset) -> None:
        assert fitted.item_factors_.shape == (tiny.n_items, 9)  # 8 factors + item bias
        assert fitted._item_vectors().shape == (tiny.n_items, 8)


class RatingContract(RecommenderContract):
    """Extra checks for models that predict ratings."""

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

    def test_needs_ratings(self, tiny_clicks: Dataset) -> None:
        with pytest.raises(ConfigError, match=r"'tiny-clicks' has no ratings.*ranking model"):
            self.make().fit(tiny_clicks)


class TestSVD(RatingContract):
    model_type = "svd"
    params: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 5}
    bad_params: ClassVar[list[dict[str, Any]]] = [{"factors": -1}, {"regularization": -0.1}]


class TestSVDpp(RatingContract):
    model_type = "svdpp"
    params: ClassVar[dict[str, Any]] = {"factors": 4, "iterations": 3}
    bad_params: ClassVar[list[dict[str, Any]]] = [{"learning_rate": 0.0}, {"init_std": -1.0}]

    def test_user_term(self, fitted: Recommender, tiny: Dataset) -> None:
        rated = rated_interactions(tiny)
        u = tiny.idmap.user_index(["u3"])[0]
        n_u = tiny.idmap.item_index(rated.loc[rated["user_id"] == "u3", "item_id"])
        expected = fitted.pu_[u] + fitted.yj_[n_u].sum(axis=0) / np.sqrt(len(n_u))
        np.testing.assert_allclose(fitted.zu_[u], expected, rtol=1e-10)


# ---------------------------------------------------------------------- registry
BASELINES: dict[str, type[Recommender]] = {
    "popular": MostPopular,
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
    with pytest.raises(ConfigError, match=r"'knn'.*popular, itemknn, ease, als, bpr, svd, svdpp"):
        make_model("knn")


def test_load_unknown_model_type(tiny: Dataset, tmp_path: Path) -> None:
    path = MostPopular().fit(tiny).save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["model_type"] = "gpt5"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"'gpt5'.*known types"):
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
