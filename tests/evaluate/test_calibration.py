"""NLL, ECE, temperature scaling and KL on cases small enough to check by hand."""

import math

import numpy as np
import pytest

from lmrec.evaluate.calibration import (
    expected_calibration_error,
    fit_temperature,
    kl_divergence,
    nll,
)


def test_nll_of_uniform_logits_is_log_n():
    logits = np.zeros((4, 8), dtype=np.float32)
    assert nll(logits, np.array([0, 1, 2, 3])) == pytest.approx(math.log(8))


def test_ece_of_a_perfectly_confident_right_model_is_zero_and_wrong_is_one():
    logits = np.array([[100.0, 0.0], [0.0, 100.0]], dtype=np.float32)
    assert expected_calibration_error(logits, np.array([0, 1])) == pytest.approx(0.0, abs=1e-6)
    assert expected_calibration_error(logits, np.array([1, 0])) == pytest.approx(1.0, abs=1e-6)


def test_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 20)) * 2.0
    probs = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    targets = np.array([rng.choice(20, p=p) for p in probs])
    overconfident = (true_logits * 3.0).astype(np.float32)  # the right ranking, 3x too peaked
    t = fit_temperature(overconfident, targets)
    assert t == pytest.approx(3.0, rel=0.1)
    assert nll(overconfident, targets, t) < nll(overconfident, targets)
    assert expected_calibration_error(overconfident, targets, t) < expected_calibration_error(
        overconfident, targets
    )


def test_kl_divergence():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.25, 0.25, 0.5])
    assert kl_divergence(p, q) == pytest.approx(math.log(2))
    assert kl_divergence(p, p) == pytest.approx(0.0)


def test_temperature_from_a_sample_of_many_events_matches_the_full_fit():
    """Beyond max_rows events the fit uses a seeded sample (a full pass per step took minutes
    on Beauty); the temperature stays close to the full-data one and is repeatable."""
    rng = np.random.default_rng(1)
    true_logits = rng.normal(size=(6000, 30)) * 2.0
    probs = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    targets = np.array([rng.choice(30, p=p) for p in probs])
    overconfident = (true_logits * 2.5).astype(np.float32)
    full = fit_temperature(overconfident, targets, max_rows=10_000)
    sampled = fit_temperature(overconfident, targets, max_rows=2000)
    assert sampled == pytest.approx(full, rel=0.05)
    assert fit_temperature(overconfident, targets, max_rows=2000) == sampled
