"""Beyond-accuracy list metrics on lists small enough to check by hand, and in the evaluator."""

import math

import numpy as np
import pandas as pd
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import Dataset
from lmrec.data.split import split_dataset
from lmrec.evaluate.diversity import (
    category_coverage,
    entropy_bits,
    exposure,
    gini,
    history_distributions,
    intra_list_diversity,
    item_space,
    kl_to_mix,
    novelty,
)
from lmrec.evaluate.ranking import evaluate
from lmrec.models import make_model


def _data() -> Dataset:
    """Four items: a and b are Drama, c is Comedy, d is both; three users."""
    inter = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3"],
            "item_id": ["a", "b", "a", "c", "a"],
            "timestamp": [1, 2, 1, 2, 1],
        }
    )
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "categories": [["Drama"], ["Drama"], ["Comedy"], ["Drama", "Comedy"]],
        }
    )
    return Dataset.from_frames(inter, items=items, name="tiny")


def _index(data: Dataset, *items: str) -> list[int]:
    return [int(i) for i in data.idmap.item_index(pd.Series(items))]


def test_ild_is_zero_for_alike_items_and_one_for_orthogonal_ones():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    lists = np.array([[0, 1], [0, 2], [0, -1]])
    assert intra_list_diversity(lists, vectors) == pytest.approx([0.0, 1.0, 0.0])
    # three items, cosines 1, 0, 0 → mean distance over the three pairs = 2/3
    assert intra_list_diversity(np.array([[0, 1, 2]]), vectors) == pytest.approx([2 / 3])


def test_gini_and_entropy_of_exposure():
    assert gini(np.array([5.0, 5.0, 5.0, 5.0])) == pytest.approx(0.0)
    assert gini(np.array([0.0, 0.0, 0.0, 8.0])) == pytest.approx(0.75)  # (n - 1) / n
    assert entropy_bits(np.array([1.0, 1.0, 1.0, 1.0])) == pytest.approx(2.0)
    assert entropy_bits(np.array([0.0, 3.0])) == pytest.approx(0.0)
    assert exposure(np.array([[0, 1], [1, -1]]), 3).tolist() == [1.0, 2.0, 0.0]


def test_category_metrics_novelty_and_calibration_by_hand():
    data = _data()
    space = item_space(data)
    a, b, c, d = _index(data, "a", "b", "c", "d")
    assert space.n_categories == 2
    # a list of two dramas touches one of two categories; drama + comedy both
    assert category_coverage(np.array([[a, b], [a, c]]), space) == pytest.approx([0.5, 1.0])
    # popularity: a had by 3 of 3 users, b by 1 of 3, d by nobody (counted as half a user)
    assert novelty(np.array([[a, b]]), space.popularity) == pytest.approx(
        [(0.0 + math.log2(3)) / 2]
    )
    assert novelty(np.array([[d]]), space.popularity) == pytest.approx([math.log2(6)])
    users = data.idmap.user_index(pd.Series(["u1", "u2"]))
    history = history_distributions(data, users, space)
    drama, comedy = space.categories.index("Drama"), space.categories.index("Comedy")
    assert history[0, drama] == 1.0 and history[1, [drama, comedy]].tolist() == [0.5, 0.5]
    # u2 watched half drama, half comedy: a drama+comedy list is calibrated, two dramas not
    both = np.array([[0.5, 0.5]])
    assert kl_to_mix(both, both) == pytest.approx([0.0])
    only = np.zeros((1, 2))
    only[0, drama] = 1.0
    q = np.zeros((1, 2))
    q[0, drama] = 1.0
    p = np.zeros((1, 2))
    p[0, [drama, comedy]] = 0.5
    mixed_comedy = 0.01 * 0.5
    expected = 0.5 * math.log(0.5 / (0.99 + 0.005)) + 0.5 * math.log(0.5 / mixed_comedy)
    assert kl_to_mix(p, q) == pytest.approx([expected])
    assert np.isnan(kl_to_mix(np.zeros((1, 2)), q))[0]  # no history: undefined


def test_evaluator_reports_list_metrics_next_to_accuracy():
    split = split_dataset(make_synthetic(), "loo")
    popular = make_model("popular").fit_split(split, "test")
    knn = make_model("itemknn", k=50).fit_split(split, "test")
    pop = evaluate(popular, split, "test", progress=False).metrics
    personal = evaluate(knn, split, "test", progress=False).metrics
    for name in ("ild", "category_coverage", "novelty", "calibration_kl", "gini", "entropy"):
        assert f"{name}@10" in pop and f"{name}@10" in personal
    # popularity shows (nearly) the same list to everyone: more concentrated, less novel
    assert pop["gini@10"] > personal["gini@10"]
    assert pop["entropy@10"] < personal["entropy@10"]
    assert pop["novelty@10"] < personal["novelty@10"]
    assert 0 <= personal["ild@10"] <= 1 and 0 < personal["category_coverage@10"] <= 1
