"""Cold-start protocols: nothing cold leaks into training, and the metrics mean what they say."""

import numpy as np
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.errors import CapabilityError, ConfigError, DataError, NotFittedError
from lmrec.evaluate.cold_start import (
    cold_item_split,
    cold_user_split,
    evaluate_cold_items,
    evaluate_cold_users,
)
from lmrec.evaluate.ranking import evaluate_targets
from lmrec.models import EASE, SVD, MostPopular
from lmrec.models.sequential import SequenceTransformer


@pytest.fixture(scope="module")
def world():
    return make_synthetic(n_users=150, n_items=80, seed=3)


def test_cold_items_never_reach_training_and_every_target_is_cold(world):
    cold = cold_item_split(world, fraction=0.2, seed=0)
    cold_set = set(cold.cold_items)
    assert len(cold.cold_items) == 16
    assert not cold_set & set(cold.split.train.interactions["item_id"])
    assert not cold_set & set(cold.split.valid["item_id"])
    assert set(cold.split.test["item_id"]) <= cold_set
    assert len(cold.split.test) > 0
    assert "cold-item" in cold.protocol
    again = cold_item_split(world, fraction=0.2, seed=0)
    np.testing.assert_array_equal(again.cold_items, cold.cold_items)


def test_popularity_is_at_chance_among_cold_items_and_zero_against_warm_ones(world):
    cold = cold_item_split(world, fraction=0.2, seed=0)
    model = MostPopular().fit(cold.split.fit_data("test"))
    among = evaluate_cold_items(model, cold, ks=(5,), progress=False)
    full = evaluate_cold_items(model, cold, ks=(5,), full_catalogue=True, progress=False)
    assert among.protocol == "cold-item"
    # all cold items tie at popularity 0: the expected rank gives exactly 5/16
    assert among.metrics["recall@5"] == pytest.approx(5 / 16)
    assert full.metrics["recall@5"] == 0.0


def test_candidates_must_hold_the_targets(world):
    cold = cold_item_split(world, fraction=0.2, seed=0)
    model = MostPopular().fit(cold.split.fit_data("test"))
    data = cold.split.fit_data("test")
    with pytest.raises(DataError, match="outside the given candidates"):
        evaluate_targets(model, data, cold.split.test, candidates=np.array([0]), progress=False)


def test_bad_fractions_are_clear_errors(world):
    with pytest.raises(ConfigError, match="fraction"):
        cold_item_split(world, fraction=1.5)
    with pytest.raises(ConfigError, match="fraction"):
        cold_user_split(world, fraction=0)
    with pytest.raises(ConfigError, match="n_given"):
        cold_user_split(world, n_given=(0,))


def test_new_users_are_not_trained_on_and_get_k_event_histories(world):
    cold = cold_user_split(world, fraction=0.2, n_given=(1, 3), seed=0)
    assert not set(cold.new_users) & set(cold.split.train.interactions["user_id"])
    assert not set(cold.new_users) & set(cold.split.test["user_id"])
    items, kinds, stamps, targets = cold.cases(3)
    assert len(items) == len(cold.new_users)
    assert all(
        len(h) == 3 and len(b) == 3 and len(t) == 3
        for h, b, t in zip(items, kinds, stamps, strict=True)
    )
    u = sorted(cold.new_users)[0]
    first = world.interactions[world.interactions["user_id"] == u]["item_id"].tolist()
    assert items[0] == first[:3] and targets[0] == first[3]


def test_new_user_metrics_per_history_length(world):
    cold = cold_user_split(world, fraction=0.2, seed=0)
    popular = MostPopular().fit(cold.split.fit_data("test"))
    pop = evaluate_cold_users(popular, cold, ks=(10,))
    model = SequenceTransformer(
        dim=32, layers=1, max_len=20, epochs=15, batch_size=64, warmup_steps=10, progress=False
    )
    model.fit(cold.split.train, valid=cold.split.train.with_interactions(cold.split.valid))
    seq = evaluate_cold_users(model, cold, ks=(10,))
    for key in ("recall@10", "recall@10_k1", "recall@10_k2", "recall@10_k3", "ndcg@10"):
        assert 0 <= pop.metrics[key] <= 1 and 0 <= seq.metrics[key] <= 1
    assert pop.protocol == "cold-user"
    # the synthetic users are sticky: a sequence model must beat popularity on new users
    assert seq.metrics["recall@10"] > pop.metrics["recall@10"]


def test_new_users_with_a_baseline_that_folds_histories_in(world):
    cold = cold_user_split(world, fraction=0.2, seed=0)
    fit_data = cold.split.fit_data("test")
    pop = evaluate_cold_users(MostPopular().fit(fit_data), cold, ks=(10,))
    ease = evaluate_cold_users(EASE(l2=10.0).fit(fit_data), cold, ks=(10,))
    assert set(ease.metrics) == set(pop.metrics)
    assert ease.n_users == len(cold.new_users)
    # item-item co-occurrence follows the sticky categories: far above popularity
    # (measured: recall@10 0.83 against 0.11)
    assert ease.metrics["recall@10"] > 3 * pop.metrics["recall@10"]
    assert ease.metrics["recall@10_k1"] > 3 * pop.metrics["recall@10_k1"]


def test_new_users_need_score_histories_and_a_fitted_model(world):
    cold = cold_user_split(world, fraction=0.2, seed=0)
    with pytest.raises(CapabilityError, match=r"SVD does not support 'score_histories'.*ease"):
        evaluate_cold_users(SVD(), cold)
    with pytest.raises(NotFittedError):
        evaluate_cold_users(EASE(), cold)


def test_new_users_who_come_back_to_an_item_follow_the_repeat_modes():
    """A new user's target that repeats one of the given events is never the only history
    item left in the ranking: new-items leaves such cases out (counted), repeats ranks them
    with nothing excluded, and "play it again" only earns under repeats."""
    from lmrec.models.repeat import RepeatBaseline

    world = make_synthetic(n_users=200, n_items=60, repeat=0.5, seed=2)
    cold = cold_user_split(world, fraction=0.3, seed=0)
    fit_data = cold.split.fit_data("test")
    repeat, popular = RepeatBaseline().fit(fit_data), MostPopular().fit(fit_data)
    new_rep = evaluate_cold_users(repeat, cold, ks=(10,))
    new_pop = evaluate_cold_users(popular, cold, ks=(10,))
    assert new_rep.mode == "new-items" and new_rep.repeat_targets > 0
    assert new_rep.n_targets + new_rep.repeat_targets == len(cold.new_users) * len(cold.n_given)
    # Only unseen items are ranked, where the repeat baseline is popularity: no gain.
    assert new_rep.metrics["ndcg@10"] == pytest.approx(new_pop.metrics["ndcg@10"])
    rep_rep = evaluate_cold_users(repeat, cold, ks=(10,), mode="repeats")
    rep_pop = evaluate_cold_users(popular, cold, ks=(10,), mode="repeats")
    assert rep_rep.protocol == "cold-user-repeats"
    assert rep_rep.n_targets == len(cold.new_users) * len(cold.n_given)
    assert rep_rep.metrics["ndcg@10"] > 2 * rep_pop.metrics["ndcg@10"]


def test_cold_item_full_ranks_cold_targets_among_all_items_and_warm_ones_too(world, tmp_path):
    from lmrec.evaluate.cold_start import evaluate_cold_items_full
    from lmrec.models.content import ContentKNN

    cold = cold_item_split(world, fraction=0.2, seed=0)
    cold_set = set(cold.cold_items)
    assert len(cold.warm_test) > 0 and not set(cold.warm_test["item_id"]) & cold_set
    # every test target is cold or warm: together they are the leave-one-out test set
    assert len(cold.warm_test) + len(cold.split.test) <= world.n_users

    popular = MostPopular().fit(cold.split.fit_data("test"))
    cold_result, warm = evaluate_cold_items_full(popular, cold)
    assert cold_result.protocol == "cold-item-full"
    assert cold_result.metrics["recall@20"] == 0.0  # never-bought items: ranked last
    assert warm.metrics["recall@20"] > 0

    content = ContentKNN(text_cache_dir=str(tmp_path)).fit(cold.split.fit_data("test"))
    text_result, _ = evaluate_cold_items_full(content, cold)
    assert text_result.metrics["recall@20"] > 0  # text reaches items nobody touched
    user = cold.split.test["user_id"].iloc[0]
    history = cold.split.fit_data("test").interactions.query("user_id == @user")["item_id"]
    np.testing.assert_allclose(
        content.score_histories([list(history)])[0], content.score([user])[0], atol=1e-5
    )


def test_the_experiment_path_records_cold_and_warm_metrics_for_cold_item_full(tmp_path):
    from lmrec.evaluate.report import read_per_user
    from lmrec.experiment import ExperimentConfig, ModelSpec, run_cold_start, save_result

    config = ExperimentConfig("synthetic", seeds=1)
    result = run_cold_start(config, [ModelSpec("popular")], "cold-item-full")
    (record,) = result.records
    assert record["protocol"] == "cold-item-full"
    assert {"recall@20", "ndcg@10", "warm_ndcg@10", "warm_recall@10"} <= set(record["metrics"])
    # per-row scores: cold users then warm users, each metric NaN where it does not apply,
    # and their means are the record's metrics
    (saved,) = save_result(result, tmp_path / "records.json", tmp_path / "per_user")
    rows = read_per_user(tmp_path / saved["per_user_file"])
    ids = np.array(rows["user_ids"])
    cold_rows = np.char.startswith(ids.astype(str), "cold:")
    assert cold_rows.any() and (~cold_rows).any()
    ndcg, warm = rows["scores"]["ndcg@10"][0], rows["scores"]["warm_ndcg@10"][0]
    assert np.isnan(ndcg[~cold_rows]).all() and np.isnan(warm[cold_rows]).all()
    assert np.isclose(ndcg[cold_rows].mean(), record["metrics"]["ndcg@10"])
    assert np.isclose(warm[~cold_rows].mean(), record["metrics"]["warm_ndcg@10"])
    assert np.isclose(
        rows["scores"]["recall@20"][0][cold_rows].mean(), record["metrics"]["recall@20"]
    )
    with pytest.raises(ConfigError, match="'cold-item-full'"):
        run_cold_start(config, [ModelSpec("popular")], "cold-items")


def test_the_nested_cold_split_holds_out_trained_items_inside_the_training_part(world):
    from lmrec.evaluate.cold_start import nested_cold_item_split

    cold = cold_item_split(world, fraction=0.2, seed=0)
    nested = nested_cold_item_split(cold)
    outer_train = cold.split.train.interactions
    inner = set(nested.cold_items)
    assert inner <= set(outer_train["item_id"])  # items that have training events
    assert not inner & set(cold.cold_items)
    # the same share (20%) of the items that have training events
    assert len(inner) == round(0.2 * outer_train["item_id"].nunique())
    assert not inner & set(nested.split.fit_data("test").interactions["item_id"])
    assert set(nested.split.test["item_id"]) <= inner

    # the nested protocol sees the outer training part only: no outer valid or test event
    def pairs(df):
        return set(zip(df["user_id"], df["item_id"], strict=True))

    assert pairs(nested.split.fit_data("test").interactions) <= pairs(outer_train)
    assert pairs(nested.split.test) <= pairs(outer_train)
    assert len(nested.split.fit_data("test").interactions) < len(outer_train)


def test_the_nested_protocol_never_ranks_the_outer_cold_items(world, tmp_path):
    """They do not exist yet at that earlier step: a text model that would rank them high
    among the candidates ranks the targets higher once they are unlisted."""
    import dataclasses

    from lmrec.evaluate.cold_start import evaluate_cold_items_full, nested_cold_item_split
    from lmrec.models.content import ContentKNN

    cold = cold_item_split(world, fraction=0.2, seed=0)
    nested = nested_cold_item_split(cold)
    np.testing.assert_array_equal(np.sort(nested.unlisted), np.sort(cold.cold_items))
    model = ContentKNN(text_cache_dir=str(tmp_path)).fit(nested.split.fit_data("test"))
    listed = evaluate_cold_items_full(model, nested)
    everything = evaluate_cold_items_full(model, dataclasses.replace(nested, unlisted=None))
    gains = [
        a.metrics["ndcg@20"] - b.metrics["ndcg@20"] for a, b in zip(listed, everything, strict=True)
    ]
    assert min(gains) >= 0 and sum(gains) > 0


def test_the_cold_choice_takes_the_best_cold_recall_within_two_percent_of_warm():
    from lmrec.experiment import choose_for_cold_items

    def row(cold, warm, reference=False):
        r = {"valid_recall@20": cold, "valid_warm_ndcg@10": warm}
        return {**r, "reference": True} if reference else r

    # the reference sets the warm bar (0.98 × 0.100): 0.30 is out, 0.20 the best inside
    rows = [row(0.10, 0.099), row(0.20, 0.0985), row(0.30, 0.090), row(0.0, 0.100, True)]
    assert choose_for_cold_items(rows) == 1
    # nobody inside the bar: the best warm score among the choices
    rows = [row(0.30, 0.090), row(0.20, 0.095), row(0.0, 0.200, True)]
    assert choose_for_cold_items(rows) == 1
    # ties on cold recall (models that cannot reach new items) go to the better warm score
    assert choose_for_cold_items([row(0.0, 0.090), row(0.0, 0.091)]) == 1


def test_cold_item_full_tunes_on_the_nested_protocol_and_records_it():
    from lmrec.experiment import ExperimentConfig, ModelSpec, choose_for_cold_items, run_cold_start

    config = ExperimentConfig("synthetic", seeds=1)
    spec = ModelSpec("itemknn", grid={"k": [5, 50]})
    result = run_cold_start(config, [spec], "cold-item-full", cold_reference={"k": 20})
    (record,) = result.records
    tuning = record["tuning"]
    assert [t["params"] for t in tuning] == [{"k": 5}, {"k": 50}, {"k": 20}]
    assert tuning[-1]["reference"] is True
    assert all({"valid_recall@20", "valid_warm_ndcg@10"} <= set(t) for t in tuning)
    assert record["chosen"] == tuning[choose_for_cold_items(tuning)]["params"]
