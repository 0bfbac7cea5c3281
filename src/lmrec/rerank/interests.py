"""Several interests per user, and lists that serve each of them.

A single user vector is pulled towards the user's strongest interest; a list built from it
can miss the others. Here a user's recent history is split into interests and the model
scores each interest's own sub-history, so every interest gets a vector of its own:

1. **Split.** The user's last ``max_history`` distinct items are clustered by cosine
   k-means in an item space (:class:`~lmrec.evaluate.diversity.ItemSpace`: text or category
   vectors) into at most ``n_interests`` groups; the first centre is the most recent item,
   each next one the item least like the centres so far (deterministic). An interest's
   weight is its share of those events.
2. **Vectors.** The model scores each group's events, in time order with their behaviours
   and timestamps, through ``score_histories`` (for the Transformer: its final state over
   that sub-sequence, i.e. "what comes next within this interest"). The whole history is
   one more, *overall* interest, scored as the known user.
3. **Labels.** An interest is named by the category mix of its history items (each item's
   weight spread over its categories, :func:`lmrec.models.interests.category_matrix`), and
   shows the items its vector predicts (softmax of its scores at the model's temperature).
4. **Retrieval.** The list is filled slot by slot by D'Hondt's rule: the interest with the
   largest ``weight / (slots taken + 1)`` gives its best item not yet listed or seen. The
   overall interest has weight ``1 - diversity``, the groups share ``diversity``; so
   ``diversity = 0`` is the model's own list and larger values give minor interests slots.

Any model with the ``score_histories`` capability works (the Transformer; EASE and ItemKNN
too); :class:`MultiInterestLists` evaluates like a model (see :class:`lmrec.rerank.Reranked`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.evaluate.diversity import ItemSpace
from lmrec.models.base import Recommender, mask_seen
from lmrec.models.interests import category_matrix
from lmrec.rerank import lift_lists
from lmrec.rerank.methods import check_knob


@dataclass(frozen=True)
class Interest:
    """One of a user's interests: its weight, the history items in it, what it predicts."""

    weight: float
    history: np.ndarray  # item ids in this interest, oldest first
    categories: list[str]  # dominant categories of the interest's history items
    category_probs: np.ndarray
    items: np.ndarray  # top predicted item ids (unseen)
    item_probs: np.ndarray

    def as_dict(self) -> dict[str, object]:
        return {
            "weight": self.weight,
            "history": [str(i) for i in self.history],
            "categories": [
                {"category": c, "p": float(p)}
                for c, p in zip(self.categories, self.category_probs, strict=True)
            ],
            "items": [
                {"item_id": str(i), "p": float(p)}
                for i, p in zip(self.items, self.item_probs, strict=True)
            ],
        }


def cluster_history(vectors: np.ndarray, n_interests: int, iterations: int = 10) -> np.ndarray:
    """Cluster labels (0..K-1) of history item ``vectors`` (unit rows, most recent last).

    Cosine k-means with a deterministic farthest-point start from the most recent item.
    K is at most ``n_interests`` and at most the number of distinct vectors.
    """
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    distinct = len(np.unique(np.round(vectors, 6), axis=0))
    k = max(1, min(n_interests, distinct))
    centres = [n - 1]
    closest = vectors @ vectors[n - 1]
    for _ in range(1, k):
        order = np.lexsort((-np.arange(n), closest))  # least similar, most recent on ties
        centres.append(int(order[0]))
        closest = np.maximum(closest, vectors @ vectors[centres[-1]])
    c = vectors[centres].copy()
    labels = np.zeros(n, dtype=np.int64)
    for step in range(iterations):
        new = np.argmax(vectors @ c.T, axis=1)
        if step > 0 and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = vectors[labels == j]
            if len(members):
                centre = members.mean(axis=0)
                norm = np.linalg.norm(centre)
                c[j] = centre / norm if norm > 0 else c[j]
    _, labels = np.unique(labels, return_inverse=True)  # drop empty clusters
    return labels


class MultiInterestLists:
    """Lists filled from each of a user's interests (module docstring)."""

    scores_seen_items: ClassVar[bool] = False

    def __init__(
        self,
        model: Recommender,
        fit_data: Dataset,
        space: ItemSpace,
        diversity: float,
        *,
        n_interests: int = 4,
        max_history: int = 50,
        list_size: int = 20,
    ):
        model._require("score_histories", "multi-interest lists score each interest's history")
        if n_interests < 1:
            raise ConfigError(f"n_interests must be at least 1, got {n_interests}")
        if list_size < 1:
            raise ConfigError(f"list_size must be at least 1, got {list_size}")
        self.model = model
        self.fit_data = fit_data
        self.space = space
        self.diversity = check_knob(diversity)
        self.n_interests = n_interests
        self.max_history = max_history
        self.list_size = list_size
        self._seen = fit_data.matrix("binary")
        self._events = _user_events(fit_data)

    @property
    def label(self) -> str:
        return f"multi-interest-{self.diversity:g}"

    # ------------------------------------------------------------- interests
    def _groups(self, user: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Event positions (into the user's recent events) of each interest, and weights."""
        items = self._events.items[user][-self.max_history :]
        labels = cluster_history(self.space.vectors[items], self.n_interests)
        k = int(labels.max()) + 1 if len(labels) else 0
        groups = [np.flatnonzero(labels == j) for j in range(k)]
        weights = np.array([len(g) for g in groups], dtype=np.float64)
        return groups, weights / max(1.0, weights.sum())

    def _group_scores(self, pairs: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """(len(pairs), n_items) model scores after each (user, event positions) sub-history,
        the user's items masked."""
        ev = self._events
        sl = slice(-self.max_history, None)
        histories, kinds, stamps = [], [], []
        for user, g in pairs:
            histories.append(ev.items[user][sl][g])
            kinds.append(list(ev.behaviours[user][sl][g]))
            stamps.append(list(ev.stamps[user][sl][g]))
        scores = np.asarray(self.model._score_histories(histories, kinds, stamps), dtype=np.float32)
        mask_seen(scores, self._seen, np.array([u for u, _ in pairs], dtype=np.int64))
        return scores

    def lists(self, users: np.ndarray, overall: np.ndarray | None = None) -> np.ndarray:
        """(len(users), list_size) item indices; ``overall`` are the users' own scores."""
        users = np.asarray(users, dtype=np.int64)
        if overall is None:
            overall = self.model.score_indices(users).astype(np.float32, copy=True)
        overall = overall.copy()
        mask_seen(overall, self._seen, users)
        shares: list[np.ndarray] = []
        pairs: list[tuple[int, np.ndarray]] = []
        owner: list[int] = []
        for row, user in enumerate(users):
            groups, weights = self._groups(int(user)) if self.diversity > 0 else ([], np.zeros(0))
            if len(groups) < 2:  # one interest: the overall list is the list
                groups, weights = [], np.zeros(0)
            shares.append(weights)
            pairs += [(int(user), g) for g in groups]
            owner += [row] * len(groups)
        group_scores = self._group_scores(pairs) if pairs else np.zeros((0, 0), np.float32)
        owner_arr = np.asarray(owner, dtype=np.int64)
        out = np.full((len(users), self.list_size), -1, dtype=np.int64)
        for row in range(len(users)):
            depth = 2 * self.list_size
            ranked = [_ranking(overall[row], depth)]
            ranked += [_ranking(s, depth) for s in group_scores[owner_arr == row]]
            weights = np.concatenate([[1.0 - self.diversity], self.diversity * shares[row]])
            out[row] = _dhondt(ranked, weights, self.list_size)
        return out

    def score_indices(self, users: np.ndarray) -> np.ndarray:
        """The users' own scores with the multi-interest list placed above all, in order."""
        users = np.asarray(users, dtype=np.int64)
        scores = self.model.score_indices(users).astype(np.float32, copy=True)
        return lift_lists(scores, self.lists(users, scores))

    def interests(
        self,
        user_id: object,
        *,
        top_items: int = 5,
        top_categories: int = 3,
        temperature: float | None = None,
    ) -> list[Interest]:
        """The user's interests, heaviest first, each labelled by its top categories."""
        (user,) = self.fit_data.idmap.user_index([user_id])
        groups, weights = self._groups(int(user))
        scores = self._group_scores([(int(user), g) for g in groups])
        t = temperature or float(getattr(self.model, "temperature_", 1.0))
        z = scores / t
        z -= z.max(axis=1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True)
        names, w = category_matrix(list(self.fit_data.items["categories"]))
        recent = self._events.items[int(user)][-self.max_history :]
        ids = self.fit_data.idmap.items
        out = []
        for j in np.argsort(-weights, kind="stable"):
            mix = np.asarray(w[recent[groups[j]]].mean(axis=0)).ravel()  # the interest's history
            ct = np.argsort(-mix, kind="stable")[:top_categories]
            it = np.argsort(-probs[j], kind="stable")[:top_items]
            out.append(
                Interest(
                    weight=float(weights[j]),
                    history=ids[np.unique(recent[groups[j]])],
                    categories=[names[c] for c in ct if mix[c] > 0],
                    category_probs=mix[ct][mix[ct] > 0],
                    items=ids[it],
                    item_probs=probs[j][it],
                )
            )
        return out


@dataclass(frozen=True)
class _Events:
    items: list[np.ndarray]
    behaviours: list[np.ndarray]
    stamps: list[np.ndarray]


def _user_events(data: Dataset) -> _Events:
    """Each user's events in time order (item indices, behaviour names, timestamps)."""
    inter = data.interactions
    users = data.user_index()
    order = np.argsort(users, kind="stable")  # interactions are in time order per user
    bounds = np.cumsum(np.bincount(users, minlength=data.n_users))[:-1]
    return _Events(
        np.split(data.item_index()[order], bounds),
        np.split(inter["behaviour"].astype(str).to_numpy()[order], bounds),
        np.split(inter["timestamp"].to_numpy(dtype=np.float64)[order], bounds),
    )


def _ranking(scores: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` best finite-scored item indices, best first (a list of ``k`` slots needs
    at most ``2k`` of each ranking: at most ``k`` are skipped as already listed)."""
    if n < len(scores):
        part = np.argpartition(-scores, n - 1)[:n]
        order = part[np.lexsort((part, -scores[part]))]
    else:
        order = np.argsort(-scores, kind="stable")
    return order[np.isfinite(scores[order])]


def _dhondt(ranked: Sequence[np.ndarray], weights: np.ndarray, size: int) -> np.ndarray:
    """Fill ``size`` slots: each slot goes to the ranking with the largest weight / (taken + 1),
    which gives its best item not listed yet (-1 where every ranking is exhausted)."""
    out = np.full(size, -1, dtype=np.int64)
    taken = np.zeros(len(ranked))
    pointer = np.zeros(len(ranked), dtype=np.int64)
    listed: set[int] = set()
    live = weights > 0
    for slot in range(size):
        while True:
            if not live.any():
                return out
            j = int(np.argmax(np.where(live, weights / (taken + 1), -np.inf)))
            while pointer[j] < len(ranked[j]) and int(ranked[j][pointer[j]]) in listed:
                pointer[j] += 1
            if pointer[j] >= len(ranked[j]):
                live[j] = False
                continue
            item = int(ranked[j][pointer[j]])
            out[slot] = item
            listed.add(item)
            taken[j] += 1
            break
    return out


__all__ = ["Interest", "MultiInterestLists", "cluster_history"]
