"""Seed intervals and paired tests (lmrec.evaluate.stats) against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from lmrec.errors import ConfigError
from lmrec.evaluate.stats import (
    bootstrap_ci,
    mean_ci,
    paired_t_pvalue,
    paired_test,
    per_user_mean,
    significance_mark,
)


def test_mean_ci_matches_student_t_by_hand():
    values = [0.050, 0.054, 0.052]
    ci = mean_ci(values)
    s = np.std(values, ddof=1)
    assert ci.mean == pytest.approx(0.052)
    assert ci.half_width == pytest.approx(sps.t.ppf(0.975, 2) * s / math.sqrt(3))
    # t(0.975, 2) = 4.3027: the interval is wide with three seeds, as it should be
    assert ci.half_width == pytest.approx(4.302653 * 0.002 / math.sqrt(3), rel=1e-5)
    assert ci.low < 0.052 < ci.high and not ci.single


def test_mean_ci_of_one_value_has_no_interval():
    ci = mean_ci([0.07])
    assert ci.mean == 0.07 and ci.single and math.isnan(ci.half_width)


def test_mean_ci_of_identical_values_is_zero_wide():
    assert mean_ci([0.1, 0.1, 0.1]).half_width == pytest.approx(0.0, abs=1e-15)


def test_mean_ci_rejects_empty_input():
    with pytest.raises(ConfigError, match="at least one"):
        mean_ci([])


def test_paired_t_pvalue_matches_scipy_ttest_rel():
    rng = np.random.default_rng(1)
    a = rng.random(40)
    b = a - 0.05 + 0.2 * rng.standard_normal(40)
    expected = sps.ttest_rel(a, b).pvalue
    assert paired_t_pvalue(a - b) == pytest.approx(expected, rel=1e-10)
    result = paired_test(a, b)
    assert result.p_value == pytest.approx(expected, rel=1e-10)
    assert result.difference == pytest.approx(float(np.mean(a - b)))
    assert result.n_users == 40


def test_identical_models_are_not_significant():
    a = np.array([0.0, 1.0, 0.5, 0.3, 0.0])
    result = paired_test(a, a.copy())
    assert result.p_value == 1.0
    assert result.difference == 0.0 and result.ci_low == 0.0 and result.ci_high == 0.0
    assert not result.significant()
    assert significance_mark(result) == "n.s."


def test_a_constant_difference_is_certain():
    a = np.linspace(0, 1, 20)
    result = paired_test(a + 0.1, a)
    assert result.difference == pytest.approx(0.1)
    assert result.p_value < 1e-12  # rounding leaves a tiny spread; exactly 0 if none
    assert result.ci_low == pytest.approx(0.1) and result.ci_high == pytest.approx(0.1)
    assert result.significant() and significance_mark(result) == ""


def test_small_noisy_difference_is_not_significant():
    rng = np.random.default_rng(0)
    a = rng.random(30)
    b = a + rng.normal(0, 0.3, 30)
    b -= np.mean(b - a)  # mean difference exactly 0
    result = paired_test(a, b)
    assert result.p_value > 0.9 and not result.significant()
    assert result.ci_low < 0 < result.ci_high


def test_bootstrap_is_reproducible_and_covers_the_mean():
    rng = np.random.default_rng(3)
    d = rng.normal(0.02, 0.1, 500)
    low, high = bootstrap_ci(d, seed=7)
    assert (low, high) == bootstrap_ci(d, seed=7)
    assert low < d.mean() < high
    # close to the normal-theory interval for 500 users
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_seeds_by_users_are_averaged_before_pairing():
    a = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # two seeds × three users
    b = np.array([0.5, 0.5, 0.5])
    assert per_user_mean(a).tolist() == [0.5, 0.0, 1.0]
    result = paired_test(a, b)
    assert result.difference == pytest.approx(0.0)
    assert result.n_users == 3


def test_paired_test_needs_the_same_users():
    with pytest.raises(ConfigError, match="same users"):
        paired_test(np.ones(3), np.ones(4))


def test_no_test_means_no_claim():
    assert significance_mark(None) == "–"


def test_an_exactly_constant_difference_has_p_zero():
    a = np.arange(20.0) / 4  # exact binary fractions: every difference is exactly 0.25
    assert paired_test(a + 0.25, a).p_value == 0.0
