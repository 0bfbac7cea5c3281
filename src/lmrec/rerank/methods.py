"""Diversity-aware re-ranking of one user's candidates: MMR, DPP and calibrated lists.

Each method takes a user's candidates (the model's top ``n``, most relevant first), their
relevance scores and what it needs to know about the items, and returns the positions of
``k`` candidates in list order. One knob, ``diversity`` in [0, 1], trades relevance for
diversity in every method: 0 keeps the model's order, larger values diversify more.
Relevance is min–max scaled to [0, 1] within the candidates first, so the knob means the
same for a model that outputs logits and one that outputs similarities.

- :func:`mmr` — maximal marginal relevance (Carbonell & Goldstein 1998): each next item
  maximises ``(1 - d)·rel(i) - d·max_{j in list} sim(i, j)``.
- :func:`dpp` — a determinantal point process with kernel ``L = diag(q)·S·diag(q)``,
  ``q_i = exp(a·rel_i)``, ``a = θ / (2(1 - θ))``, ``θ = 1 - d``, whose MAP list is found by
  Chen et al.'s (2018) fast greedy algorithm (incremental Cholesky, O(k²·n) per user).
  ``log det L_Y = 2a·Σ rel + log det S_Y``: relevance against volume (diversity) of the list.
- :func:`calibrated` — Steck's (2018) calibrated recommendations: each next item maximises
  ``(1 - d)·Σ_{j in list} rel(j) - d·KL(p || q̃(list))``, where ``p`` is the user's category
  mix and ``q̃`` the list's (mixed with ``p`` by α = 0.01, see
  :func:`lmrec.evaluate.diversity.kl_to_mix`).
"""

from __future__ import annotations

import numpy as np

from lmrec.errors import ConfigError
from lmrec.evaluate.diversity import CALIBRATION_ALPHA

#: Re-ranking methods by name.
METHODS: tuple[str, ...] = ("mmr", "dpp", "calibrated")


def check_knob(diversity: float) -> float:
    """``diversity`` as a float in [0, 1], or a :class:`ConfigError` naming the range."""
    try:
        value = float(diversity)
    except (TypeError, ValueError):
        raise ConfigError(f"diversity must be a number in [0, 1], got {diversity!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"diversity must be in [0, 1] (0 = model order), got {value}")
    return value


def check_list(n_candidates: int, k: int) -> None:
    """A list of ``k`` needs at least ``k`` candidates."""
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    if k > n_candidates:
        raise ConfigError(
            f"cannot re-rank {n_candidates} candidates into a list of {k}: "
            "ask for more candidates or a shorter list"
        )


def scaled(relevance: np.ndarray) -> np.ndarray:
    """Relevance min–max scaled to [0, 1] (all equal → all 1)."""
    r = np.asarray(relevance, dtype=np.float64)
    lo, hi = r.min(), r.max()
    return np.ones_like(r) if hi - lo <= 0 else (r - lo) / (hi - lo)


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, diversity: float) -> np.ndarray:
    """Positions of ``k`` candidates by maximal marginal relevance (``vectors`` unit rows)."""
    d = check_knob(diversity)
    check_list(len(relevance), k)
    rel = scaled(relevance)
    if d == 0.0:
        return np.argsort(-rel, kind="stable")[:k]
    sims = vectors @ vectors.T  # (n, n) cosine similarities
    chosen = [int(np.argmax(rel))]
    closest = sims[chosen[0]].astype(np.float64)  # max similarity to the list so far
    available = np.ones(len(rel), dtype=bool)
    available[chosen[0]] = False
    for _ in range(k - 1):
        gain = np.where(available, (1 - d) * rel - d * closest, -np.inf)
        j = int(np.argmax(gain))
        chosen.append(j)
        available[j] = False
        closest = np.maximum(closest, sims[j])
    return np.asarray(chosen)


def dpp(
    relevance: np.ndarray,
    vectors: np.ndarray,
    k: int,
    diversity: float,
    jitter: float = 1e-3,
) -> np.ndarray:
    """Positions of ``k`` candidates: the greedy MAP list of a relevance-weighted DPP.

    ``S = (1 - jitter)·V·Vᵀ + jitter·I`` keeps the kernel positive definite when items share
    a vector (same categories), so the greedy never runs out of volume; once it has, the
    remaining picks follow relevance.
    """
    d = check_knob(diversity)
    check_list(len(relevance), k)
    rel = scaled(relevance)
    if d == 0.0:
        return np.argsort(-rel, kind="stable")[:k]
    theta = 1.0 - d
    a = theta / (2.0 * (1.0 - theta)) if theta < 1.0 else 0.0
    q = np.exp(a * (rel - 1.0))  # scaled by exp(-a): the same MAP list, no overflow
    sims = (1.0 - jitter) * (vectors @ vectors.T).astype(np.float64)
    sims[np.diag_indices_from(sims)] = 1.0  # unit self-similarity, even for zero vectors
    kernel = q[:, None] * sims * q[None, :]
    n = len(rel)
    cis = np.zeros((k, n))
    gains = np.diag(kernel).copy()  # d_i² in Chen et al.: the marginal log-det gain
    chosen: list[int] = []
    for t in range(k):
        j = int(np.argmax(gains))
        if gains[j] <= 1e-12:
            break
        chosen.append(j)
        if t == k - 1:
            break
        e = (kernel[j] - cis[:t, j] @ cis[:t]) / np.sqrt(gains[j])
        cis[t] = e
        gains = gains - e * e
        gains[chosen] = -np.inf
    if len(chosen) < k:  # no volume left: fill by relevance
        rest = [i for i in np.argsort(-rel, kind="stable") if i not in set(chosen)]
        chosen += rest[: k - len(chosen)]
    return np.asarray(chosen)


def calibrated(
    relevance: np.ndarray,
    categories: np.ndarray,
    target: np.ndarray,
    k: int,
    diversity: float,
    alpha: float = CALIBRATION_ALPHA,
) -> np.ndarray:
    """Positions of ``k`` candidates whose category mix approaches ``target`` (Steck 2018).

    ``categories`` is (n, n_categories), each candidate's category weights (rows summing to
    1); ``target`` the user's category distribution p(c | u).
    """
    d = check_knob(diversity)
    check_list(len(relevance), k)
    rel = scaled(relevance)
    if d == 0.0 or not np.any(target):
        return np.argsort(-rel, kind="stable")[:k]
    # KL(p || q̃) = Σ p·log p − Σ p·log q̃ runs over the user's categories only (p > 0)
    used = np.flatnonzero(target > 0)
    w = np.asarray(categories[:, used], dtype=np.float64)
    p = np.asarray(target[used], dtype=np.float64)
    neg_entropy = float(p @ np.log(p))  # Σ p·log p: the same for every candidate
    mass = np.zeros(len(used))
    total_rel = 0.0
    available = np.ones(len(rel), dtype=bool)
    chosen: list[int] = []
    for t in range(k):
        # (n, C): the list's mix with each candidate added, mixed with p
        mixed = ((1 - alpha) / (t + 1)) * (mass[None, :] + w) + alpha * p[None, :]
        kl = neg_entropy - np.log(mixed) @ p
        objective = (1 - d) * (total_rel + rel) - d * kl
        objective[~available] = -np.inf
        j = int(np.argmax(objective))
        chosen.append(j)
        available[j] = False
        mass += w[j]
        total_rel += rel[j]
    return np.asarray(chosen)


__all__ = ["METHODS", "calibrated", "check_knob", "check_list", "dpp", "mmr", "scaled"]
