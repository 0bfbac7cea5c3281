"""Metric formulas against hand-computed examples and properties (hypothesis)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmrec.evaluate import metrics as M


def test_single_target_without_ties_matches_hand_computation():
    # user 0: target at position 0; user 1: at position 3; user 2: at position 12
    above, ties, user = np.array([0, 3, 12]), np.ones(3, int), np.arange(3)
    out = M.aggregate(M.per_user_metrics(above, ties, user, 3, ks=(5, 10)))
    assert out["hr@5"] == pytest.approx(2 / 3)
    assert out["hr@10"] == pytest.approx(2 / 3)
    assert out["ndcg@10"] == pytest.approx((1 + 1 / math.log2(5)) / 3)
    assert out["mrr@10"] == pytest.approx((1 + 1 / 4) / 3)
    assert out["precision@5"] == pytest.approx(2 / 3 / 5)
    assert out["recall@5"] == out["hr@5"]


def test_ties_count_at_expected_position():
    # 2 items strictly above, the target tied with 3 others: positions 2..5, each with p=1/4
    above, ties = np.array([2]), np.array([4])
    assert M.expected_hit(above, ties, 3)[0] == pytest.approx(1 / 4)
    assert M.expected_hit(above, ties, 5)[0] == pytest.approx(3 / 4)
    gain = sum(1 / math.log2(p + 2) for p in (2, 3, 4)) / 4
    assert M.expected_gain(above, ties, 5)[0] == pytest.approx(gain)
    rr = sum(1 / (p + 1) for p in (2, 3, 4, 5)) / 4
    assert M.expected_reciprocal_rank(above, ties)[0] == pytest.approx(rr)


def test_multi_target_user_recall_precision_ndcg():
    # one user, 3 relevant items at positions 0, 2, 7
    above, ties, user = np.array([0, 2, 7]), np.ones(3, int), np.zeros(3, int)
    out = M.aggregate(M.per_user_metrics(above, ties, user, 1, ks=(5,)))
    assert out["recall@5"] == pytest.approx(2 / 3)
    assert out["precision@5"] == pytest.approx(2 / 5)
    assert out["hr@5"] == 1.0
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert out["ndcg@5"] == pytest.approx(dcg / idcg)
    assert out["f1@5"] == pytest.approx(2 * (2 / 5) * (2 / 3) / (2 / 5 + 2 / 3))


def test_rating_metrics_and_empty_input():
    assert M.rmse(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(math.sqrt(2.5))
    assert M.mae(np.array([1.0, 3.0]), np.array([2.0, 1.0])) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        M.rmse(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        M.expected_hit(np.array([], int), np.array([], int), 5)


@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(1, 10)), min_size=1, max_size=30),
    st.integers(1, 30),
)
def test_expected_metrics_equal_the_mean_over_tie_orders(targets, k):
    """With one target per user, each expected metric is the average over every position
    the target can take inside its tie group, which a brute-force loop computes directly."""
    above = np.array([a for a, _ in targets])
    ties = np.array([t for _, t in targets])
    hit = M.expected_hit(above, ties, k)
    gain = M.expected_gain(above, ties, k)
    for a, t, h, g in zip(above, ties, hit, gain, strict=True):
        positions = range(a, a + t)
        assert h == pytest.approx(np.mean([p < k for p in positions]))
        assert g == pytest.approx(np.mean([(p < k) / math.log2(p + 2) for p in positions]))


@given(st.lists(st.integers(0, 100), min_size=1, max_size=40), st.integers(1, 25))
def test_metrics_are_bounded_and_monotone_in_k(positions, k):
    above = np.array(positions)
    ties = np.ones_like(above)
    user = np.arange(len(above))
    small = M.aggregate(M.per_user_metrics(above, ties, user, len(above), ks=(k,)))
    large = M.aggregate(M.per_user_metrics(above, ties, user, len(above), ks=(k + 5,)))
    for name, value in small.items():
        assert 0.0 <= value <= 1.0, name
    assert large[f"hr@{k + 5}"] >= small[f"hr@{k}"]
    assert large[f"ndcg@{k + 5}"] >= small[f"ndcg@{k}"] - 1e-12
