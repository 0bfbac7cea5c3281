"""How sure a benchmark number is: intervals over seeds and paired tests between models.

Two sources of doubt, measured separately:

- **seed variance** (:func:`mean_ci`): the same model, data and split fitted with seeds
  0..n-1 gives n test scores; their mean carries a Student-t 95% interval;
- **user sampling** (:func:`paired_test`): two models scored on the same test users differ
  user by user; the paired t-test and a paired bootstrap ask whether the mean difference
  could be noise from which users happened to be tested.

Plain functions over numpy arrays; no model or data set is needed to test them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmrec.errors import ConfigError

#: Two-sided significance level used for marks in tables.
ALPHA = 0.05


@dataclass(frozen=True)
class MeanCI:
    """Mean over seeds with the half-width of its confidence interval.

    ``half_width`` is NaN and ``single`` is True when there was one value: one seed says
    nothing about seed variance.
    """

    mean: float
    half_width: float
    n: int
    single: bool

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> MeanCI:
    r"""Mean of ``values`` and the Student-t interval half-width.

    .. math::

        \bar x = \frac1n \sum_i x_i, \qquad
        s = \sqrt{\frac{1}{n-1}\sum_i (x_i - \bar x)^2}, \qquad
        h = t_{(1+c)/2,\; n-1} \cdot \frac{s}{\sqrt n}

    for confidence ``c`` (0.95 → the 97.5% quantile of Student's t with n − 1 degrees of
    freedom). With n = 1, ``h`` is NaN and ``single`` is True.
    """
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64).ravel()
    if len(x) == 0:
        raise ConfigError("mean_ci needs at least one value, got none")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(x.mean())
    if len(x) == 1:
        return MeanCI(mean, math.nan, 1, True)
    s = float(x.std(ddof=1))
    h = float(t.ppf((1 + confidence) / 2, len(x) - 1)) * s / math.sqrt(len(x))
    return MeanCI(mean, h, len(x), False)


@dataclass(frozen=True)
class PairedTest:
    """Model A minus model B on the same users: mean difference, its interval, the p-value."""

    difference: float  # mean over users of a_u - b_u
    ci_low: float  # paired bootstrap percentile interval of the mean difference
    ci_high: float
    p_value: float  # two-sided paired t-test
    n_users: int

    def significant(self, alpha: float = ALPHA) -> bool:
        """p < ``alpha`` and the bootstrap interval excludes 0 (both must agree)."""
        return self.p_value < alpha and (self.ci_low > 0 or self.ci_high < 0)

    def as_dict(self) -> dict[str, float | int | bool]:
        return {
            "difference": self.difference,
            "ci95": [self.ci_low, self.ci_high],
            "p_value": self.p_value,
            "n_users": self.n_users,
            "significant": self.significant(),
        }


def paired_t_pvalue(differences: np.ndarray) -> float:
    r"""Two-sided p-value of the paired t-test on per-user differences :math:`d_u`.

    .. math::

        T = \frac{\bar d}{s_d / \sqrt n}, \qquad p = 2 \, P(T_{n-1} > |T|)

    (as ``scipy.stats.ttest_rel``). Degenerate cases are defined, not NaN: all differences
    zero → p = 1 (no evidence of a difference); a constant non-zero difference → p = 0.
    """
    from scipy.stats import t

    d = np.asarray(differences, dtype=np.float64).ravel()
    n = len(d)
    if n < 2:
        raise ConfigError(f"a paired test needs at least 2 users, got {n}")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0 or not np.isfinite(sd):
        return 1.0 if mean == 0.0 else 0.0
    stat = mean / (sd / math.sqrt(n))
    return float(min(1.0, 2 * t.sf(abs(stat), n - 1)))


def bootstrap_ci(
    differences: np.ndarray, *, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    r"""Percentile interval of the mean of ``differences`` from a paired bootstrap.

    Users are resampled with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``,
    so the interval is reproducible); the interval is the
    :math:`(1-c)/2` and :math:`(1+c)/2` quantiles of the resampled means.
    """
    d = np.asarray(differences, dtype=np.float64).ravel()
    if len(d) == 0:
        raise ConfigError("bootstrap_ci needs at least one difference")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    block = max(1, 2_000_000 // len(d))  # bounded memory: block × n_users indices at once
    for lo in range(0, n_boot, block):
        hi = min(n_boot, lo + block)
        idx = rng.integers(0, len(d), size=(hi - lo, len(d)))
        means[lo:hi] = d[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedTest:
    r"""Compare model A with model B on the same users.

    ``a`` and ``b`` are per-user scores (say NDCG@10), in the same user order; 2-D arrays
    (seeds × users) are first averaged over seeds, so each user contributes one paired
    difference :math:`d_u = \bar a_u - \bar b_u`. Returns the mean difference, its paired
    bootstrap interval (:func:`bootstrap_ci`) and the paired t-test p-value
    (:func:`paired_t_pvalue`).
    """
    a, b = per_user_mean(a), per_user_mean(b)
    if a.shape != b.shape:
        raise ConfigError(
            f"paired test needs the same users in both: got {len(a)} and {len(b)} users"
        )
    d = a - b
    low, high = bootstrap_ci(d, n_boot=n_boot, seed=seed, confidence=confidence)
    return PairedTest(float(d.mean()), low, high, paired_t_pvalue(d), len(d))


def per_user_mean(scores: np.ndarray) -> np.ndarray:
    """Per-user scores averaged over seeds: (seeds × users) → (users,); 1-D stays as is."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 2:
        return x.mean(axis=0)
    if x.ndim == 1:
        return x
    raise ConfigError(f"per-user scores must be 1-D or seeds × users, got shape {x.shape}")


def significance_mark(test: PairedTest | None, alpha: float = ALPHA) -> str:
    """ "" when the difference is significant at ``alpha``, "n.s." when not, "–" without a
    test (say, a single-seed record that earns no claim)."""
    if test is None:
        return "–"
    return "" if test.significant(alpha) else "n.s."


__all__ = [
    "ALPHA",
    "MeanCI",
    "PairedTest",
    "bootstrap_ci",
    "mean_ci",
    "paired_t_pvalue",
    "paired_test",
    "per_user_mean",
    "significance_mark",
]
