"""Most-popular baseline: the same ranking for everyone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmrec.data.schema import Dataset
from lmrec.models.base import Recommender
from lmrec.models.checks import check_state


class MostPopular(Recommender):
    r"""Rank items by the number of distinct users who interacted with them.

    .. math::
        \hat{r}_{ui} = |U_i|, \qquad U_i = \{u : u \text{ interacted with } i\}

    Every user gets the same list, minus what they have seen. Use it as the floor a
    personalised model must beat, and as the fallback for users without history.
    It has no hyper-parameters.
    """

    model_type = "popular"
    capabilities = frozenset({"score_histories"})

    def __init__(self) -> None:
        pass

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        # seen_ is the binary user × item matrix of train (set by Recommender.fit).
        self.popularity_ = np.asarray(self.seen_.sum(axis=0), dtype=np.float32).ravel()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity_, (len(users), 1))

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        """Popularity for each history: the row every known user gets."""
        return np.tile(self.popularity_, (len(indices), 1))

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        check_state(self, arrays, ["popularity"])
        self.popularity_ = arrays["popularity"]
