"""The temporal-update protocol: periods that do not leak, and both models scored alike."""

import numpy as np
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.errors import ConfigError, DataError
from lmrec.evaluate.update import temporal_update_split
from lmrec.experiment import ExperimentConfig, ModelSpec, run_temporal_update

SMALL = {"dim": 16, "heads": 2, "layers": 1, "max_len": 10, "epochs": 3, "progress": False}


@pytest.fixture(scope="module")
def world():
    return make_synthetic(n_users=150, n_items=80, seed=4)


def test_periods_follow_the_cuts_and_new_users_and_items_are_new(world):
    split = temporal_update_split(world, (0.8, 0.9))
    q1, q2 = split.cut_times
    assert split.old.interactions["timestamp"].max() <= q1
    assert (split.new_events["timestamp"] > q1).all() and (
        split.new_events["timestamp"] <= q2
    ).all()
    assert set(split.old.idmap.users) < set(split.combined.idmap.users)
    later = world.interactions[world.interactions["timestamp"] > q2]
    for user, item in split.test.itertuples(index=False):
        first = later[later["user_id"] == user].iloc[0]
        assert first["item_id"] == item  # the first event after q2
    assert set(split.test["user_id"]) <= set(split.combined.idmap.users)
    assert set(split.new_items["item_id"]).isdisjoint(split.old.idmap.items)
    # the base model's data set knows only its own users and items
    assert split.old.n_users == split.old.interactions["user_id"].nunique()


def test_bad_cuts_and_data_without_time_are_refused(world):
    with pytest.raises(ConfigError, match="two quantiles"):
        temporal_update_split(world, (0.9, 0.8))
    untimed = world.with_interactions(world.interactions.assign(timestamp=np.nan))
    with pytest.raises(DataError, match="needs every timestamp"):
        temporal_update_split(untimed)


def test_run_temporal_update_records_both_models_on_the_same_users():
    config = ExperimentConfig("synthetic", seeds=1, command="test")
    result = run_temporal_update(config, ModelSpec("transformer", params=SMALL), epochs=1)
    update, retrain = result.outcomes["transformer-update"], result.outcomes["transformer-retrain"]
    (u_record,), (r_record,) = update.records, retrain.records
    assert u_record["protocol"] == r_record["protocol"] == "temporal-update"
    for key in ("update_seconds", "retrain_seconds", "speedup", "forgetting", "ndcg@10"):
        assert key in u_record["metrics"], key
    assert u_record["metrics"]["update_seconds"] > 0 and u_record["metrics"]["speedup"] > 0
    assert "retrain_seconds" in r_record["metrics"]
    assert u_record["n_users"] == r_record["n_users"] > 0
    assert update.user_ids is not None and np.array_equal(update.user_ids, retrain.user_ids)
    test = result.paired("transformer-update", "transformer-retrain")
    assert np.isfinite(test.difference) and test.n_users == u_record["n_users"]
