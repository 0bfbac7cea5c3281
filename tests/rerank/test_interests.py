"""Multi-interest lists: interests from clustered sub-histories, lists filled from each."""

import numpy as np
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.split import split_dataset
from lmrec.errors import CapabilityError, ConfigError
from lmrec.evaluate.diversity import item_space
from lmrec.evaluate.ranking import evaluate
from lmrec.models import make_model
from lmrec.rerank.interests import MultiInterestLists, _dhondt, cluster_history


def test_cluster_history_finds_the_groups_deterministically():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    vectors = np.array([a, b, a, a, b, a])
    labels = cluster_history(vectors, 4)
    assert len(set(labels.tolist())) == 2  # only two distinct vectors
    assert labels[0] == labels[2] == labels[3] == labels[5] != labels[1] == labels[4]
    assert np.array_equal(labels, cluster_history(vectors, 4))
    assert set(cluster_history(vectors, 1).tolist()) == {0}
    assert len(cluster_history(np.zeros((0, 2)), 3)) == 0


def test_dhondt_shares_slots_by_weight_without_repeating_items():
    ranked = [np.array([1, 2, 3, 4, 5, 6]), np.array([2, 7, 8, 9])]
    assert _dhondt(ranked, np.array([1.0, 0.0]), 4).tolist() == [1, 2, 3, 4]
    out = _dhondt(ranked, np.array([0.5, 0.5]), 6).tolist()
    assert out == [1, 2, 3, 7, 4, 8]  # alternating; 2 is listed once
    assert _dhondt([np.array([1])], np.array([1.0]), 3).tolist() == [1, -1, -1]


@pytest.fixture(scope="module")
def fitted():
    split = split_dataset(make_synthetic(n_users=200, n_items=120, seed=5), "loo")
    model = make_model("itemknn", k=50).fit_split(split, "test")
    fit_data = split.fit_data("test")
    return split, model, fit_data, item_space(fit_data)


def test_zero_diversity_is_the_models_own_list(fitted):
    split, model, fit_data, space = fitted
    base = evaluate(model, split, "test", progress=False).metrics
    same = evaluate(MultiInterestLists(model, fit_data, space, 0.0), split, "test", progress=False)
    for name in ("ndcg@10", "category_coverage@10", "coverage@10"):
        assert same.metrics[name] == pytest.approx(base[name]), name


def test_lists_serve_several_interests(fitted):
    split, model, fit_data, space = fitted
    lists_model = MultiInterestLists(model, fit_data, space, 0.8)
    users = np.arange(50)
    lists = lists_model.lists(users)
    seen = fit_data.matrix("binary")
    for row, user in enumerate(users):
        items = lists[row][lists[row] >= 0]
        assert len(set(items.tolist())) == len(items)
        assert not seen[user, items].toarray().any()
    base = evaluate(model, split, "test", progress=False).metrics
    multi = evaluate(lists_model, split, "test", progress=False).metrics
    assert multi["category_coverage@10"] > base["category_coverage@10"]


def test_interests_are_labelled_by_their_history(fitted):
    _, model, fit_data, space = fitted
    user = fit_data.idmap.users[3]
    interests = MultiInterestLists(model, fit_data, space, 0.5).interests(user)
    assert 1 <= len(interests) <= 4
    assert sum(i.weight for i in interests) == pytest.approx(1.0)
    assert [i.weight for i in interests] == sorted((i.weight for i in interests), reverse=True)
    categories = fit_data.items.set_index("item_id")["categories"]
    for interest in interests:
        top = interest.categories[0]
        assert any(top in categories[item] for item in interest.history)
        assert len(interest.items) == 5 and interest.as_dict()["categories"][0]["category"] == top


def test_models_that_cannot_score_histories_are_refused(fitted):
    split, _, fit_data, space = fitted
    svd = make_model("svd").fit_split(split, "test")
    with pytest.raises(CapabilityError, match="score_histories"):
        MultiInterestLists(svd, fit_data, space, 0.5)
    _, model, _, _ = fitted
    with pytest.raises(ConfigError, match="n_interests must be at least 1"):
        MultiInterestLists(model, fit_data, space, 0.5, n_interests=0)
