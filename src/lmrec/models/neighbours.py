"""Item-item models: scores are a user's history times an item × item weight matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.checks import check_float, check_int, check_state

#: Dense similarity entries computed at once while building the neighbour lists (~64 MB).
_BLOCK_ENTRIES = 1 << 24
#: EASE inverts in float32 when its condition-number bound is below this, else float64.
_FLOAT32_MAX_CONDITION = 1e4


def user_rows(model: Recommender, train: Dataset) -> sp.csr_matrix:
    """The user × item matrix an item-item model fits and scores with: binary, or the
    log-scaled event weights ``log2(1 + w)`` (:meth:`Dataset.matrix` ``"weight"``) when the
    data has a weight column (play counts); data without one keeps the binary matrix."""
    return train.matrix("weight") if train.has_weights else model.seen_


def _rows_state(model: Recommender) -> dict[str, np.ndarray]:
    """The weighted rows to save; nothing when they are the binary ``seen_`` (saved anyway)."""
    if model.rows_ is model.seen_:
        return {}
    rows = model.rows_.tocsr()
    return {"rows.indptr": rows.indptr, "rows.indices": rows.indices, "rows.data": rows.data}


def _load_rows(model: Recommender, arrays: dict[str, np.ndarray]) -> None:
    if "rows.data" not in arrays:
        model.rows_ = model.seen_
        return
    model.rows_ = sp.csr_matrix(
        (arrays["rows.data"], arrays["rows.indices"], arrays["rows.indptr"]),
        shape=model.seen_.shape,
    )


class ItemKNN(Recommender):
    r"""Item-based nearest neighbours: cosine similarity of items' user sets.

    .. math::
        s_{ij} = \frac{|U_i \cap U_j|}{\sqrt{|U_i|}\,\sqrt{|U_j|} + \lambda}, \qquad
        \hat{r}_{uj} = \sum_{i \in I_u,\; j \in N^k(i)} s_{ij}

    :math:`U_i` is the set of users who interacted with item :math:`i` (the binary matrix;
    with a weight column, the cosine of the log-scaled weight columns
    :math:`\log_2(1 + w_{ui})`, and a user's items weigh by the same value),
    :math:`I_u` the items of user :math:`u`, :math:`N^k(i)` the ``k`` items most similar to
    :math:`i` (itself excluded) and :math:`\lambda` the ``shrink`` term, which damps
    similarities resting on few co-occurrences.

    Fast, sparse and explainable ("because you liked i"); a strong baseline on sparse
    catalogues such as Amazon data. Memory is ``n_items × k`` similarities.
    """

    model_type = "itemknn"
    capabilities = frozenset({"score_histories"})

    def __init__(self, k: int = 100, shrink: float = 0.0) -> None:
        self.k = k
        self.shrink = shrink

    def _validate_params(self) -> None:
        check_int(self, "k", low=1)
        check_float(self, "shrink", low=0.0)

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        x = self.rows_ = user_rows(self, train)  # binary unless the data has weights
        n_items = x.shape[1]
        by_item = x.T.tocsr()
        squares = by_item.multiply(by_item).sum(axis=1)  # |U_i| for the binary matrix
        norms = np.sqrt(np.asarray(squares, dtype=np.float64).ravel())
        norms[norms == 0] = 1.0  # items without users: their co-counts are 0 anyway
        k = min(self.k, n_items - 1)
        rows, cols, vals = [], [], []
        block = max(1, _BLOCK_ENTRIES // max(n_items, 1))
        for lo in range(0, n_items, block):
            hi = min(lo + block, n_items)
            co = (by_item[lo:hi] @ x).toarray().astype(np.float64)  # (block, n_items) co-counts
            sim = co / (norms[lo:hi, None] * norms[None, :] + self.shrink)
            sim[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
            if k < 1:  # a one-item catalogue has no neighbours
                continue
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k]  # k < n_items always
            top_vals = np.take_along_axis(sim, top, axis=1)
            keep = top_vals > 0
            rows.append(np.broadcast_to(np.arange(lo, hi)[:, None], top.shape)[keep])
            cols.append(top[keep])
            vals.append(top_vals[keep].astype(np.float32))
        if rows:
            r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        else:
            r = c = np.empty(0, dtype=np.int64)
            v = np.empty(0, dtype=np.float32)
        self.similarity_ = sp.csr_matrix((v, (r, c)), shape=(n_items, n_items), dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.rows_[users] @ self.similarity_).toarray()

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        """:math:`x S` for each history's binary item row :math:`x` (repeats count once):
        exactly the scores of a known user with those items."""
        x = self._history_matrix(indices)
        return np.asarray((x @ self.similarity_).toarray(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {
            "similarity.indptr": s.indptr.astype(np.int64),
            "similarity.indices": s.indices.astype(np.int64),
            "similarity.data": s.data.astype(np.float32),
            **_rows_state(self),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        names = ["similarity.indptr", "similarity.indices", "similarity.data"]
        check_state(self, arrays, names)
        indptr, indices, data = (arrays[n] for n in names)
        n = self.idmap_.n_items
        self.similarity_ = sp.csr_matrix((data, indices, indptr), shape=(n, n))
        _load_rows(self, arrays)


class EASE(Recommender):
    r"""Embarrassingly Shallow Autoencoder (Steck, 2019): a closed-form item-item regression.

    .. math::
        P = (X^\top X + \lambda I)^{-1}, \qquad
        B = I - P \,\mathrm{diag}(1 / \mathrm{diag}(P)), \qquad
        \hat{r}_{uj} = \sum_{i \in I_u} B_{ij}

    :math:`X` is the binary user × item matrix (with a weight column such as play counts:
    the log-scaled weights :math:`\log_2(1 + w_{ui})`, in fitting and scoring alike) and
    :math:`\lambda` the ``l2`` penalty;
    :math:`B` solves :math:`\min_B \|X - XB\|^2 + \lambda\|B\|^2` with :math:`\mathrm{diag}(B)
    = 0`, so an item never predicts itself.

    Often the strongest simple baseline on dense data (MovieLens) and usually better than
    ItemKNN; tune ``l2`` on validation (50–1000 is common). Fitting inverts a dense
    ``n_items × n_items`` matrix (float32 when well conditioned, else float64): n³ work
    and three such matrices in memory at the peak, so it refuses catalogues larger than
    ``max_items`` (Beauty's 12k items: about a minute and 2 GB on two cores).
    """

    model_type = "ease"
    capabilities = frozenset({"score_histories"})

    def __init__(self, l2: float = 100.0, max_items: int = 30_000) -> None:
        self.l2 = l2
        self.max_items = max_items

    def _validate_params(self) -> None:
        check_float(self, "l2", low=0.0, low_open=True)
        check_int(self, "max_items", low=1)

    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        n_items = train.n_items
        if n_items > self.max_items:
            gb = 3 * 4 * n_items**2 / 1e9
            raise ConfigError(
                f"EASE on {train.name!r} needs a dense {n_items:,} × {n_items:,} inverse "
                f"(about {gb:.0f} GB), more than max_items={self.max_items:,} allows; "
                "filter the catalogue (e.g. a k-core), raise max_items if you have the memory, "
                "or use a sparse model (itemknn, als, bpr)"
            )
        x = self.rows_ = user_rows(self, train)  # binary unless the data has weights
        co = (x.T @ x).toarray()  # float32 co-counts: exact below 2^24
        # cond(XᵀX + λI) <= (max row sum + λ) / λ (Gershgorin). Below 1e4, float32 keeps
        # B accurate to ~1e-4 relative (Beauty: 2e-7 absolute, identical metrics) at half
        # the memory and ~1.5x the speed; above it, invert in float64.
        bound = (float(co.sum(axis=1, dtype=np.float64).max()) + self.l2) / self.l2
        import torch  # imported here: torch takes seconds to import and only EASE needs it

        dtype = torch.float32 if bound < _FLOAT32_MAX_CONDITION else torch.float64
        gram = torch.from_numpy(co).to(dtype)
        del co
        gram.diagonal().add_(float(self.l2))
        # XᵀX + λI is symmetric positive definite: a Cholesky inverse costs about half a
        # general (LU) one.
        p = torch.cholesky_inverse(torch.linalg.cholesky(gram))
        del gram
        b = p.div_(-p.diagonal().clone())  # B_ij = -P_ij / P_jj off the diagonal
        b.diagonal().zero_()
        # LAPACK hands back column-major memory; scoring wants rows of B contiguous.
        self.weights_ = np.ascontiguousarray(b.numpy(), dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.rows_[users] @ self.weights_)

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        """:math:`x B` for each history's binary item row :math:`x` (repeats count once):
        exactly the scores of a known user with those items."""
        x = self._history_matrix(indices)
        return np.asarray(x @ self.weights_, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, **_rows_state(self)}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        check_state(self, arrays, ["weights"])
        self.weights_ = arrays["weights"]
        _load_rows(self, arrays)
