"""Diversity-aware re-ranking on top of any fitted model.

:class:`Reranked` takes a fitted model, a method of :mod:`lmrec.rerank.methods` and its
knob, and re-orders each user's top ``candidates`` (default 100, items the user had
excluded) into a list of ``list_size`` items::

    from lmrec.evaluate.diversity import item_space
    reranked = Reranked(model, fit_data, item_space(fit_data), "dpp", diversity=0.3)
    ids, scores = reranked.recommend(["196"], k=10)
    result = evaluate(reranked, split, "test")      # accuracy and diversity of the new lists

``relevance`` says what the methods weigh against diversity: ``"scores"`` (default), the
model's scores min–max scaled within the candidates, or ``"probabilities"``, each
candidate's probability relative to the top one, ``exp(s - max s)`` (then scaled the same
way): for models whose scores are logits (the Transformer's p(item | history)), where a
gap of a few nats between the first candidates and the rest is a large gap in belief that
scaled logits flatten. Steck's calibrated lists are defined on such probabilities.

For evaluation it behaves like a model: ``score_indices`` returns the base scores with the
re-ranked list lifted above every other item in its new order, so full-ranking metrics
judge exactly the list a user would see (positions past the list keep the model's order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.evaluate.diversity import ItemSpace, history_distributions
from lmrec.models.base import Recommender, mask_seen, top_k
from lmrec.rerank.methods import METHODS, calibrated, check_knob, check_list, dpp, mmr

#: What the methods take as relevance (see the module docstring).
RELEVANCE: tuple[str, ...] = ("scores", "probabilities")


def check_relevance(relevance: str) -> str:
    """``relevance`` if it is one of :data:`RELEVANCE`, else a :class:`ConfigError`."""
    if relevance not in RELEVANCE:
        raise ConfigError(f"relevance must be one of {', '.join(RELEVANCE)}, got {relevance!r}")
    return relevance


def lift_lists(scores: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """``scores`` (users × items, changed in place and returned) with each row's list
    (item indices, -1 = empty slot) placed above every other item, in list order: what
    lets the full-ranking evaluator judge exactly the list a user sees."""
    finite = scores[np.isfinite(scores)]
    top = float(finite.max()) if finite.size else 0.0
    size = lists.shape[1]
    rows = np.repeat(np.arange(len(lists)), size)
    rank = np.tile(np.arange(size, 0, -1, dtype=np.float32), len(lists))
    flat = lists.ravel()
    keep = flat >= 0
    scores[rows[keep], flat[keep]] = top + 1.0 + rank[keep]
    return scores


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"re-ranking method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


class Reranked:
    """A fitted model whose lists are re-ranked for diversity (see the module docstring).

    ``fit_data`` is what the model was fitted on: it gives each user's seen items (left out
    of the candidates) and category mix (the calibrated method's target).
    """

    #: The re-ranked lists leave out what the user had, so "repeats" evaluation is refused.
    scores_seen_items: ClassVar[bool] = False

    def __init__(
        self,
        model: Recommender,
        fit_data: Dataset,
        space: ItemSpace,
        method: str,
        diversity: float,
        *,
        candidates: int = 100,
        list_size: int = 20,
        relevance: str = "scores",
    ):
        self.model = model
        self.relevance = check_relevance(relevance)
        self.fit_data = fit_data
        self.space = space
        self.method = check_method(method)
        self.diversity = check_knob(diversity)
        if space.n_items != fit_data.n_items:
            raise ConfigError(
                f"item space has {space.n_items} items, the fitted data {fit_data.n_items}"
            )
        if self.method == "calibrated" and space.n_categories == 0:
            raise ConfigError(
                f"{fit_data.name}: no item has a category, so calibrated re-ranking has no "
                "category mix to match; use mmr or dpp"
            )
        check_list(min(candidates, fit_data.n_items), list_size)
        self.candidates = candidates
        self.list_size = list_size
        self._seen = fit_data.matrix("binary")
        self._dense_categories = self.method == "calibrated"

    @property
    def label(self) -> str:
        """``dpp-0.3`` (``dpp-0.3-prob`` on probabilities): the method, its knob and, when
        not scores, the relevance, for model names in records."""
        suffix = "-prob" if self.relevance == "probabilities" else ""
        return f"{self.method}-{self.diversity:g}{suffix}"

    def lists(self, users: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """(len(users), list_size) re-ranked item indices for internal user indices."""
        users = np.asarray(users, dtype=np.int64)
        if scores is None:
            scores = self.model.score_indices(users).astype(np.float32, copy=True)
            mask_seen(scores, self._seen, users)
        n = min(self.candidates, scores.shape[1])
        cand, cand_scores = top_k(scores, n)
        targets = (
            history_distributions(self.fit_data, users, self.space)
            if self.method == "calibrated"
            else None
        )
        out = np.empty((len(users), self.list_size), dtype=np.int64)
        # One BLAS thread: a user's products are 100 × 100, where waking threads costs more
        # than they save (2 ms instead of 0.4 ms per MMR list on a busy 2-core machine), and
        # a service re-ranks several requests at once anyway.
        with threadpool_limits(1, "blas"):
            for row in range(len(users)):
                ok = np.isfinite(cand_scores[row])  # fewer unseen items than candidates
                items, rel = cand[row][ok], cand_scores[row][ok]
                if self.relevance == "probabilities" and len(rel):
                    rel = np.exp(rel.astype(np.float64) - rel.max())
                size = min(self.list_size, len(items))
                if size < self.list_size:
                    out[row] = -1
                if size == 0:
                    continue
                out[row, :size] = items[self._pick(items, rel, size, targets, row)]
        return out

    def _pick(
        self, items: np.ndarray, rel: np.ndarray, k: int, targets: np.ndarray | None, row: int
    ) -> np.ndarray:
        if self.method == "mmr":
            return mmr(rel, self.space.vectors[items], k, self.diversity)
        if self.method == "dpp":
            return dpp(rel, self.space.vectors[items], k, self.diversity)
        weights = self.space.weights[items].toarray()
        return calibrated(rel, weights, targets[row], k, self.diversity)

    # ------------------------------------------------------------- model-like
    def score_indices(self, users: np.ndarray) -> np.ndarray:
        """Base scores with each user's re-ranked list placed above everything, in order."""
        users = np.asarray(users, dtype=np.int64)
        scores = self.model.score_indices(users).astype(np.float32, copy=True)
        masked = scores.copy()
        mask_seen(masked, self._seen, users)
        return lift_lists(scores, self.lists(users, masked))

    def recommend(self, user_ids: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Re-ranked top-``k`` item ids per user and their positions' base scores."""
        if k > self.list_size:
            raise ConfigError(f"k={k} is longer than the re-ranked list ({self.list_size})")
        users = self.fit_data.idmap.user_index(list(user_ids))
        base = self.model.score_indices(users).astype(np.float32, copy=True)
        mask_seen(base, self._seen, users)
        lists = self.lists(users, base)[:, :k]
        ids = np.where(lists >= 0, self.fit_data.idmap.items[np.maximum(lists, 0)], "")
        return ids, np.take_along_axis(base, np.maximum(lists, 0), axis=1)


__all__ = ["METHODS", "RELEVANCE", "Reranked", "check_method", "check_relevance", "lift_lists"]
