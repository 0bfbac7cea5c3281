"""Items registered after the fit: placed in the catalogue through their text, no retraining.

Why this way: a model scores the items it was trained on, and retraining for each new item
is what platforms cannot afford. Every lmrec model, whatever its kind, gives a score to each
catalogue item, so a new item borrows the scores of the catalogue items whose text is
nearest to its own (bundled MiniLM embeddings of title, categories and text, cosine):

    score(new) = Σ_j w_j · score(j),   w = softmax(cos(new, j) / τ) over its top-m neighbours

It then competes in the full catalogue on the model's own scale: a new lipstick is ranked
like the lipsticks the user's model already likes. In a history, a new item stands for its
nearest catalogue item (the model's input vocabulary is fixed), and its similar items are
its text neighbours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from lmrec.errors import ConfigError
from lmrec.text.neighbours import NEIGHBOURS, text_neighbours


@dataclass(frozen=True)
class NewItem:
    """What a client registers: an id the catalogue does not have, and text to place it by."""

    item_id: str
    title: str = ""
    text: str = ""
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.item_id:
            raise ConfigError("a new item needs a non-empty item_id")
        if not (self.title.strip() or self.text.strip() or self.categories):
            raise ConfigError(
                f"item {self.item_id!r} has no title, text or categories: a new item is placed "
                "in the catalogue by its text, so give at least one"
            )

    @property
    def description(self) -> str:
        """The text that is embedded, built as the catalogue's item texts are."""
        parts = [self.title.strip(), ", ".join(self.categories), self.text.strip()]
        return ". ".join(p for p in parts if p)

    def categories_json(self) -> str:
        return json.dumps(list(self.categories))


@dataclass
class NewItemTable:
    """The registered items, with their text neighbours in the catalogue (rows follow
    registration order; column ``j`` of the scores is catalogue size + row)."""

    items: list[NewItem] = field(default_factory=list)
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    neighbours: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        return [i.item_id for i in self.items]

    def scores(self, catalogue_scores: np.ndarray) -> np.ndarray:
        """(n_new,) scores borrowed from the catalogue's (n_items,) scores."""
        if not len(self):
            return np.zeros(0, dtype=np.float32)
        borrowed = catalogue_scores[self.neighbours]
        # A neighbour masked out (-inf, e.g. seen) lends nothing; the rest renormalise.
        finite = np.isfinite(borrowed)
        w = np.where(finite, self.weights, 0.0)
        total = w.sum(axis=1)
        out = (np.where(finite, borrowed, 0.0) * w).sum(axis=1)
        return np.where(total > 0, out / np.maximum(total, 1e-12), -np.inf).astype(np.float32)


def place(items: list[NewItem], vectors: np.ndarray, catalogue: np.ndarray) -> NewItemTable:
    """Neighbours and weights of ``items`` (their unit ``vectors``) among the ``catalogue``'s
    unit text vectors (zero rows: items without text, never neighbours)."""
    top, w = text_neighbours(vectors, catalogue, NEIGHBOURS)
    return NewItemTable(list(items), vectors, top, w)
