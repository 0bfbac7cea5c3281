"""Matrix factorisation for implicit feedback (ALS, BPR), fitted with the ``implicit`` library.

Only implicit's CPU classes are used, so results and saved files are the same on every
machine; the learned factors are copied out and ``implicit`` is not needed to score.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.checks import check_choice, check_float, check_int, check_state


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    # implicit parallelises over users itself; a multi-threaded BLAS underneath it
    # oversubscribes the cores (implicit warns that this can be 10x slower).
    with threadpool_limits(1, "blas"):
        yield


class _ImplicitFactorization(Recommender):
    """Shared fit/score/save for models whose score is ``user_factors @ item_factors.T``."""

    def _implicit_model(self) -> tuple[type, dict[str, Any]]:
        """implicit's class and its constructor arguments."""
        raise NotImplementedError

    def _input_matrix(self, train: Dataset) -> Any:
        return self.seen_

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        user_items = self._input_matrix(train)
        # Import implicit before limiting BLAS threads: it loads a BLAS of its own, which
        # the limit would miss. Build the model inside: its constructor checks the threads.
        cls, kwargs = self._implicit_model()
        with _single_threaded_blas():
            model = cls(**kwargs)
            model.fit(user_items, show_progress=False)
        users = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        items = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        if not (np.isfinite(users).all() and np.isfinite(items).all()):
            raise ConfigError(
                f"{type(self).__name__} produced non-finite factors with {self.get_params()}; "
                "lower the learning rate / alpha or raise the regularization"
            )
        self.user_factors_, self.item_factors_ = users, items

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T

    def _item_vectors(self) -> np.ndarray | None:
        return self.item_factors_

    def _state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        check_state(self, arrays, ["user_factors", "item_factors"])
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]


class ALS(_ImplicitFactorization):
    r"""Alternating least squares for implicit feedback (Hu, Koren & Volinsky, 2008).

    .. math::
        \hat{r}_{ui} = p_u^\top q_i, \qquad
        \min_{p, q} \sum_{u, i} c_{ui} (x_{ui} - p_u^\top q_i)^2
            + \lambda \Big(\sum_u \|p_u\|^2 + \sum_i \|q_i\|^2\Big)

    :math:`x_{ui} = 1` for observed pairs and 0 otherwise. The confidence is
    :math:`c_{ui} = \alpha\, r_{ui}` for observed pairs and 1 for the rest (implicit's
    convention), where :math:`r_{ui}` is the ``matrix`` value (``"binary"``: 1 per observed
    pair, or, when the data has a weight column such as play counts, the log-scaled summed
    weight :math:`\log_2(1 + w_{ui})`; ``"count"``: the number of events); ``factors`` is
    the dimension of :math:`p_u, q_i` and :math:`\lambda` the ``regularization``. With the default
    ``alpha=1`` on the binary matrix, observed and unobserved pairs weigh the same. Tune
    ``regularization`` and ``alpha`` on validation (best on ml-100k: ``regularization=10``;
    on Amazon Beauty: ``alpha=50, regularization=50``).

    Every unobserved pair counts as a negative of weight 1, so ALS suits dense implicit
    data (views, plays, MovieLens) and scales to large catalogues; on very sparse data
    ItemKNN or EASE are often better. ``iterations`` counts alternating sweeps,
    ``num_threads`` is implicit's thread count (0: all cores) and ``seed`` seeds the
    initial factors; results are identical for a given ``seed`` and any ``num_threads``.
    """

    model_type = "als"
    capabilities = frozenset({"score_histories"})

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        matrix: str = "binary",
        num_threads: int = 2,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.matrix = matrix
        self.num_threads = num_threads
        self.seed = seed

    def _validate_params(self) -> None:
        check_int(self, "factors", low=1)
        check_float(self, "regularization", low=0.0)
        check_float(self, "alpha", low=0.0, low_open=True)
        check_int(self, "iterations", low=1)
        check_choice(self, "matrix", ("binary", "count"))
        check_int(self, "num_threads", low=0)
        check_int(self, "seed", low=0)

    def _input_matrix(self, train: Dataset) -> Any:
        if self.matrix == "count":
            return train.matrix("count")
        return train.matrix("weight") if train.has_weights else self.seen_

    def _implicit_model(self) -> tuple[type, dict[str, Any]]:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares, dict(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            num_threads=self.num_threads,
            random_state=self.seed,
        )

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        r"""Fold each history in: solve its user factor against the learned item factors.

        .. math::
            p = \Big(Q^\top Q + \lambda I + \sum_{i \in H} (c_i - 1)\, q_i q_i^\top\Big)^{-1}
                \sum_{i \in H} c_i\, q_i, \qquad c_i = \alpha\, r_i

        the exact least-squares step ALS takes for a user (implicit's ``recalculate_user``),
        with :math:`r_i = 1` per distinct item (``matrix="binary"``) or the number of times
        :math:`i` occurs in the history (``"count"``). Scores are :math:`Q p`. Training
        solves users with a few conjugate-gradient steps before the last item update, so a
        known user's folded-in scores are close to, not identical with, :meth:`score`.
        """
        x = self._history_matrix(indices, counts=self.matrix == "count")
        q = self.item_factors_.astype(np.float64)
        base = q.T @ q + self.regularization * np.eye(q.shape[1])
        users = np.empty((len(indices), q.shape[1]), dtype=np.float64)
        for row in range(len(indices)):
            lo, hi = x.indptr[row], x.indptr[row + 1]
            items, confidence = x.indices[lo:hi], self.alpha * x.data[lo:hi].astype(np.float64)
            qh = q[items]
            a = base + (qh.T * (confidence - 1.0)) @ qh
            users[row] = np.linalg.solve(a, qh.T @ confidence)
        return (users @ q.T).astype(np.float32)


class BPR(_ImplicitFactorization):
    r"""Bayesian personalised ranking (Rendle et al., 2009), trained by SGD on sampled triples.

    .. math::
        \hat{r}_{ui} = p_u^\top q_i + b_i, \qquad
        \max_{p, q, b} \sum_{(u, i, j)} \ln \sigma(\hat{r}_{ui} - \hat{r}_{uj})
            - \lambda \|\Theta\|^2

    Each step samples an observed pair :math:`(u, i)` and an unobserved item :math:`j`;
    ``factors`` is the dimension of :math:`p_u, q_i`, :math:`b_i` an item bias,
    :math:`\lambda` the ``regularization`` and ``learning_rate`` the SGD step.

    Optimises the ranking directly and needs only positive feedback; it needs more
    iterations (epochs over the observed pairs) than ALS and some tuning of
    ``learning_rate``. ``num_threads`` is implicit's thread count (0: all cores) and
    ``seed`` seeds the initial factors and the sampling. The default, one thread, is
    reproducible; with more threads the SGD updates interleave differently each run.
    """

    model_type = "bpr"
    capabilities = frozenset({"score_histories"})

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.num_threads = num_threads
        self.seed = seed

    def _validate_params(self) -> None:
        check_int(self, "factors", low=1)
        check_float(self, "learning_rate", low=0.0, low_open=True)
        check_float(self, "regularization", low=0.0)
        check_int(self, "iterations", low=1)
        check_int(self, "num_threads", low=0)
        check_int(self, "seed", low=0)

    def _implicit_model(self) -> tuple[type, dict[str, Any]]:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking, dict(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=self.num_threads,
            random_state=self.seed,
        )

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        r"""Score each history with the mean of its items' taste factors as the user factor.

        .. math::
            \hat{r}_{hj} = \Big(\frac{1}{|H|} \sum_{i \in H} q_i\Big)^\top q_j + b_j

        over the distinct items :math:`H` of the history. Cheap and deterministic, but not a
        BPR fold-in: the result is not the factor training would learn for that history, so
        a known user's scores differ from :meth:`score` (the item bias :math:`b_j` weighs
        as much as it does for a trained user whose factor has the norm of an average item).
        """
        x = self._history_matrix(indices)
        mean = np.asarray(x @ self.item_factors_) / np.asarray(x.sum(axis=1))
        mean[:, -1] = 1.0  # implicit pairs the item bias (last factor) with a constant 1
        return (mean @ self.item_factors_.T).astype(np.float32)

    def _item_vectors(self) -> np.ndarray | None:
        # implicit stores the item bias as the last factor (paired with a constant 1 in
        # every user vector); similarity should use the taste factors only.
        return self.item_factors_[:, :-1]
