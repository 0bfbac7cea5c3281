"""Rating prediction (SVD, SVD++), fitted with scikit-surprise and served with numpy.

Surprise fits the model; its learned arrays (μ, b_u, b_i, p_u, q_i, y_j) are then copied
into lmrec's index order, so scoring, saving and loading need neither Surprise nor pickle.
Users and items that have no rating in the fitting data get zero biases and factors, which
reproduces Surprise's own handling of unknown users and items.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.checks import check_float, check_int, check_state

_STATE = ("mu", "rating_scale", "bu", "bi", "pu", "qi")


def rated_interactions(train: Dataset) -> pd.DataFrame:
    """The rows a rating model learns from: one per (user, item), the last rating kept.

    The same rule as ``Dataset.matrix("rating")``. Raises :class:`ConfigError` when the data
    set has no ratings.
    """
    df = train.interactions
    rated = df[df["rating"].notna()].drop_duplicates(["user_id", "item_id"], keep="last")
    if len(rated) == 0:
        raise ConfigError(
            f"data set {train.name!r} has no ratings, and rating-prediction models (svd, svdpp) "
            "learn from ratings; use a ranking model (popular, itemknn, ease, als, bpr) for "
            "implicit feedback"
        )
    return rated[["user_id", "item_id", "rating"]].reset_index(drop=True)


class _SurpriseFactorization(Recommender):
    """Shared fit / predict / score / save for Surprise's biased factorisation models."""

    capabilities = frozenset({"predict_ratings"})
    #: Name of the Surprise class that trains the factors ("SVD" or "SVDpp").
    surprise_class: ClassVar[str] = ""

    def _surprise_algorithm(self) -> Any:
        """The Surprise estimator, with this model's parameters under Surprise's names."""
        import surprise

        return getattr(surprise, self.surprise_class)(
            n_factors=self.factors,
            n_epochs=self.iterations,
            lr_all=self.learning_rate,
            reg_all=self.regularization,
            init_std_dev=self.init_std,
            random_state=self.seed,
        )

    def _user_term(self, algo: Any, trainset: Any) -> np.ndarray | None:
        """What SVD++ adds to p_u (None for SVD): one row per Surprise inner user id."""
        return None

    def _validate_params(self) -> None:
        check_int(self, "factors", low=1)
        check_int(self, "iterations", low=1)
        check_float(self, "learning_rate", low=0.0, low_open=True)
        check_float(self, "regularization", low=0.0)
        check_float(self, "init_std", low=0.0)
        check_int(self, "seed", low=0)

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        import surprise

        rated = rated_interactions(train)
        lo, hi = float(rated["rating"].min()), float(rated["rating"].max())
        reader = surprise.Reader(rating_scale=(lo, hi))
        trainset = surprise.Dataset.load_from_df(rated, reader).build_full_trainset()
        algo = self._surprise_algorithm()
        algo.fit(trainset)
        # Surprise's inner ids -> lmrec indices (users/items without ratings stay zero).
        users = self.idmap_.user_index([trainset.to_raw_uid(u) for u in trainset.all_users()])
        items = self.idmap_.item_index([trainset.to_raw_iid(i) for i in trainset.all_items()])
        n_users, n_items, f = self.idmap_.n_users, self.idmap_.n_items, self.factors
        self.mu_ = np.array([trainset.global_mean], dtype=np.float64)
        self.rating_scale_ = np.array([lo, hi], dtype=np.float64)
        self.bu_, self.bi_ = np.zeros(n_users), np.zeros(n_items)
        self.bu_[users], self.bi_[items] = algo.bu, algo.bi
        self.pu_, self.qi_ = np.zeros((n_users, f)), np.zeros((n_items, f))
        self.pu_[users], self.qi_[items] = algo.pu, algo.qi
        extra = self._user_term(algo, trainset)
        if extra is not None:
            self.yj_ = np.zeros((n_items, f))
            self.yj_[items] = algo.yj
            self.zu_ = self.pu_.copy()
            self.zu_[users] += extra

    def _user_vectors(self) -> np.ndarray:
        return self.pu_

    def predict(self, user_ids: Sequence[object], item_ids: Sequence[object]) -> np.ndarray:
        """Predicted ratings for (user, item) pairs of external ids, clipped to the scale.

        A user or item absent from the fitting data (or without ratings there) contributes
        no bias and no factors, so a fully unknown pair gets the global mean μ, as in
        Surprise.
        """
        self._check_fitted()
        users, items = pair_ids(user_ids, item_ids)
        known_u, u = _lookup(users, self.idmap_.has_user, self.idmap_.user_index)
        known_i, i = _lookup(items, self.idmap_.has_item, self.idmap_.item_index)
        est = np.full(len(users), self.mu_[0], dtype=np.float64)
        est[known_u] += self.bu_[u[known_u]]
        est[known_i] += self.bi_[i[known_i]]
        both = known_u & known_i
        est[both] += np.einsum("nf,nf->n", self._user_vectors()[u[both]], self.qi_[i[both]])
        return np.clip(est, self.rating_scale_[0], self.rating_scale_[1])

    def _score(self, users: np.ndarray) -> np.ndarray:
        # Unclipped r̂_ui: clipping would tie every item predicted above the top rating.
        est = self._user_vectors()[users] @ self.qi_.T
        est += self.mu_[0] + self.bu_[users, None] + self.bi_[None, :]
        return est.astype(np.float32)

    def _item_vectors(self) -> np.ndarray | None:
        return self.qi_

    def _state(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, f"{name}_") for name in _STATE}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        check_state(self, arrays, _STATE)
        for name in _STATE:
            setattr(self, f"{name}_", arrays[name])


class SVD(_SurpriseFactorization):
    r"""Biased matrix factorisation for ratings (Funk SVD, as in Surprise's ``SVD``).

    .. math::
        \hat{r}_{ui} = \mu + b_u + b_i + q_i^\top p_u

    :math:`\mu` is the mean rating, :math:`b_u, b_i` user and item biases and
    :math:`p_u, q_i` ``factors``-dimensional vectors, learned by SGD on the squared error
    of observed ratings with L2 penalty ``regularization`` on all four terms.
    Unknown users or items drop their terms (:math:`\hat{r}_{ui} = \mu` for both unknown).
    ``predict`` clips to the rating scale seen in the data; ``score`` does not.

    Use it for explicit ratings (RMSE/MAE); for top-k ranking on implicit feedback the
    ranking models do better. Parameters are Surprise's, with its defaults, under lmrec's
    names: ``factors`` (``n_factors``), ``iterations`` (``n_epochs``), ``learning_rate``
    (``lr_all``), ``regularization`` (``reg_all``), ``init_std`` (``init_std_dev``) and
    ``seed`` (``random_state``).
    """

    model_type = "svd"
    surprise_class = "SVD"

    def __init__(
        self,
        factors: int = 100,
        iterations: int = 20,
        learning_rate: float = 0.005,
        regularization: float = 0.02,
        init_std: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.init_std = init_std
        self.seed = seed


class SVDpp(_SurpriseFactorization):
    r"""SVD++ (Koren, 2008): SVD plus the implicit signal of *which* items a user rated.

    .. math::
        \hat{r}_{ui} = \mu + b_u + b_i + q_i^\top z_u, \qquad
        z_u = p_u + |N(u)|^{-1/2} \sum_{j \in N(u)} y_j

    :math:`N(u)` is the set of items :math:`u` rated in the fitting data and :math:`y_j`
    an implicit factor per item; the rest is as in :class:`SVD`. :math:`z_u` is computed
    once at fit time and saved with :math:`y_j`.

    Usually a little more accurate than SVD (RMSE) and several times slower to fit.
    Parameters are Surprise's ``SVDpp`` ones, with its defaults, under the names used by
    :class:`SVD`.
    """

    model_type = "svdpp"
    surprise_class = "SVDpp"

    def __init__(
        self,
        factors: int = 20,
        iterations: int = 20,
        learning_rate: float = 0.007,
        regularization: float = 0.02,
        init_std: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.init_std = init_std
        self.seed = seed

    def _user_term(self, algo: Any, trainset: Any) -> np.ndarray | None:
        # |N(u)|^-1/2 Σ_{j ∈ N(u)} y_j for every Surprise inner user, as one sparse product.
        rows, cols = [], []
        for u in trainset.all_users():
            js = [j for j, _ in trainset.ur[u]]
            rows.extend([u] * len(js))
            cols.extend(js)
        counts = np.bincount(rows, minlength=trainset.n_users)
        weights = 1.0 / np.sqrt(counts[rows])
        n = sp.csr_matrix((weights, (rows, cols)), shape=(trainset.n_users, trainset.n_items))
        return n @ algo.yj

    def _user_vectors(self) -> np.ndarray:
        return self.zu_

    def _state(self) -> dict[str, np.ndarray]:
        return {**super()._state(), "yj": self.yj_, "zu": self.zu_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._load_state(arrays)
        check_state(self, arrays, ["yj", "zu"])
        self.yj_, self.zu_ = arrays["yj"], arrays["zu"]


def pair_ids(user_ids: object, item_ids: object) -> tuple[list[object], list[object]]:
    """``predict``'s arguments as two equally long id lists (a single id is a list of one);
    different lengths are a :class:`ConfigError`."""
    users = [user_ids] if isinstance(user_ids, str | int | np.integer) else list(user_ids)
    items = [item_ids] if isinstance(item_ids, str | int | np.integer) else list(item_ids)
    if len(users) != len(items):
        raise ConfigError(
            f"predict needs one item per user, got {len(users)} user ids and {len(items)} item ids"
        )
    return users, items


def _lookup(ids: list[object], has: Any, index: Any) -> tuple[np.ndarray, np.ndarray]:
    """(known mask, indices with 0 where unknown) for external ids."""
    known = np.fromiter((has(x) for x in ids), dtype=bool, count=len(ids))
    idx = np.zeros(len(ids), dtype=np.int64)
    if known.any():
        idx[known] = index([x for x, k in zip(ids, known, strict=True) if k])
    return known, idx
