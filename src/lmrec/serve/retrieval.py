"""Candidate retrieval for the service: exact scoring, or a faiss index for large catalogues.

For a model whose score is an inner product ``score(u, i) = q_u · v_i`` (matrix
factorisation: ALS, BPR), top-k can come from an index over the item vectors instead of
scoring every item. :func:`build_index` picks exact scoring for catalogues up to
``threshold`` items and an HNSW graph (``faiss.IndexHNSWFlat``, inner product) above it;
``kind`` overrides the choice. Exact and HNSW answer the same query: the benchmark
(``benchmarks/retrieval.py``) measures HNSW's recall@10 against exact top-10 on Beauty.

Items a user already had are removed after the search, so the index is asked for
``k + len(seen)`` items (enough to return ``k`` after filtering).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lmrec.errors import ConfigError

#: Index kinds: ``auto`` (exact up to ``threshold`` items, else faiss), ``exact``, ``faiss``.
INDEX_KINDS: tuple[str, ...] = ("auto", "exact", "faiss")
#: Catalogue size above which ``auto`` builds a faiss index.
AUTO_THRESHOLD = 100_000


class ItemIndex(Protocol):
    kind: str

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) item indices and scores, best first, for (n, d) query vectors."""
        ...


@dataclass
class ExactIndex:
    """Every item scored: ``queries @ vectorsᵀ``, then the top k."""

    vectors: np.ndarray
    kind: str = "exact"

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.asarray(queries, dtype=np.float32) @ self.vectors.T
        k = min(k, scores.shape[1])
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1), np.take_along_axis(
            part_scores, order, axis=1
        )


class FaissIndex:
    """An HNSW graph over the item vectors with inner-product similarity."""

    kind = "faiss"

    def __init__(self, vectors: np.ndarray, m: int = 32, ef_search: int = 128):
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 200
        self.index.add(vectors)
        self.index.hnsw.efSearch = ef_search
        self.n_items = len(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.n_items)
        scores, idx = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return idx.astype(np.int64), scores


def build_index(
    vectors: np.ndarray, kind: str = "auto", threshold: int = AUTO_THRESHOLD
) -> ExactIndex | FaissIndex:
    """The index for item ``vectors`` (n_items, d): see the module docstring."""
    if kind not in INDEX_KINDS:
        raise ConfigError(f"index must be one of {', '.join(INDEX_KINDS)}, got {kind!r}")
    vectors = np.asarray(vectors, dtype=np.float32)
    if kind == "faiss" or (kind == "auto" and len(vectors) > threshold):
        return FaissIndex(vectors)
    return ExactIndex(vectors)


def factor_vectors(model: object) -> tuple[np.ndarray, np.ndarray] | None:
    """(user vectors, item vectors) of a model that scores by their inner product, or None."""
    users = getattr(model, "user_factors_", None)
    items = getattr(model, "item_factors_", None)
    if users is None or items is None:
        return None
    return np.asarray(users, dtype=np.float32), np.asarray(items, dtype=np.float32)


def recall_against_exact(
    index: ExactIndex | FaissIndex, exact: ExactIndex, queries: np.ndarray, k: int = 10
) -> float:
    """Mean share of the exact top-k that the index also returns."""
    got, _ = index.search(queries, k)
    want, _ = exact.search(queries, k)
    hits = [len(set(g.tolist()) & set(w.tolist())) for g, w in zip(got, want, strict=True)]
    return float(np.mean(hits)) / k


__all__ = [
    "AUTO_THRESHOLD",
    "INDEX_KINDS",
    "ExactIndex",
    "FaissIndex",
    "build_index",
    "factor_vectors",
    "recall_against_exact",
]
