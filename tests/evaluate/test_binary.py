"""Binary prediction metrics against independent implementations and known cases."""

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from lmrec.errors import ConfigError
from lmrec.evaluate.binary import (
    auc,
    binary_ece,
    binary_metrics,
    fit_binary_temperature,
    gauc,
    logloss,
    reliability,
    sigmoid,
)


def test_auc_and_logloss_match_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1)  # rounding makes ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    p = sigmoid(s)
    assert logloss(y, p) == pytest.approx(log_loss(y, p))
    assert auc([1, 0], [0.5, 0.5]) == 0.5
    assert np.isnan(auc([1, 1], [0.1, 0.2]))


def test_gauc_weights_users_by_candidates_and_skips_one_class_users():
    users = np.array(["a", "a", "a", "a", "b", "b", "c"])
    y = np.array([1, 0, 0, 0, 0, 1, 1])
    s = np.array([0.9, 0.1, 0.2, 0.95, 0.8, 0.3, 0.5])
    # a: the positive beats 2 of 3 negatives (AUC 2/3, 4 candidates); b: AUC 0 (2); c skipped
    assert gauc(users, y, s) == pytest.approx((2 / 3 * 4 + 0 * 2) / 6)


def test_calibration_error_and_temperature():
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3, size=20_000)
    y = (rng.random(len(z)) < sigmoid(z / 2.0)).astype(int)  # true temperature 2
    t = fit_binary_temperature(y, z)
    assert t == pytest.approx(2.0, rel=0.1)
    assert binary_ece(y, sigmoid(z / t)) < binary_ece(y, sigmoid(z))
    assert binary_ece(y, sigmoid(z / t)) < 0.02
    bins = reliability(y, sigmoid(z / t))
    assert bins.counts.sum() == len(y)
    np.testing.assert_allclose(bins.observed, bins.predicted, atol=0.05)
    metrics = binary_metrics(np.zeros(len(y)), y, z, t)
    assert set(metrics) == {"auc", "gauc", "logloss", "ece"}
    assert metrics["auc"] == metrics["gauc"]  # one user


def test_bad_labels_and_shapes_are_clear_errors():
    with pytest.raises(ConfigError, match="0 or 1"):
        auc([0, 2], [0.1, 0.2])
    with pytest.raises(ConfigError, match="one length"):
        auc([0, 1], [0.1])
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        reliability([0, 1], [0.5, 1.5])
