"""Dataset.from_frames normalisation and views, and the split protocols (on ML-100K where the
README gives exact figures: 415 users tie at their latest timestamp)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.schema import INTERACTION_COLUMNS, Dataset
from lmrec.data.split import (
    deduplicate,
    given_split,
    kcore,
    leave_one_out,
    random_split,
    split_dataset,
    temporal_split,
)
from lmrec.errors import ConfigError, DataError


def _tiny() -> Dataset:
    inter = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 1, 2],
            "item_id": [10, 11, 10, 12, 11],
            "timestamp": [5, 3, 4, 3, 9],
            "rating": [4, 5, 3, 2, 1],
        }
    )
    items = pd.DataFrame({"item_id": [10, 13], "title": ["Ten", "Thirteen"]})
    return Dataset.from_frames(inter, items, name="tiny")


# ----------------------------------------------------------------------------- schema
def test_from_frames_normalises_types_order_and_catalogue():
    d = _tiny()
    inter = d.interactions
    assert tuple(inter.columns) == INTERACTION_COLUMNS
    # stable sort by time: the two rows at t=3 keep file order (item 11 before item 12)
    assert inter["item_id"].tolist() == ["11", "12", "10", "10", "11"]
    assert inter["timestamp"].tolist() == [3.0, 3.0, 4.0, 5.0, 9.0]
    assert set(inter["behaviour"].astype(str)) == {"rate"}  # ratings imply "rate"
    assert (inter["review"] == "").all()
    # catalogue: item table first (13 has no events but stays), then unseen interaction items
    assert list(d.idmap.items) == ["10", "13", "11", "12"]
    assert d.titles([10, 11, 99]) == ["Ten", "", ""]
    assert d.items["categories"].tolist() == [[], [], [], []]
    assert (d.n_users, d.n_items) == (2, 4)


def test_from_frames_without_ratings_or_time_defaults_to_click_in_file_order():
    d = Dataset.from_frames(pd.DataFrame({"user_id": ["b", "a"], "item_id": ["x", "y"]}))
    assert d.interactions["behaviour"].astype(str).tolist() == ["click", "click"]
    assert d.interactions["user_id"].tolist() == ["b", "a"]
    assert not d.has_timestamps and not d.has_ratings


def test_from_frames_rejects_bad_frames_naming_the_source():
    with pytest.raises(DataError, match=r"f\.csv: missing column\(s\) \['item_id'\]"):
        Dataset.from_frames(pd.DataFrame({"user_id": [1]}), source="f.csv")
    with pytest.raises(DataError, match="row 2 has an empty 'user_id'"):
        Dataset.from_frames(pd.DataFrame({"user_id": ["a", None], "item_id": [1, 2]}))
    with pytest.raises(DataError, match="row 1 has behaviour 'teleport'"):
        Dataset.from_frames(
            pd.DataFrame({"user_id": ["a"], "item_id": [1], "behaviour": ["teleport"]})
        )
    with pytest.raises(DataError, match="no interactions"):
        Dataset.from_frames(pd.DataFrame({"user_id": [], "item_id": []}))


def test_matrix_and_sequences():
    d = _tiny()
    u = {k: i for i, k in enumerate(d.idmap.users)}
    i = {k: j for j, k in enumerate(d.idmap.items)}
    counts = d.matrix()
    assert counts.shape == (2, 4) and counts.dtype == np.float32
    assert counts[u["1"], i["10"]] == 1 and counts[u["1"], i["13"]] == 0
    ratings = d.matrix("rating")
    assert ratings[u["2"], i["11"]] == 1.0 and ratings[u["1"], i["11"]] == 5.0
    repeated = d.with_interactions(pd.concat([d.interactions, d.interactions.iloc[:1]]))
    assert repeated.matrix()[u["1"], i["11"]] == 2
    assert repeated.matrix("binary")[u["1"], i["11"]] == 1
    assert d.matrix(behaviours=["buy"]).nnz == 0
    seqs = d.sequences()
    assert list(d.idmap.item_ids(seqs[u["1"]])) == ["11", "12", "10"]
    assert list(d.idmap.item_ids(seqs[u["2"]])) == ["10", "11"]
    with pytest.raises(ValueError, match="value must be"):
        d.matrix("weird")


# ----------------------------------------------------------------------------- splits on ML-100K
@pytest.mark.slow
def test_ml100k_leave_one_out_keeps_file_order_on_ties(ml100k, shared_datasets):
    raw = pd.read_csv(
        shared_datasets / "ml-100k" / "u.data.gz",
        sep="\t",
        names=["user", "item", "rating", "ts"],
    )
    raw["line"] = np.arange(len(raw))
    latest = raw[raw["ts"] == raw.groupby("user")["ts"].transform("max")]
    assert (latest.groupby("user").size() >= 2).sum() == 415  # the README's figure
    # the expected test item: among a user's latest-timestamp ratings, the last in the file
    expected = latest.sort_values("line").groupby("user").tail(1).set_index("user")["item"]

    split = leave_one_out(ml100k)
    assert (len(split.test), len(split.valid)) == (943, 943)
    assert len(split.train.interactions) == 100_000 - 2 * 943
    got = split.test.set_index(split.test["user_id"].astype(int))["item_id"].astype(int)
    pd.testing.assert_series_equal(
        got.sort_index(), expected.sort_index(), check_names=False, check_index_type=False
    )
    assert split.protocol == "leave-one-out (stable sort by timestamp, file order on ties)"
    # the test ranking is fitted on train + valid and excludes those items
    assert len(split.fit_data("test").interactions) == 100_000 - 943
    assert split.exclusion("test").nnz == 100_000 - 943


@pytest.mark.slow
def test_ml100k_temporal_and_random_split_sizes(ml100k):
    temporal = temporal_split(ml100k, valid=0.1, test=0.1)
    assert len(temporal.train.interactions) == 80_000
    assert len(temporal.valid) <= 10_000 and len(temporal.test) <= 10_000
    assert temporal.train.interactions["timestamp"].max() <= temporal.valid["timestamp"].min()
    assert temporal.valid["timestamp"].max() <= temporal.test["timestamp"].min()
    train_users = set(temporal.train.interactions["user_id"])
    assert set(temporal.valid["user_id"]) <= train_users
    assert set(temporal.test["user_id"]) <= train_users | set(temporal.valid["user_id"])

    rnd = random_split(ml100k, valid=0.1, test=0.1, seed=0)
    sizes = (len(rnd.train.interactions), len(rnd.valid), len(rnd.test))
    assert sizes == (80_000, 10_000, 10_000)
    again = split_dataset(ml100k, "random", seed=0)
    pd.testing.assert_frame_equal(rnd.test, again.test)
    keys = [
        set(zip(p["user_id"], p["item_id"], strict=True))
        for p in (rnd.train.interactions, rnd.valid, rnd.test)
    ]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert not split_dataset(ml100k, "random", seed=1).test.equals(rnd.test)


@pytest.mark.slow
def test_ml100k_kcore_leaves_only_dense_users_and_items(ml100k):
    core = kcore(ml100k, user_k=50, item_k=50)
    inter = core.interactions
    assert inter["user_id"].value_counts().min() >= 50
    assert inter["item_id"].value_counts().min() >= 50
    assert core.n_users == inter["user_id"].nunique() < 943
    assert core.n_items == inter["item_id"].nunique() < 1_682
    assert "kcore" in core.notes
    with pytest.raises(DataError, match="no interactions survive"):
        kcore(ml100k, user_k=10_000)


# ----------------------------------------------------------------------------- other split rules
def test_split_rules_on_synthetic_data():
    data = make_synthetic(n_users=40, n_items=60, n_categories=3, seed=2)
    loo = split_dataset(data, "loo")
    assert len(loo.test) == 40 and len(loo.valid) == 40
    with pytest.raises(ConfigError, match="split protocol"):
        split_dataset(data, "kfold")
    with pytest.raises(ConfigError, match="valid and test"):
        temporal_split(data, valid=0.6, test=0.5)
    doubled = data.with_interactions(pd.concat([data.interactions, data.interactions]))
    assert len(deduplicate(doubled).interactions) == len(data.interactions)


def test_leave_one_out_keeps_short_histories_in_train():
    d = Dataset.from_frames(
        pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "item_id": [1, 2, 3, 1, 2]}),
        name="short",
        time_order="file",  # a loader that knows its file is in time order
    )
    split = leave_one_out(d, min_history=3)
    assert split.test["user_id"].tolist() == ["1"] and split.test["item_id"].tolist() == ["3"]
    assert split.valid["item_id"].tolist() == ["2"]
    assert split.train.interactions["user_id"].tolist() == ["1", "2", "2"]
    assert split.protocol == "leave-one-out (file order)"


def test_temporal_split_needs_timestamps_and_given_split_checks_ids():
    d = Dataset.from_frames(pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2]}), name="nots")
    with pytest.raises(DataError, match="needs timestamps"):
        temporal_split(d)
    held = Dataset.from_frames(pd.DataFrame({"user_id": [1], "item_id": [9]})).interactions
    ok = Dataset.from_frames(pd.DataFrame({"user_id": [1], "item_id": [2]})).interactions
    with pytest.raises(DataError, match="test row 1 has item_id '9'"):
        given_split(d, valid=ok, test=held, protocol="given")
    split = given_split(d, valid=ok, test=ok, protocol="given", exclude_behaviours=("buy",))
    assert split.summary()["test"] == 1


def test_given_split_rejects_ids_that_never_occur_in_training():
    import pandas as pd

    from lmrec.data.schema import Dataset
    from lmrec.data.split import given_split

    train = Dataset.from_frames(
        pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]})
    )
    held = Dataset.from_frames(pd.DataFrame({"user_id": ["a", "zed"], "item_id": ["y", "x"]}))
    with pytest.raises(
        DataError, match=r"test row 2 has user_id 'zed' that never occurs in training"
    ):
        given_split(
            train, valid=held.interactions.iloc[:1], test=held.interactions, protocol="given"
        )
    unknown_item = Dataset.from_frames(pd.DataFrame({"user_id": ["b"], "item_id": ["new"]}))
    with pytest.raises(DataError, match=r"valid row 1 has item_id 'new'"):
        given_split(
            train,
            valid=unknown_item.interactions,
            test=held.interactions.iloc[:1],
            protocol="given",
        )


def test_order_dependent_splits_refuse_data_without_time_order():
    frame = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2], "item_id": [1, 2, 3, 1, 2, 4]})
    d = Dataset.from_frames(frame, name="plays")
    assert d.time_order == "none" and d.summary()["time_order"] == "none"
    with pytest.raises(
        DataError,
        match=r"plays: leave-one-out needs events in time order.*"
        r"use --split random",
    ):
        leave_one_out(d)
    with pytest.raises(DataError, match=r"needs timestamps.*use --split random"):
        temporal_split(d)
    assert len(split_dataset(d, "random", test=0.2).test) == 1
    with pytest.raises(ConfigError, match="time_order must be one of"):
        Dataset.from_frames(frame, time_order="sorted")
    stamped = Dataset.from_frames(frame.assign(timestamp=range(6)))
    assert stamped.time_order == "timestamps" and len(leave_one_out(stamped).test) == 2
    # The order survives k-core filtering and de-duplication.
    filed = Dataset.from_frames(frame, time_order="file")
    assert kcore(filed, 1, 1).time_order == "file" and deduplicate(filed).time_order == "file"


def test_weight_column_is_validated_and_log_scaled_in_the_matrix():
    frame = pd.DataFrame(
        {"user_id": ["a", "a", "b", "b"], "item_id": ["x", "y", "x", "x"], "weight": [1, 7, 2, 1]}
    )
    d = Dataset.from_frames(frame, time_order="file")
    assert d.has_weights and d.summary()["weights"]
    m = d.matrix("weight").toarray()
    # log2(1 + w) of the summed weights: 1 -> 1, 7 -> 3, 2 + 1 -> 2.
    assert m.tolist() == [[1.0, 3.0], [2.0, 0.0]]
    unweighted = Dataset.from_frames(frame.drop(columns="weight"))
    assert not unweighted.has_weights
    assert (unweighted.interactions["weight"] == 1.0).all()
    single = unweighted.with_interactions(
        unweighted.interactions.drop_duplicates(["user_id", "item_id"])
    )
    assert (single.matrix("weight") != single.matrix("binary")).nnz == 0
    with pytest.raises(DataError, match=r"f.tsv: row 2, column 'weight' has -3"):
        Dataset.from_frames(frame.assign(weight=[1, -3, 1, 1]), source="f.tsv")
    with pytest.raises(DataError, match=r"row 3, column 'weight' has 'many'"):
        Dataset.from_frames(frame.assign(weight=["1", "2", "many", "1"]))
