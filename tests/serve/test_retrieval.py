"""Retrieval: exact top-k, a faiss HNSW index that finds (almost) the same items, and the
service's model path through either."""

import numpy as np
import pytest
from serve_helpers import _cli

from lmrec.errors import ConfigError
from lmrec.serve.engine import load_engine
from lmrec.serve.retrieval import (
    ExactIndex,
    FaissIndex,
    build_index,
    factor_vectors,
    recall_against_exact,
)
from lmrec.serve.store import DuckDBStore


def test_exact_index_is_brute_force_top_k():
    rng = np.random.default_rng(0)
    items, queries = rng.normal(size=(300, 16)), rng.normal(size=(5, 16))
    idx, scores = ExactIndex(items.astype(np.float32)).search(queries, 7)
    brute = np.argsort(-(queries @ items.T), axis=1)[:, :7]
    assert np.array_equal(idx, brute)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_hnsw_finds_nearly_the_exact_top_10():
    rng = np.random.default_rng(1)
    items = rng.normal(size=(5000, 32)).astype(np.float32)
    queries = rng.normal(size=(200, 32)).astype(np.float32)
    exact = ExactIndex(items)
    assert recall_against_exact(FaissIndex(items), exact, queries) > 0.9
    assert recall_against_exact(exact, exact, queries) == 1.0


def test_build_index_chooses_by_size_and_flag():
    small = np.ones((10, 4), dtype=np.float32)
    assert build_index(small).kind == "exact"
    assert build_index(small, threshold=5).kind == "faiss"
    assert build_index(small, "faiss").kind == "faiss"
    with pytest.raises(ConfigError, match="index must be one of auto, exact, faiss"):
        build_index(small, "annoy")


def test_engine_serves_factor_models_through_the_index(tmp_path):
    run = tmp_path / "als"
    _cli("train", "synthetic", "--model", "als", "--param", "factors=16", "--out", run)
    exact = load_engine(run, DuckDBStore(tmp_path / "a.duckdb"), "exact")
    hnsw = load_engine(run, DuckDBStore(tmp_path / "b.duckdb"), "faiss")
    assert factor_vectors(exact.model) is not None
    assert (exact.retrieval, hnsw.retrieval) == ("exact", "faiss")
    via_index = exact.recommend("1", k=10)
    assert via_index["served_by"] == "model" and via_index["retrieval"] == "exact"
    # the same list the model's own scores give (seen items excluded)
    via_scores = exact.recommend("1", k=10, categories=list(exact._categories[0]))
    assert via_scores["retrieval"] == "scores"
    ids, _ = exact.model.recommend("1", k=10)
    assert [i["item_id"] for i in via_index["items"]] == [str(i) for i in ids]
    got = {i["item_id"] for i in hnsw.recommend("1", k=10)["items"]}
    assert len(got & {str(i) for i in ids}) >= 8


def test_a_known_users_new_events_extend_the_fitted_history(tmp_path):
    from lmrec.serve.store import Event

    run = tmp_path / "knn"
    _cli("train", "synthetic", "--model", "itemknn", "--param", "k=20", "--out", run)
    engine = load_engine(run, DuckDBStore(tmp_path / "e.duckdb"))
    inter = engine.fit_data.interactions
    own = inter.loc[inter["user_id"] == "1", "item_id"].astype(str).tolist()
    assert [e.item_id for e in engine.fitted_history("1")] == own
    unseen = next(i for i in engine.fit_data.idmap.items if i not in own)
    engine.add_events([Event("1", str(unseen))])
    out = engine.recommend("1", k=5)
    assert out["served_by"] == "history"
    assert str(unseen) not in [i["item_id"] for i in out["items"]]
    assert not set(own) & {i["item_id"] for i in out["items"]}


def test_predict_for_an_unknown_user_is_the_items_share_of_events(tmp_path):
    run = tmp_path / "knn"
    _cli("train", "synthetic", "--model", "itemknn", "--param", "k=20", "--out", run)
    engine = load_engine(run, DuckDBStore(tmp_path / "e.duckdb"))
    out = engine.predict("stranger", ["1", "2"])
    counts = engine.fit_data.interactions["item_id"].astype(str).value_counts()
    assert out["served_by"] == "popularity"
    for row in out["predictions"]:
        assert row["p_item"] == pytest.approx(counts[row["item_id"]] / counts.sum())


def test_predict_of_a_behaviour_run_gives_the_calibrated_probability(tmp_path):
    """A transformer-behaviour run answers /v1/predict with P(buy) next to p(item | history),
    and the service's known users are scored from their precomputed states."""
    run = tmp_path / "buy"
    small = ["--param", "epochs=2", "--param", "dim=16", "--param", "max_len=10"]
    _cli("train", "synthetic", "--model", "transformer-behaviour", "--out", run, *small)
    engine = load_engine(run, DuckDBStore(tmp_path / "e.duckdb"))
    assert "_user_states" in engine.model.__dict__
    out = engine.predict("1", ["1", "2"])
    assert out["served_by"] == "model"
    expected = engine.model.predict_behaviour(["1", "1"], ["1", "2"])
    np.testing.assert_allclose([r["p_buy"] for r in out["predictions"]], expected, rtol=1e-6)
