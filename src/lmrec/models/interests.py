"""A user's interest distribution, from item probabilities to categories.

    p(c | history) = Σ_i p(i | history) · w(i, c),   w(i, c) = 1 / |C(i)| if c ∈ C(i) else 0

Each item's probability mass is split equally over its categories (genres, attributes), so
the category distribution sums to one; items with no category put their mass on
``UNCATEGORISED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

UNCATEGORISED = "(uncategorised)"


def category_matrix(item_categories: Sequence[Sequence[str]]) -> tuple[list[str], sp.csr_matrix]:
    """Category names and the items × categories weight matrix ``w`` (rows sum to 1)."""
    names = sorted({c for cats in item_categories for c in cats})
    if any(len(c) == 0 for c in item_categories):
        names.append(UNCATEGORISED)
    pos = {c: j for j, c in enumerate(names)}
    rows, cols, vals = [], [], []
    for i, cats in enumerate(item_categories):
        cats = list(dict.fromkeys(cats)) or [UNCATEGORISED]
        for c in cats:
            rows.append(i)
            cols.append(pos[c])
            vals.append(1.0 / len(cats))
    w = sp.csr_matrix((vals, (rows, cols)), shape=(len(item_categories), len(names)))
    return names, w


@dataclass(frozen=True)
class Interests:
    """What a model believes a user will want next, as inspectable distributions."""

    item_ids: np.ndarray  # top items, most probable first
    item_probs: np.ndarray
    categories: list[str]  # top categories, most probable first
    category_probs: np.ndarray
    temperature: float

    def as_dict(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "items": [
                {"item_id": str(i), "p": float(p)}
                for i, p in zip(self.item_ids, self.item_probs, strict=True)
            ],
            "categories": [
                {"category": c, "p": float(p)}
                for c, p in zip(self.categories, self.category_probs, strict=True)
            ],
        }


def summarise(
    item_probs: np.ndarray,
    item_ids: np.ndarray,
    names: list[str],
    w: sp.csr_matrix,
    temperature: float,
    top_items: int = 10,
    top_categories: int = 10,
) -> Interests:
    """Top items and categories of one user's full item distribution ``item_probs`` (n_items,)."""
    cat = np.asarray(w.T @ item_probs).ravel()
    it = np.argsort(-item_probs, kind="stable")[:top_items]
    ct = np.argsort(-cat, kind="stable")[:top_categories]
    return Interests(
        item_ids=item_ids[it],
        item_probs=item_probs[it],
        categories=[names[j] for j in ct],
        category_probs=cat[ct],
        temperature=temperature,
    )
