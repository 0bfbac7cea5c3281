"""MMR, DPP and calibrated re-ranking on candidates small enough to reason about."""

import time

import numpy as np
import pytest

from lmrec.errors import ConfigError
from lmrec.evaluate.diversity import intra_list_diversity, kl_to_mix
from lmrec.rerank.methods import calibrated, dpp, mmr

# Six candidates, most relevant first: three near-copies of one kind, then three others.
VECTORS = np.array(
    [[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=np.float32
)
RELEVANCE = np.array([1.0, 0.95, 0.9, 0.5, 0.4, 0.3])


@pytest.mark.parametrize("method", [mmr, dpp])
def test_zero_knob_keeps_the_model_order(method):
    assert method(RELEVANCE, VECTORS, 3, 0.0).tolist() == [0, 1, 2]


@pytest.mark.parametrize("method", [mmr, dpp])
def test_a_diversity_knob_takes_one_of_each_kind(method):
    picked = method(RELEVANCE, VECTORS, 3, 0.7)
    assert picked[0] == 0  # the most relevant stays first
    assert sorted(picked.tolist()) == [0, 3, 4]
    assert len(set(picked.tolist())) == 3


@pytest.mark.parametrize("method", [mmr, dpp])
def test_a_diversity_knob_raises_the_lists_diversity(method):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(100, 16)).astype(np.float32)
    vectors[:50] = vectors[0] + 0.1 * vectors[:50]  # the top half are near-copies
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = np.sort(rng.random(100))[::-1]
    ild = [
        intra_list_diversity(method(relevance, vectors, 10, d)[None, :], vectors)[0]
        for d in (0.0, 0.3, 0.7)
    ]
    assert ild[0] < 0.05  # the model's order: ten near-copies
    assert ild[1] > ild[0] + 0.2 and ild[2] > ild[0] + 0.5


def test_calibrated_list_matches_the_users_category_mix():
    # categories: candidates 0-2 are A, 3-5 are B; the user is half A, half B
    cats = np.array([[1, 0]] * 3 + [[0, 1]] * 3, dtype=np.float64)
    target = np.array([0.5, 0.5])
    assert calibrated(RELEVANCE, cats, target, 4, 0.0).tolist() == [0, 1, 2, 3]
    picked = calibrated(RELEVANCE, cats, target, 4, 0.9)
    assert cats[picked].sum(axis=0).tolist() == [2, 2]
    kl_before = kl_to_mix(target, cats[[0, 1, 2, 3]].mean(axis=0))
    kl_after = kl_to_mix(target, cats[picked].mean(axis=0))
    assert kl_after < kl_before


def test_bad_knobs_and_lists_are_refused():
    with pytest.raises(ConfigError, match=r"diversity must be in \[0, 1\]"):
        mmr(RELEVANCE, VECTORS, 3, 1.5)
    with pytest.raises(ConfigError, match="diversity must be a number"):
        dpp(RELEVANCE, VECTORS, 3, "lots")
    with pytest.raises(ConfigError, match="cannot re-rank 6 candidates into a list of 10"):
        dpp(RELEVANCE, VECTORS, 10, 0.5)
    with pytest.raises(ConfigError, match="k must be at least 1"):
        mmr(RELEVANCE, VECTORS, 0, 0.5)


def test_dpp_with_identical_vectors_fills_the_list_by_relevance():
    same = np.ones((6, 3), dtype=np.float32) / np.sqrt(3)
    picked = dpp(RELEVANCE, same, 4, 0.9)
    assert len(set(picked.tolist())) == 4 and picked[0] == 0


def test_reranking_100_candidates_to_10_is_fast_enough_to_serve():
    """Not a timing assertion (tests assert correctness): the benchmark measures speed;
    here a generous bound only catches an accidental O(n³) per user."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(100, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    relevance = rng.random(100)
    cats = np.eye(20)[rng.integers(0, 20, 100)]
    start = time.perf_counter()
    for _ in range(20):
        dpp(relevance, vectors, 10, 0.5)
        mmr(relevance, vectors, 10, 0.5)
        calibrated(relevance, cats, np.full(20, 0.05), 10, 0.5)
    assert time.perf_counter() - start < 20.0


def test_calibrated_greedy_follows_steck_objective_step_by_step():
    """Each pick maximises (1 - d)·Σ rel - d·KL(p || (1 - α)·q(list) + α·p), computed here
    over every category from the definition (the method keeps only the user's categories)."""
    from lmrec.evaluate.diversity import CALIBRATION_ALPHA as alpha
    from lmrec.rerank.methods import scaled

    rng = np.random.default_rng(4)
    for _ in range(5):
        n, c, k, d = 30, 6, 8, 0.4
        cats = rng.dirichlet(np.ones(c) * 0.3, size=n)
        target = np.zeros(c)
        target[:4] = rng.dirichlet(np.ones(4))  # two categories the user never had
        rel = scaled(rng.normal(size=n))
        chosen: list[int] = []
        for _step in range(k):
            best, best_value = -1, -np.inf
            for i in set(range(n)) - set(chosen):
                q = cats[[*chosen, i]].mean(axis=0)
                mixed = (1 - alpha) * q + alpha * target
                kl = sum(p * np.log(p / m) for p, m in zip(target, mixed, strict=True) if p > 0)
                value = (1 - d) * rel[[*chosen, i]].sum() - d * kl
                if value > best_value:
                    best, best_value = i, value
            chosen.append(best)
        got = calibrated(rel, cats, target, k, d)
        assert got.tolist() == chosen
