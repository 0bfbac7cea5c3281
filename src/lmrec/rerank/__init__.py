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
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.evaluate.diversity import ItemSpace, check_space, history_distributions
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


@dataclass(frozen=True)
class ListDiversity:
    """How a served list is re-ranked: ``method`` at knob ``diversity`` over the model's top
    ``candidates`` in item ``space`` ("categories" or "text"), weighing ``relevance``.
    Checked on construction, so a bad request fails before any scoring."""

    method: str
    diversity: float
    relevance: str = "scores"
    candidates: int = 100
    space: str = "categories"

    def __post_init__(self) -> None:
        check_method(self.method)
        object.__setattr__(self, "diversity", check_knob(self.diversity))
        check_relevance(self.relevance)
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int):
            raise ConfigError(f"candidates must be a whole number, got {self.candidates!r}")
        if self.candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {self.candidates}")
        check_space(self.space)

    @property
    def label(self) -> str:
        """``mmr-0.3`` (``-prob`` on probabilities), as :attr:`Reranked.label`."""
        return rerank_label(self.method, self.diversity, self.relevance)


def rerank_label(method: str, diversity: float, relevance: str) -> str:
    """``dpp-0.3`` (``dpp-0.3-prob`` on probabilities): the method, its knob and, when not
    scores, the relevance; the name of re-ranked lists in records and answers."""
    suffix = "-prob" if relevance == "probabilities" else ""
    return f"{method}-{diversity:g}{suffix}"


def rerank_candidates(
    items: np.ndarray,
    scores: np.ndarray,
    size: int,
    space: ItemSpace,
    method: str,
    diversity: float,
    relevance: str = "scores",
    target: np.ndarray | None = None,
) -> np.ndarray:
    """One user's list of ``size`` items (indices into ``space``) re-ranked from candidate
    ``items`` and their model ``scores`` (finite): MMR or DPP on the space's vectors, or
    calibrated towards ``target``, the user's category mix (zeros: model order). What
    :meth:`Reranked.lists` does per user, and the service per request."""
    rel = np.asarray(scores, dtype=np.float64)
    if relevance == "probabilities" and len(rel):
        rel = np.exp(rel - rel.max())
    if method == "mmr":
        picked = mmr(rel, space.vectors[items], size, diversity)
    elif method == "dpp":
        picked = dpp(rel, space.vectors[items], size, diversity)
    else:
        if target is None:
            raise ConfigError("calibrated re-ranking needs the user's category mix (target)")
        picked = calibrated(rel, space.weights[items].toarray(), target, size, diversity)
    return np.asarray(items)[picked]


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
        """``dpp-0.3`` (``dpp-0.3-prob`` on probabilities), for model names in records."""
        return rerank_label(self.method, self.diversity, self.relevance)

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
                size = min(self.list_size, len(items))
                if size < self.list_size:
                    out[row] = -1
                if size == 0:
                    continue
                out[row, :size] = rerank_candidates(
                    items,
                    rel,
                    size,
                    self.space,
                    self.method,
                    self.diversity,
                    self.relevance,
                    None if targets is None else targets[row],
                )
        return out

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


__all__ = [
    "METHODS",
    "RELEVANCE",
    "ListDiversity",
    "Reranked",
    "check_method",
    "check_relevance",
    "lift_lists",
    "rerank_candidates",
]
