"""Nearest items by text: unit vectors and softmax-weighted text neighbours.

One place for the cosine arithmetic that places an item among others by what its text says
(the service's registered items, an update's new items, the content baseline, list
diversity), kept free of torch so light modules can use it.
"""

from __future__ import annotations

import numpy as np

#: Catalogue neighbours a new item's text places it among, and the softmax temperature of
#: their cosine similarities (the nearest few dominate).
NEIGHBOURS = 10
TEMPERATURE = 0.05


def text_neighbours(
    vectors: np.ndarray, catalogue: np.ndarray, m: int = NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, weights)``, each (n_new, m): the ``m`` catalogue rows nearest to each of
    ``vectors`` by cosine, with softmax(cos / TEMPERATURE) weights. Zero catalogue rows
    (items without text) are never neighbours."""
    unit = unit_rows(vectors)
    cat = unit_rows(catalogue)
    m = min(m, int(cat.any(axis=1).sum()))
    if m == 0:
        raise ValueError("no catalogue item has text to place new items by")
    sims = unit @ cat.T  # (n_new, n_items)
    sims[:, ~cat.any(axis=1)] = -np.inf
    top = np.argpartition(-sims, m - 1, axis=1)[:, :m]
    top_sims = np.take_along_axis(sims, top, axis=1)
    z = (top_sims - top_sims.max(axis=1, keepdims=True)) / TEMPERATURE
    w = np.exp(z)
    w /= w.sum(axis=1, keepdims=True)
    return top.astype(np.int64), w.astype(np.float32)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


__all__ = ["NEIGHBOURS", "TEMPERATURE", "text_neighbours", "unit_rows"]
