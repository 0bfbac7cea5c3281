"""What the service computes, without HTTP: a loaded run, its users' histories and events.

Three paths serve a recommendation, and every answer names the one it took:

- ``model``: a user the model was fitted on, with no new events: the model's own scores;
- ``history``: a raw history, or a user with events posted since (known or new): the model
  scores the history (fitted events + new ones) through ``score_histories``, no retraining;
- ``popularity``: a user the model never saw and who has no events yet.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmrec.data.schema import Dataset
from lmrec.errors import CapabilityError, ConfigError, UnknownIdError
from lmrec.models.base import Recommender, top_k
from lmrec.serve.retrieval import build_index, factor_vectors
from lmrec.serve.store import Event, EventStore


@dataclass
class Engine:
    """A run ready to serve: model, the data it was fitted on, the event store."""

    model: Recommender
    fit_data: Dataset
    store: EventStore
    run_dir: str
    version: str
    #: Retrieval for inner-product models: "auto", "exact" or "faiss" (lmrec.serve.retrieval).
    index_kind: str = "auto"
    _categories: list[set[str]] = field(default_factory=list)
    _popular: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _seen: Any = None
    _rows_by_user: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _user_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._categories = [set(c) for c in self.fit_data.items["categories"]]  # id-map order
        counts = np.bincount(self.fit_data.item_index(), minlength=self.fit_data.n_items)
        self._popular = counts.astype(np.float32)
        self._seen = self.fit_data.matrix("binary")
        users = self.fit_data.user_index()
        self._rows_by_user = np.argsort(users, kind="stable")  # time order within a user
        self._user_starts = np.searchsorted(
            users[self._rows_by_user], np.arange(self.fit_data.n_users + 1)
        )
        vectors = factor_vectors(self.model)
        self._user_vectors = None if vectors is None else vectors[0]
        self._index = None if vectors is None else build_index(vectors[1], self.index_kind)

    @property
    def retrieval(self) -> str:
        """How the model path finds its top k: "faiss", "exact" (an index over inner-product
        vectors) or "scores" (the model scores every item)."""
        return "scores" if self._index is None else self._index.kind

    # ------------------------------------------------------------ histories
    def known_user(self, user_id: str) -> bool:
        try:
            self.fit_data.idmap.user_index([user_id])
            return True
        except UnknownIdError:
            return False

    def check_items(self, item_ids: list[str]) -> np.ndarray:
        """Indices of ``item_ids``; an unknown item is an :class:`UnknownIdError`."""
        return self.fit_data.idmap.item_index(item_ids)

    def fitted_history(self, user_id: str) -> list[Event]:
        """The user's events in the fitting data, oldest first."""
        if not self.known_user(user_id):
            return []
        (u,) = self.fit_data.idmap.user_index([user_id])
        inter = self.fit_data.interactions
        lo, hi = self._user_starts[u], self._user_starts[u + 1]
        rows = inter.iloc[self._rows_by_user[lo:hi]]
        return [
            Event(user_id, str(i), str(b), float(t) if not math.isnan(t) else math.nan)
            for i, b, t in zip(
                rows["item_id"], rows["behaviour"], rows["timestamp"].astype(float), strict=True
            )
        ]

    # ------------------------------------------------------------ scoring
    def scores(
        self,
        user_id: str | None,
        history: list[Event] | None,
    ) -> tuple[np.ndarray, str, list[str]]:
        """(n_items,) scores, the path that served them, and the history's item ids."""
        if history is not None:
            return self._history_scores(history), "history", [e.item_id for e in history]
        assert user_id is not None
        new = self.store.history(user_id)
        known = self.known_user(user_id)
        if known and not new:
            (u,) = self.fit_data.idmap.user_index([user_id])
            return self.model.score_indices(np.array([u]))[0], "model", []
        if not known and not new:
            return self._popular.copy(), "popularity", []
        events = self.fitted_history(user_id) + new
        return self._history_scores(events), "history", [e.item_id for e in events]

    def _history_scores(self, events: list[Event]) -> np.ndarray:
        if not events:
            raise ConfigError("the history is empty: give at least one event")
        if not self.model.supports("score_histories"):
            raise CapabilityError(
                f"{type(self.model).__name__} cannot score raw histories; serve a model that "
                "can (transformer, ease, itemknn, als, bpr)"
            )
        items = [e.item_id for e in events]
        self.check_items(items)
        stamps = [e.timestamp for e in events]
        scores = self.model.score_histories(
            [items],
            [[e.behaviour for e in events]],
            None if all(math.isnan(t) for t in stamps) else [stamps],
        )
        return np.asarray(scores[0], dtype=np.float32)

    def recommend(
        self,
        user_id: str | None = None,
        history: list[Event] | None = None,
        k: int = 10,
        exclude_seen: bool = True,
        categories: list[str] | None = None,
    ) -> dict[str, Any]:
        if self._index is not None and history is None and not categories and user_id:
            indexed = self._indexed(user_id, k, exclude_seen)
            if indexed is not None:
                return indexed
        scores, path, seen_items = self.scores(user_id, history)
        scores = scores.astype(np.float32, copy=True)
        if exclude_seen:
            if path == "model":
                (u,) = self.fit_data.idmap.user_index([user_id])
                scores[self._seen[u].indices] = -np.inf
            elif seen_items:
                scores[self.check_items(seen_items)] = -np.inf
        if categories:
            wanted = set(categories)
            outside = np.array([not (c & wanted) for c in self._categories])
            scores[outside] = -np.inf
        idx, values = top_k(scores[None, :], k)
        keep = idx[0] >= 0
        items = self._rows(idx[0][keep], values[0][keep])
        return {"served_by": path, "retrieval": "scores", "items": items}

    def _rows(self, idx: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """Answer rows (id, score, title) for item indices, best first."""
        ids = self.fit_data.idmap.items[idx]
        titles = self.model.titles(list(ids)) if len(ids) else []
        return [
            {"item_id": str(i), "score": float(s), "title": t}
            for i, s, t in zip(ids, scores, titles, strict=True)
        ]

    def _indexed(self, user_id: str, k: int, exclude_seen: bool) -> dict[str, Any] | None:
        """The model path through the index (a known user without new events), else None."""
        if not self.known_user(user_id) or self.store.history(user_id):
            return None
        (u,) = self.fit_data.idmap.user_index([user_id])
        seen = self._seen[u].indices if exclude_seen else np.zeros(0, dtype=np.int64)
        idx, values = self._index.search(self._user_vectors[u : u + 1], k + len(seen))
        keep = ~np.isin(idx[0], seen) & (idx[0] >= 0)
        idx, values = idx[0][keep][:k], values[0][keep][:k]
        return {
            "served_by": "model",
            "retrieval": self._index.kind,
            "items": self._rows(idx, values),
        }

    def predict(self, user_id: str, item_ids: list[str]) -> dict[str, Any]:
        """p(item | history) and the raw score: the softmax at the model's temperature
        (calibrated for the Transformer), or the item's share of events for a user the model
        never saw."""
        idx = self.check_items(item_ids)
        scores, path, _ = self.scores(user_id, None)
        if path == "popularity":  # a user never seen: each item's share of all events
            probs = scores.astype(np.float64) / max(1.0, float(scores.sum()))
        else:
            t = float(getattr(self.model, "temperature_", 1.0))
            z = scores.astype(np.float64) / t
            z = z - z[np.isfinite(z)].max()
            probs = np.exp(z) / np.exp(z).sum()
        out = []
        for item, i in zip(item_ids, idx, strict=True):
            row: dict[str, Any] = {
                "item_id": item,
                "score": float(scores[i]),
                "p_item": float(probs[i]),
            }
            if self.model.predicts_ratings and path == "model":
                row["rating"] = float(self.model.predict([user_id], [item])[0])
            out.append(row)
        return {"user_id": user_id, "served_by": path, "predictions": out}

    def interests(self, user_id: str, top: int = 10) -> dict[str, Any]:
        self.model._require("interests", "serve a transformer run for interest distributions")
        new = self.store.history(user_id)
        if new or not self.known_user(user_id):
            events = self.fitted_history(user_id) + new
            if not events:
                raise UnknownIdError(f"user id {user_id!r} is not known and has no events")
            result = self.model.interests(
                history=[e.item_id for e in events], top_items=top, top_categories=top
            )
        else:
            result = self.model.interests(user_id, top_items=top, top_categories=top)
        return {"user_id": user_id, **result.as_dict()}

    def similar(self, item_id: str, k: int = 10) -> dict[str, Any]:
        ids, scores = self.model.similar_items(item_id, k=k)
        keep = [j for j, s in enumerate(scores) if math.isfinite(s)]
        ids = [str(ids[j]) for j in keep]
        titles = self.model.titles(ids) if ids else []
        return {
            "item_id": item_id,
            "items": [
                {"item_id": i, "similarity": float(scores[j]), "title": t}
                for i, j, t in zip(ids, keep, titles, strict=True)
            ],
        }

    def add_events(self, events: list[Event]) -> int:
        self.check_items([e.item_id for e in events])
        return self.store.append(events)


def load_engine(run_dir: str | Path, store: EventStore, index: str = "auto") -> Engine:
    """The run in ``run_dir`` with its fitting data rebuilt from run.json."""
    from lmrec.evaluate.report import code_version
    from lmrec.runs import check_same_ids, load_run, rebuild_split

    model, run = load_run(run_dir)
    _, split = rebuild_split(run)
    fit_data = split.fit_data("test")
    check_same_ids(model, fit_data, run_dir)
    version = f"{run.model}@{Path(run_dir).name}:{code_version()['commit'][:7]}"
    return Engine(model, fit_data, store, str(run_dir), version, index)


__all__ = ["Engine", "load_engine"]
