"""Content baseline: recommend items whose text is like the text of what the user had.

    score(u, i) = cos(p_u, z_i),   p_u = mean of z_j over the items j in u's history

``z`` are the bundled sentence encoder's embeddings of each item's text (title, genres,
tags, attributes and the reviews in the fitting data: :func:`lmrec.text.item_text.
encode_items`, the same text the Transformer's fusion reads). It needs no interaction with
an item to score it, so it is the floor a model must beat on new items in the full
catalogue (``cold-item-full``, :mod:`lmrec.evaluate.cold_start`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.checks import check_state
from lmrec.text.neighbours import unit_rows


class ContentKNN(Recommender):
    """Text similarity between a candidate and the user's history (see the module docstring).

    Parameters: ``text_model`` (a local sentence-transformers directory; default the bundled
    all-MiniLM-L6-v2) and ``text_cache_dir`` (where item embeddings are cached).
    """

    model_type = "content"
    capabilities = frozenset({"score_histories"})

    def __init__(self, text_model: str | None = None, text_cache_dir: str | None = None) -> None:
        self.text_model = text_model
        self.text_cache_dir = text_cache_dir

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        from lmrec.text.item_text import encode_items

        z = encode_items(
            train,
            reviews=train.interactions,
            text_model=self.text_model,
            cache_dir=self.text_cache_dir,
            progress=False,
        )
        if not np.any(z):
            raise ConfigError(
                f"{train.name}: no item has any text (title, categories, text or reviews); "
                "the content model recommends by text"
            )
        self.item_vectors_ = unit_rows(z)

    def _profiles(self, rows: sp.csr_matrix) -> np.ndarray:
        """Unit mean text vector of each row's items (zero for an empty row)."""
        return unit_rows(np.asarray(rows @ self.item_vectors_))

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._profiles(self.seen_[users]) @ self.item_vectors_.T

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        """The profile of each history's distinct items: a known user's history scores as
        that user."""
        return self._profiles(self._history_matrix(indices)) @ self.item_vectors_.T

    def _item_vectors(self) -> np.ndarray | None:
        return self.item_vectors_

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_vectors": self.item_vectors_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        check_state(self, arrays, ["item_vectors"])
        self.item_vectors_ = arrays["item_vectors"]


__all__ = ["ContentKNN"]
