"""What the service computes, without HTTP: a loaded run, its users' histories and events.

Three paths serve a recommendation, and every answer names the one it took:

- ``model``: a user the model was fitted on, with no new events: the model's own scores;
- ``history``: a raw history, or a user with events posted since (known or new): the model
  scores the history (fitted events + new ones) through ``score_histories``, no retraining;
- ``popularity``: a user the model never saw and who has no events yet.

Items registered after the fit (``POST /v1/items``, :mod:`lmrec.serve.new_items`) join the
catalogue through their text: their scores are borrowed from their text neighbours, so they
are ranked with every other item; the store keeps them, so every replica sees them.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from lmrec.data.schema import Dataset
from lmrec.errors import CapabilityError, ConfigError, UnknownIdError
from lmrec.evaluate.diversity import category_mix, history_distributions
from lmrec.models.base import Recommender, top_k
from lmrec.rerank import ListDiversity, rerank_candidates
from lmrec.serve.new_items import NewItem, NewItemTable, place
from lmrec.serve.retrieval import build_index, factor_vectors
from lmrec.serve.store import Event, EventStore
from lmrec.text.neighbours import unit_rows


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
    _new: NewItemTable = field(default_factory=NewItemTable)
    _catalogue_text: np.ndarray | None = None
    _multi: Any = None  # MultiInterestLists, built on the first request for several interests
    _spaces: dict[str, Any] = field(default_factory=dict)  # ItemSpace per name, on first use
    _space_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.model.prepare_for_serving()  # e.g. the Transformer's user states, once
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
        """Indices of ``item_ids`` in the catalogue extended by the registered new items
        (``n_items + row``); an unknown item is an :class:`UnknownIdError`."""
        new = {item: j for j, item in enumerate(self._new.ids)}
        if not new or not any(i in new for i in item_ids):
            return self.fit_data.idmap.item_index(item_ids)
        n = self.fit_data.n_items
        known = [i for i in item_ids if i not in new]
        idx = iter(self.fit_data.idmap.item_index(known) if known else [])
        return np.array([n + new[i] if i in new else next(idx) for i in item_ids], dtype=np.int64)

    def _model_items(self, item_ids: list[str]) -> list[str]:
        """A history the model can read: a new item stands for its nearest catalogue item."""
        idx = self.check_items(item_ids)
        n = self.fit_data.n_items
        items = self.fit_data.idmap.items
        if not len(self._new):
            return [str(items[i]) for i in idx]
        stand_in = self._new.neighbours[np.arange(len(self._new)), self._new.weights.argmax(1)]
        return [str(items[i]) if i < n else str(items[stand_in[i - n]]) for i in idx]

    # ------------------------------------------------------------ new items
    def sync_new_items(self) -> None:
        """Pick up items registered since the last request (by this or another replica)."""
        if self.store.item_count() == len(self._new):
            return
        with self._lock:
            items = self.store.new_items()
            if len(items) == len(self._new):
                return
            catalogue = self._catalogue_vectors()
            known = dict(zip(self._new.ids, self._new.vectors, strict=True))
            fresh = [i for i in items if i.item_id not in known]
            if fresh:
                from lmrec.text.item_text import encode_texts

                vecs = unit_rows(encode_texts([i.description for i in fresh], progress=False))
                known.update(zip((i.item_id for i in fresh), vecs, strict=True))
            vectors = np.stack([known[i.item_id] for i in items])
            self._new = place(items, vectors, catalogue)

    def _catalogue_vectors(self) -> np.ndarray:
        """Unit text embeddings of the catalogue (encoded once; cached on disk by the encoder)."""
        if self._catalogue_text is None:
            from lmrec.text.item_text import encode_items

            self._catalogue_text = unit_rows(encode_items(self.fit_data, progress=False))
        return self._catalogue_text

    def register_item(self, item: NewItem) -> dict[str, Any]:
        """Store ``item`` and place it in the catalogue by its text; its nearest catalogue
        items are returned so a client can see where it landed."""
        if self.known_item(item.item_id):
            raise ConfigError(f"item {item.item_id!r} is already in the catalogue")
        self.sync_new_items()
        self.store.add_item(item)
        self.sync_new_items()
        row = self._new.ids.index(item.item_id)
        order = np.argsort(-self._new.weights[row])
        near = self._new.neighbours[row][order]
        return {
            "item_id": item.item_id,
            "items_registered": len(self._new),
            "placed_near": self._rows(near[:5], self._new.weights[row][order][:5]),
        }

    def known_item(self, item_id: str) -> bool:
        try:
            self.fit_data.idmap.item_index([item_id])
            return True
        except UnknownIdError:
            return item_id in self._new.ids

    def _extend(self, scores: np.ndarray) -> np.ndarray:
        """Catalogue scores followed by the new items' borrowed scores."""
        if not len(self._new):
            return scores
        return np.concatenate([scores, self._new.scores(scores)])

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
        """(n_items + new items,) scores, the path that served them, and the history's item
        ids. The caller has synced the new items once for its request (recommend, predict)."""
        if history is not None:
            scores = self._extend(self._history_scores(history))
            return scores, "history", [e.item_id for e in history]
        assert user_id is not None
        new = self.store.history(user_id)
        known = self.known_user(user_id)
        if known and not new:
            (u,) = self.fit_data.idmap.user_index([user_id])
            return self._extend(self.model.score_indices(np.array([u]))[0]), "model", []
        if not known and not new:
            return self._extend(self._popular.copy()), "popularity", []
        events = self.fitted_history(user_id) + new
        return self._extend(self._history_scores(events)), "history", [e.item_id for e in events]

    def _history_scores(self, events: list[Event]) -> np.ndarray:
        if not events:
            raise ConfigError("the history is empty: give at least one event")
        if not self.model.supports("score_histories"):
            raise CapabilityError(
                f"{type(self.model).__name__} cannot score raw histories; serve a model that "
                "can (transformer, ease, itemknn, als, bpr)"
            )
        items = self._model_items([e.item_id for e in events])
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
        explain: bool = False,
        diversity: ListDiversity | None = None,
    ) -> dict[str, Any]:
        """Top ``k``; with ``explain`` each item also says which history events drove it
        (``because``: the 3 strongest by gradient × input; models with ``explain`` only);
        with ``diversity`` the list is re-ranked from the model's top candidates
        (:meth:`_diverse`)."""
        self.sync_new_items()
        if explain:
            self.model._require("explain", "serve a transformer run to explain recommendations")
        if diversity is not None and k > diversity.candidates:
            raise ConfigError(
                f"k={k} is longer than the {diversity.candidates} candidates to re-rank"
            )
        if (
            self._index is not None
            and history is None
            and not categories
            and user_id
            and not len(self._new)  # the index holds the fitted catalogue only
            and not explain
            and diversity is None
        ):
            indexed = self._indexed(user_id, k, exclude_seen)
            if indexed is not None:
                return indexed
        scores, path, seen_items = self.scores(user_id, history)
        scores = scores.astype(np.float32, copy=True)
        if exclude_seen:
            if path == "model":
                (u,) = self.fit_data.idmap.user_index([user_id])
                seen = self._seen  # CSR: row u's columns, without scipy's slow row slicing
                scores[seen.indices[seen.indptr[u] : seen.indptr[u + 1]]] = -np.inf
            elif seen_items:
                scores[self.check_items(seen_items)] = -np.inf
        if categories:
            wanted = set(categories)
            item_categories = self._categories + [set(i.categories) for i in self._new.items]
            outside = np.array([not (c & wanted) for c in item_categories])
            scores[outside] = -np.inf
        if diversity is None:
            idx, values = top_k(scores[None, :], k)
            keep = idx[0] >= 0
            chosen, chosen_scores = idx[0][keep], values[0][keep]
        else:
            chosen = self._diverse(scores, k, diversity, path, user_id, seen_items)
            chosen_scores = scores[chosen]
        items = self._rows(chosen, chosen_scores)
        if explain and path != "popularity":
            self._explain_rows(items, user_id if path == "model" else None, seen_items)
        out = {"served_by": path, "retrieval": "scores", "items": items}
        if diversity is not None:
            out["reranked"] = diversity.label
        return out

    def _diverse(
        self,
        scores: np.ndarray,
        k: int,
        diversity: ListDiversity,
        path: str,
        user_id: str | None,
        history_items: list[str],
    ) -> np.ndarray:
        """Item indices of a ``k``-list re-ranked from the top ``diversity.candidates`` of
        ``scores`` (seen and filtered items already at -inf), as ``lmrec diversity`` and
        :class:`~lmrec.rerank.Reranked` do. Items registered since the fit have no place
        in the item space yet, so they are left out of re-ranked lists. The calibrated
        method matches the category mix of the user's fitted history (model path) or of
        the history's catalogue items."""
        n = self.fit_data.n_items
        space = self._space(diversity)
        cand, values = top_k(scores[None, :n], min(diversity.candidates, n))
        ok = np.isfinite(values[0])
        items, relevance = cand[0][ok], values[0][ok]
        size = min(k, len(items))
        if size == 0:
            return np.zeros(0, dtype=np.int64)
        target = None
        if diversity.method == "calibrated" and path == "model":
            users = self.fit_data.idmap.user_index([user_id])
            target = history_distributions(self.fit_data, users, space)[0]
        elif diversity.method == "calibrated":
            had = [i for i in self.check_items(history_items) if i < n]
            target = category_mix(space, np.unique(np.asarray(had, dtype=np.int64)))
        with threadpool_limits(1, "blas"):  # 100 × 100 products: threads cost more
            return rerank_candidates(
                items,
                relevance,
                size,
                space,
                diversity.method,
                diversity.diversity,
                diversity.relevance,
                target,
            )

    def _space(self, diversity: ListDiversity) -> Any:
        """The fitted catalogue's item space for re-ranking (built on first use: "text"
        encodes every item once, from the disk cache when there is one)."""
        with self._space_lock:
            space = self._spaces.get(diversity.space)
            if space is None:
                from lmrec.evaluate.diversity import item_space

                space = item_space(self.fit_data, diversity.space)
                self._spaces[diversity.space] = space
        if diversity.method == "calibrated" and space.n_categories == 0:
            raise ConfigError(
                f"{self.fit_data.name}: no item has a category, so calibrated re-ranking has "
                "no category mix to match; use mmr or dpp"
            )
        return space

    def _explain_rows(
        self, rows: list[dict[str, Any]], user_id: str | None, history: list[str]
    ) -> None:
        """Add ``because`` to each catalogue item's row: its 3 strongest history events,
        each with its share and its split by source (item vector, behaviour, rating, review;
        in score units, see lmrec.models.explain)."""
        model_history = None if user_id is not None else self._model_items(history)
        new = set(self._new.ids)
        for row in rows:
            if row["item_id"] in new:
                continue  # a new item: its score is borrowed, not computed from the history
            why = self.model.explain(user_id, row["item_id"], history=model_history, top=3)
            titles = self.model.titles([a.item_id for a in why])
            row["because"] = [
                {
                    "item_id": a.item_id,
                    "title": t,
                    "share": round(a.share, 4),
                    "sources": {name: round(v, 4) for name, v in a.sources.items()},
                }
                for a, t in zip(why, titles, strict=True)
            ]

    def _rows(self, idx: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
        """Answer rows (id, score, title) for item indices (new items after the catalogue),
        best first."""
        n = self.fit_data.n_items
        old = [str(self.fit_data.idmap.items[i]) for i in idx if i < n]
        titles = iter(self.model.titles(old) if old else [])
        ids = iter(old)
        rows = []
        for i, score in zip(idx, scores, strict=True):
            if i < n:
                item_id, title = next(ids), next(titles)
            else:
                item = self._new.items[i - n]
                item_id, title = item.item_id, item.title
            rows.append({"item_id": item_id, "score": float(score), "title": title})
        return rows

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
        never saw; plus the rating (rating models) and P(buy) or P(like) (behaviour models)
        for a user the model was fitted on."""
        self.sync_new_items()
        scores, path, _ = self.scores(user_id, None)
        idx = self.check_items(item_ids)
        if path == "popularity":  # a user never seen: each item's share of all events
            probs = scores.astype(np.float64) / max(1.0, float(scores.sum()))
        else:
            t = float(getattr(self.model, "temperature_", 1.0))
            z = scores.astype(np.float64) / t
            z = z - z[np.isfinite(z)].max()
            probs = np.exp(z) / np.exp(z).sum()
        out = [
            {"item_id": item, "score": float(scores[i]), "p_item": float(probs[i])}
            for item, i in zip(item_ids, idx, strict=True)
        ]
        # Ratings and behaviour probabilities for the catalogue items of a fitted user, each
        # in one call for all of them.
        fitted = [j for j, i in enumerate(idx) if path == "model" and i < self.fit_data.n_items]
        heads = []
        if self.model.predicts_ratings:
            heads.append(("rating", self.model.predict))
        if self.model.supports("predict_behaviour"):
            kind = self.model.task_.kind  # type: ignore[attr-defined]
            heads.append((f"p_{kind}", self.model.predict_behaviour))
        for name, head in heads if fitted else []:
            values = head([user_id] * len(fitted), [item_ids[j] for j in fitted])
            for j, value in zip(fitted, values, strict=True):
                out[j][name] = float(value)
        return {"user_id": user_id, "served_by": path, "predictions": out}

    def interests(self, user_id: str, top: int = 10) -> dict[str, Any]:
        self.model._require("interests", "serve a transformer run for interest distributions")
        new = self.store.history(user_id)
        if new or not self.known_user(user_id):
            events = self.fitted_history(user_id) + new
            if not events:
                raise UnknownIdError(f"user id {user_id!r} is not known and has no events")
            self.sync_new_items()
            result = self.model.interests(
                history=self._model_items([e.item_id for e in events]),
                top_items=top,
                top_categories=top,
            )
        else:
            result = self.model.interests(user_id, top_items=top, top_categories=top)
        return {"user_id": user_id, **result.as_dict()}

    def multi_interests(self, user_id: str, top: int = 5) -> dict[str, Any]:
        """The user's several interests (k-means over the recent fitted history in category
        space, :class:`~lmrec.rerank.interests.MultiInterestLists`), heaviest first, each
        with its categories and the items the model gives that interest's history."""
        if not self.known_user(user_id):
            raise UnknownIdError(
                f"user id {user_id!r} is not in the fitted data; several interests are read "
                "from a fitted history"
            )
        if self._multi is None:
            from lmrec.evaluate.diversity import item_space
            from lmrec.rerank.interests import MultiInterestLists

            with self._lock:
                space = item_space(self.fit_data, "categories")
                self._multi = MultiInterestLists(self.model, self.fit_data, space, 0.5)
        found = self._multi.interests(user_id, top_items=top, top_categories=3)
        interests = []
        for interest in found:
            row = interest.as_dict()
            titles = self.model.titles([i["item_id"] for i in row["items"]])
            for item, title in zip(row["items"], titles, strict=True):
                item["title"] = title
            interests.append(row)
        return {"user_id": user_id, "interests": interests}

    def similar(self, item_id: str, k: int = 10) -> dict[str, Any]:
        self.sync_new_items()
        if item_id in self._new.ids:
            return self._similar_new(item_id, k)
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

    def _similar_new(self, item_id: str, k: int) -> dict[str, Any]:
        """A new item's nearest items by text: the catalogue and the other new items."""
        row = self._new.ids.index(item_id)
        sims = (
            np.concatenate([self._catalogue_vectors(), self._new.vectors]) @ self._new.vectors[row]
        )
        sims[self.fit_data.n_items + row] = -np.inf  # not itself
        idx, values = top_k(sims[None, :].astype(np.float32), k)
        keep = idx[0] >= 0
        rows = self._rows(idx[0][keep], values[0][keep])
        items = [
            {"item_id": r["item_id"], "similarity": r["score"], "title": r["title"]} for r in rows
        ]
        return {"item_id": item_id, "by": "text", "items": items}

    def add_events(self, events: list[Event]) -> int:
        self.sync_new_items()
        self.check_items([e.item_id for e in events])
        return self.store.append(events)


def load_engine(run_dir: str | Path, store: EventStore, index: str = "auto") -> Engine:
    """The run in ``run_dir`` with its fitting data rebuilt from run.json."""
    from lmrec.evaluate.report import code_version
    from lmrec.runs import fitted_data, load_run

    model, run = load_run(run_dir)
    fit_data = fitted_data(model, run, run_dir)
    version = f"{run.model}@{Path(run_dir).name}:{code_version()['commit'][:7]}"
    return Engine(model, fit_data, store, str(run_dir), version, index)


__all__ = ["Engine", "load_engine"]
