"""How good a yes/no prediction is ("will this user buy this item?"): AUC, GAUC, LogLoss, ECE.

For candidates ``n`` with labels ``y_n ∈ {0, 1}``, scores ``s_n`` and probabilities
``p_n = σ(z_n / T)``:

- ``AUC``: the probability that a random positive outscores a random negative (ties count
  half), over all candidates pooled;
- ``GAUC``: the AUC within each user's candidates, averaged with weights = the user's number
  of candidates, over users that have both a positive and a negative (Zhou et al. 2018, DIN):
  it asks the question a ranking for one user asks, which the pooled AUC mixes with how
  active each user is;
- ``LogLoss = -(1/N) Σ y log p + (1 - y) log (1 - p)``;
- ``ECE = Σ_b (|B_b| / N) · |mean(y in B_b) - mean(p in B_b)|`` over equal-width probability
  bins; :func:`reliability` gives the bins for a reliability diagram.

:func:`fit_binary_temperature` picks the ``T`` that minimises validation LogLoss (temperature
scaling): probabilities change, the order of candidates never does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from lmrec.errors import ConfigError


def _labels(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ConfigError(f"labels {y.shape} and scores {s.shape} must be 1-D of one length")
    if not np.isin(y, (0, 1)).all():
        raise ConfigError("labels must be 0 or 1")
    return y.astype(np.int8), s


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN when the
    labels are all one class."""
    y, s = _labels(labels, scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks: a tie between a positive and a negative counts half
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gauc(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float:
    """Per-user AUC weighted by each user's number of candidates, over users with both
    classes; NaN when no user has both."""
    y, s = _labels(labels, scores)
    users = np.asarray(users)
    order = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(users[order][1:] != users[order][:-1]) + 1
    total, weight = 0.0, 0
    for group in np.split(order, bounds):
        value = auc(y[group], s[group])
        if not np.isnan(value):
            total += value * len(group)
            weight += len(group)
    return total / weight if weight else float("nan")


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def logloss(labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy; probabilities are clipped to [eps, 1 - eps]."""
    y, p = _labels(labels, probabilities)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass(frozen=True)
class Reliability:
    """Equal-width probability bins: mean predicted probability, observed positive rate and
    count per non-empty bin (the points of a reliability diagram)."""

    predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray

    @property
    def ece(self) -> float:
        n = self.counts.sum()
        return float((self.counts / n * np.abs(self.observed - self.predicted)).sum()) if n else 0.0


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> Reliability:
    y, p = _labels(labels, probabilities)
    if not ((p >= 0) & (p <= 1)).all():
        raise ConfigError("probabilities must be in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    keep = counts > 0
    predicted = np.bincount(which, weights=p, minlength=bins)[keep] / counts[keep]
    observed = np.bincount(which, weights=y, minlength=bins)[keep] / counts[keep]
    return Reliability(predicted, observed, counts[keep])


def binary_ece(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error over ``bins`` equal-width probability bins."""
    return reliability(labels, probabilities, bins).ece


def fit_binary_temperature(
    labels: np.ndarray, logits: np.ndarray, low: float = 0.05, high: float = 20.0
) -> float:
    """The temperature minimising LogLoss of σ(logits / T), by golden-section search over
    log T (the loss is unimodal in T for fixed logits)."""
    y, z = _labels(labels, logits)
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return logloss(y, sigmoid(z / np.exp(log_t)))

    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return float(np.exp((a + b) / 2))


def binary_metrics(
    users: np.ndarray, labels: np.ndarray, logits: np.ndarray, temperature: float = 1.0
) -> dict[str, float]:
    """``auc``, ``gauc``, ``logloss``, ``ece`` of logits calibrated at ``temperature``."""
    p = sigmoid(np.asarray(logits, dtype=np.float64) / temperature)
    return {
        "auc": auc(labels, logits),
        "gauc": gauc(users, labels, logits),
        "logloss": logloss(labels, p),
        "ece": binary_ece(labels, p),
    }


__all__ = [
    "Reliability",
    "auc",
    "binary_ece",
    "binary_metrics",
    "fit_binary_temperature",
    "gauc",
    "logloss",
    "reliability",
    "sigmoid",
]
