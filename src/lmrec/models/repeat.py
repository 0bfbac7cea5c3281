"""Repeat baseline: recommend what the user already had, by recency and frequency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from lmrec.data.schema import Dataset
from lmrec.models.base import Recommender
from lmrec.models.checks import check_float, check_state


class RepeatBaseline(Recommender):
    r"""Score a user's own items by how recently and how often they had them.

    .. math::
        \hat{r}_{ui} =
        \begin{cases}
        1 + \beta\, \gamma^{a_{ui}} + (1 - \beta)\, n_{ui} / n_u & \text{if } n_{ui} > 0 \\
        |U_i| \,/\, (1 + \max_j |U_j|) & \text{otherwise}
        \end{cases}

    :math:`n_{ui}` is how many of user :math:`u`'s :math:`n_u` events are item :math:`i`,
    :math:`a_{ui}` how many events ago :math:`u` last had :math:`i` (0 = the latest event),
    :math:`\gamma` the ``decay`` per event and :math:`\beta` the ``blend`` of recency and
    frequency (1: recency only, 0: frequency only). Every item the user had (scores in
    (1, 2]) ranks above every item they never had; those follow in popularity order
    (:math:`|U_i|` distinct users, scores in [0, 1)), so a full ranking is well defined and
    ties only fall among items nobody had.

    The baseline for repeat consumption: under ``--protocol repeats`` it shows how much of a
    model's score repetition alone earns. Under ``--protocol new-items`` (seen items excluded)
    it is plain popularity, which is the point. Recency follows the data's event order
    (:attr:`lmrec.data.schema.Dataset.time_order`); on data without time order use
    ``blend=0``. Each event counts once (event weights are not used).
    """

    model_type = "repeat"
    capabilities = frozenset({"score_histories"})

    def __init__(self, blend: float = 0.5, decay: float = 0.9) -> None:
        self.blend = blend
        self.decay = decay

    def _validate_params(self) -> None:
        check_float(self, "blend", low=0.0, high=1.0)
        check_float(self, "decay", low=0.0, high=1.0, low_open=True)

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        users = np.asarray(self.seen_.sum(axis=0), dtype=np.float64).ravel()
        self.popularity_ = (users / (1.0 + users.max(initial=0.0))).astype(np.float32)
        self.own_ = self._own_scores(train.sequences())

    def _own_scores(self, sequences: Sequence[np.ndarray]) -> sp.csr_matrix:
        """One sparse row per sequence: the own-item scores of the class formula."""
        indptr, indices, data = [0], [], []
        for seq in sequences:
            seq = np.asarray(seq, dtype=np.int64)
            # In the reversed sequence the first occurrence of an item is its age.
            items, age, count = np.unique(seq[::-1], return_index=True, return_counts=True)
            own = 1.0 + self.blend * self.decay**age + (1.0 - self.blend) * count / max(1, len(seq))
            indices.append(items)
            data.append(own)
            indptr.append(indptr[-1] + len(items))
        n_items = self.idmap_.n_items
        return sp.csr_matrix(
            (
                np.concatenate(data).astype(np.float32) if data else np.zeros(0, np.float32),
                np.concatenate(indices) if indices else np.zeros(0, np.int64),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(sequences), n_items),
        )

    def _with_own(self, own: sp.csr_matrix) -> np.ndarray:
        scores = np.tile(self.popularity_, (own.shape[0], 1))
        coo = own.tocoo()
        scores[coo.row, coo.col] = coo.data
        return scores

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self._with_own(self.own_[users])

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        """Scores after raw histories, oldest first (the order decides recency;
        ``behaviours`` and ``timestamps`` are not used)."""
        return self._with_own(self._own_scores(indices))

    def _state(self) -> dict[str, np.ndarray]:
        own = self.own_.tocsr()
        return {
            "popularity": self.popularity_,
            "own.indptr": own.indptr.astype(np.int64),
            "own.indices": own.indices.astype(np.int64),
            "own.data": own.data.astype(np.float32),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        check_state(self, arrays, ["popularity", "own.indptr", "own.indices", "own.data"])
        self.popularity_ = arrays["popularity"]
        n_users = len(arrays["own.indptr"]) - 1
        self.own_ = sp.csr_matrix(
            (arrays["own.data"], arrays["own.indices"], arrays["own.indptr"]),
            shape=(n_users, len(self.popularity_)),
        )
