"""Random baseline: every user's ranking is a seeded shuffle of the catalogue."""

from __future__ import annotations

import numpy as np

from lmrec.data.schema import Dataset
from lmrec.models.base import Recommender
from lmrec.models.checks import check_int


class RandomRanking(Recommender):
    r"""Score each item by a uniform draw, fixed per (seed, user):

    .. math::
        \hat{r}_{ui} \sim U(0, 1) \text{ from a generator seeded by } (\text{seed}, u)

    The floor every metric is read against (RecBole's ``Random``, Surprise's
    ``NormalPredictor``): its NDCG@10 is chance, and its intra-list diversity, category
    coverage and catalogue coverage are what a list with no preference at all has. A
    diversity gain that takes a list past random lists is bought with relevance alone.
    The same user always gets the same list (re-scoring, saving and loading agree).
    """

    model_type = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _validate_params(self) -> None:
        check_int(self, "seed", low=0)

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        """Nothing to learn: the seen matrix and id map (set by ``fit``) are all it needs."""

    def _score(self, users: np.ndarray) -> np.ndarray:
        out = np.empty((len(users), self.idmap_.n_items), dtype=np.float32)
        for row, user in enumerate(users):
            out[row] = np.random.default_rng([self.seed, int(user)]).random(out.shape[1])
        return out
