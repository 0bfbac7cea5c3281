"""Ranking and rating metrics as pure numpy functions.

Notation: a user ``u`` has a set of held-out relevant items ``R_u``; the model ranks the
candidate items (all items, minus those ``u`` saw in the fitting data) by score.

Ranking metrics are computed from each relevant item's *position* in that list, 0-based.
Items that tie in score are counted at their **expected** position under a uniformly random
order of the tie: a target with ``a`` candidates strictly above it and ``t`` candidates
(itself included) at its exact score sits at each of ``a .. a+t-1`` with probability ``1/t``.
So a model that scores everything 0 gets the metrics of a random ranking, not of the
item-id order. Functions take ``above`` (int array) and ``ties`` (int array, >= 1), one
entry per relevant item.

Per-target quantities, with ``p`` the position and ``K`` the cut-off:

- hit:               ``P(p < K)``
- discounted gain:   ``E[1{p < K} / log2(p + 2)]``
- reciprocal rank:   ``E[1 / (p + 1)]``

Per-user metrics (averaged over users by :func:`aggregate`):

- ``HR@K``         = 1 if any relevant item is in the top K (single target: exactly its hit)
- ``Recall@K``     = Σ hits / |R_u|
- ``Precision@K``  = Σ hits / K
- ``F1@K``         = 2·P·R / (P + R)
- ``NDCG@K``       = Σ discounted gains / IDCG,  IDCG = Σ_{i < min(|R_u|, K)} 1 / log2(i + 2)
- ``MRR@K``        = E[1/(p+1) · 1{p < K}] of the best-placed relevant item
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_KS: tuple[int, ...] = (5, 10, 20)


def _check(above: np.ndarray, ties: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    above = np.asarray(above, dtype=np.int64)
    ties = np.asarray(ties, dtype=np.int64)
    if above.shape != ties.shape:
        raise ValueError(f"above and ties must have one shape, got {above.shape} and {ties.shape}")
    if above.size == 0:
        raise ValueError("metrics need at least one relevant item")
    if (ties < 1).any() or (above < 0).any():
        raise ValueError("ties must be >= 1 (the item itself) and above >= 0")
    return above, ties


def expected_hit(above: np.ndarray, ties: np.ndarray, k: int) -> np.ndarray:
    """``P(p < k)`` for each target: the share of its tie group that falls inside the top k."""
    above, ties = _check(above, ties)
    return np.clip((k - above) / ties, 0.0, 1.0)


def _cumulative(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(values)])


def expected_gain(above: np.ndarray, ties: np.ndarray, k: int) -> np.ndarray:
    """``E[1{p < k} / log2(p + 2)]`` for each target."""
    above, ties = _check(above, ties)
    table = _cumulative(1.0 / np.log2(np.arange(k) + 2.0))  # table[j] = Σ_{p<j} 1/log2(p+2)
    lo = np.minimum(above, k)
    hi = np.minimum(above + ties, k)
    return (table[hi] - table[lo]) / ties


def expected_reciprocal_rank(
    above: np.ndarray, ties: np.ndarray, k: int | None = None
) -> np.ndarray:
    """``E[1{p < k} / (p + 1)]`` for each target (no cut-off when ``k`` is None)."""
    above, ties = _check(above, ties)
    limit = int((above + ties).max()) if k is None else k
    table = _cumulative(1.0 / (np.arange(limit) + 1.0))
    lo = np.minimum(above, limit)
    hi = np.minimum(above + ties, limit)
    return (table[hi] - table[lo]) / ties


def idcg(n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Ideal DCG at k for users with ``n_relevant`` relevant items each."""
    table = _cumulative(1.0 / np.log2(np.arange(k) + 2.0))
    return table[np.minimum(np.asarray(n_relevant, dtype=np.int64), k)]


def per_user_metrics(
    above: np.ndarray,
    ties: np.ndarray,
    user: np.ndarray,
    n_users: int,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, np.ndarray]:
    """Per-user metric arrays (length ``n_users``) from per-target ``above``/``ties``.

    ``user`` gives, for each target, its user's position ``0..n_users-1``; every user
    must have at least one target.
    """
    above, ties = _check(above, ties)
    user = np.asarray(user, dtype=np.int64)
    n_rel = np.bincount(user, minlength=n_users).astype(np.float64)
    if (n_rel == 0).any():
        raise ValueError("every user needs at least one relevant item")
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hits = np.bincount(user, weights=expected_hit(above, ties, k), minlength=n_users)
        gains = np.bincount(user, weights=expected_gain(above, ties, k), minlength=n_users)
        rr = np.zeros(n_users)
        np.maximum.at(rr, user, expected_reciprocal_rank(above, ties, k))
        recall = hits / n_rel
        precision = hits / k
        denom = precision + recall
        out[f"hr@{k}"] = np.minimum(hits, 1.0)
        out[f"recall@{k}"] = recall
        out[f"precision@{k}"] = precision
        out[f"f1@{k}"] = np.divide(
            2 * precision * recall, denom, out=np.zeros(n_users), where=denom > 0
        )
        out[f"ndcg@{k}"] = gains / idcg(n_rel, k)
        out[f"mrr@{k}"] = rr
    return out


def aggregate(per_user: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean over users of each per-user metric."""
    return {name: float(np.mean(values)) for name, values in per_user.items()}


def coverage(top_items: np.ndarray, n_items: int) -> float:
    """Item coverage: the share of the catalogue that appears in at least one top-k list."""
    top_items = np.asarray(top_items)
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    return float(np.unique(top_items[top_items >= 0]).size / n_items)


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error: sqrt(mean((r̂ - r)²))."""
    predicted, actual = _pair(predicted, actual)
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error: mean(|r̂ - r|)."""
    predicted, actual = _pair(predicted, actual)
    return float(np.mean(np.abs(predicted - actual)))


def _pair(predicted: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.asarray(predicted, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if predicted.shape != actual.shape:
        raise ValueError(f"shapes differ: {predicted.shape} vs {actual.shape}")
    if predicted.size == 0:
        raise ValueError("rating metrics need at least one prediction")
    return predicted, actual
