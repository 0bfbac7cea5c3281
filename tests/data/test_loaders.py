"""Loaders: exact counts and known values on the real files, the generic table reader on tiny
fixtures, and the error messages for bad input (each names the file and the line or field)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from lmrec.data.loaders.amazon import load_instruments
from lmrec.data.loaders.jd import load_jd, load_jd_split
from lmrec.data.loaders.movielens import load_ml_latest_small
from lmrec.data.loaders.s3rec import load_s3rec
from lmrec.data.loaders.synthetic import make_synthetic, synthetic_truth
from lmrec.data.loaders.tabular import load_table, truncate_text
from lmrec.data.split import leave_one_out
from lmrec.errors import ConfigError, DataError

slow = pytest.mark.slow


# ----------------------------------------------------------------------------- real data sets
@slow
def test_ml100k_counts_and_known_values(ml100k):
    d = ml100k
    assert (len(d.interactions), d.n_users, d.n_items) == (100_000, 943, 1_682)
    inter = d.interactions
    row = inter[(inter["user_id"] == "196") & (inter["item_id"] == "242")]
    assert row["rating"].tolist() == [3.0]
    assert row["timestamp"].tolist() == [881250949.0]
    assert d.titles(["1", 2]) == ["Toy Story (1995)", "GoldenEye (1995)"]
    toy = d.items.set_index("item_id").loc["1"]
    assert toy["categories"] == ["Animation", "Children's", "Comedy"]
    assert toy["release_date"] == "01-Jan-1995"
    # latin-1 titles decode ("Misérables" is item 1367's title in u.item)
    assert any("é" in t for t in d.items["title"])
    user1 = d.users.set_index("user_id").loc["1"]
    assert (user1["age"], user1["gender"], user1["occupation"], user1["zip"]) == (
        24,
        "M",
        "technician",
        "85711",
    )
    assert set(inter["behaviour"].astype(str)) == {"rate"}
    assert d.has_timestamps and d.has_ratings and d.has_titles
    assert inter["timestamp"].is_monotonic_increasing


@slow
def test_ml_latest_small_counts_genres_and_tags(shared_datasets):
    d = load_ml_latest_small(shared_datasets / "ml-latest-small")
    assert len(d.interactions) == 100_836
    assert d.n_users == 610
    assert d.n_items == 9_742  # catalogue, of which 9,724 are rated
    assert d.interactions["item_id"].nunique() == 9_724
    assert d.interactions["rating"].min() == 0.5 and d.interactions["rating"].max() == 5.0
    items = d.items.set_index("item_id")
    assert items.loc["1", "title"] == "Toy Story (1995)"
    assert items.loc["1", "categories"] == [
        "Adventure",
        "Animation",
        "Children",
        "Comedy",
        "Fantasy",
    ]
    assert items.loc["60756", "text"].startswith("tags: funny, Highly quotable, will ferrell")
    assert (items["text"].str.len() <= 2000).all()
    no_genre = items[items["categories"].map(len) == 0]
    assert len(no_genre) > 0  # "(no genres listed)" gives no category


@slow
def test_instruments_counts_reviews_and_item_text(shared_datasets):
    d = load_instruments(shared_datasets / "amazon2014-musical-instruments-5core")
    inter = d.interactions
    assert (len(inter), d.n_users, d.n_items) == (10_261, 1_429, 900)
    counts = inter["rating"].value_counts().to_dict()
    assert counts == {5.0: 6_938, 4.0: 2_084, 3.0: 772, 2.0: 250, 1.0: 217}
    first = inter[(inter["user_id"] == "A2IBPI20UZIR0U") & (inter["item_id"] == "1384719342")]
    assert first["review"].iloc[0].startswith("good\nNot much to write about here")
    assert set(inter["behaviour"].astype(str)) == {"rate"}
    assert not d.has_titles
    assert (d.items["text"] != "").all()
    assert d.items["text"].str.len().max() <= 2000
    assert "item_text" in d.notes
    plain = load_instruments(
        shared_datasets / "amazon2014-musical-instruments-5core", item_text=False
    )
    assert (plain.items["text"] == "").all()


@slow
@pytest.mark.parametrize(
    ("dataset", "users", "items", "events"),
    [
        ("Beauty", 22_363, 12_101, 198_502),
        ("Toys_and_Games", 19_412, 11_924, 167_597),
        ("LastFM", 1_090, 3_646, 52_551),
    ],
)
def test_s3rec_counts_and_order(shared_datasets, dataset, users, items, events):
    d = load_s3rec(shared_datasets / "s3rec-sequential", dataset)
    assert (len(d.interactions), d.n_users, d.n_items) == (events, users, items)
    assert d.interactions["timestamp"].isna().all()
    assert d.time_order == "file"  # time-sorted sequences: leave-one-out may use file order
    assert set(d.interactions["behaviour"].astype(str)) == {"click"}
    assert all(c.startswith("attr:") for cats in d.items["categories"] for c in cats)
    if dataset == "Beauty":
        # line 1 of Beauty.txt is "1 1 2 3 4 5": file order is the sequence order
        seq = d.sequences()[d.idmap.user_index(["1"])[0]]
        assert list(d.idmap.item_ids(seq)) == ["1", "2", "3", "4", "5"]
        split = leave_one_out(d)
        assert len(split.test) == users
        user1 = split.test[split.test["user_id"] == "1"]
        assert user1["item_id"].tolist() == ["5"]
        assert d.items.set_index("item_id").loc["4", "categories"] == [
            "attr:1",
            "attr:2",
            "attr:3",
        ]


@slow
def test_jd_training_data_behaviours_and_order(shared_datasets):
    d = load_jd(shared_datasets / "jd-multibehavior-vcgae")
    counts = d.interactions["behaviour"].value_counts()
    assert (counts["view"], counts["fav"], counts["buy"]) == (217_977, 7_380, 60_967)
    assert d.n_users == 10_690 and d.n_items == 13_465
    assert d.interactions["timestamp"].isna().all()
    # per user: views, then favourites, then buys
    rank = d.interactions["behaviour"].map({"view": 0, "fav": 1, "buy": 2}).astype(int)
    assert (rank.groupby(d.interactions["user_id"]).diff().fillna(0) >= 0).all()
    assert "no training event" in d.notes["catalogue"]


@slow
def test_jd_shipped_split_keeps_every_held_out_buy(shared_datasets):
    split = load_jd_split(shared_datasets / "jd-multibehavior-vcgae")
    assert (len(split.valid), len(split.test)) == (5_892, 5_013)
    assert split.protocol == "given (JD vld_buy / tst_buy)"
    assert split.exclude_behaviours == ("buy",)
    for part in (split.valid, split.test):
        assert list(part.columns) == list(split.train.interactions.columns)
        assert set(part["behaviour"].astype(str)) == {"buy"}
        assert part["timestamp"].isna().all() and part["rating"].isna().all()
        assert (part["review"] == "").all()
    note = split.train.notes["held_out"]
    assert "734 of items with no training event kept" in note
    assert "950 of items with no training event kept" in note
    # train + valid is what the test ranking is fitted on; only buys are excluded
    exclusion = split.exclusion("test")
    assert exclusion.nnz == 60_967 + 5_892

    dropped = load_jd_split(shared_datasets / "jd-multibehavior-vcgae", cold_items="drop")
    assert (len(dropped.valid), len(dropped.test)) == (5_892 - 734, 5_013 - 950)
    with pytest.raises(ConfigError, match="cold_items"):
        load_jd_split(shared_datasets / "jd-multibehavior-vcgae", cold_items="maybe")


# ----------------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_and_complete():
    a = make_synthetic(seed=3)
    b = make_synthetic(seed=3)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert not a.interactions.equals(make_synthetic(seed=4).interactions)
    assert (a.n_users, a.n_items) == (300, 200)
    assert a.has_timestamps and a.has_ratings and a.has_titles
    assert set(a.interactions["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(set(a.interactions["behaviour"].astype(str))) >= 3
    assert a.items["title"].str.fullmatch(r"\w+ item \d+").all()
    # no item repeats within a user, no timestamp ties within a user
    assert not a.interactions.duplicated(["user_id", "item_id"]).any()
    assert not a.interactions.duplicated(["user_id", "timestamp"]).any()


def test_synthetic_truth_matches_the_data():
    data = make_synthetic(n_users=50, n_items=80, n_categories=4, seed=1)
    truth = synthetic_truth(n_users=50, n_items=80, n_categories=4, seed=1)
    assert truth.mixtures.shape == (50, 4)
    np.testing.assert_allclose(truth.mixtures.sum(axis=1), 1.0)
    assert "synthetic_truth(n_users=50" in data.notes["truth"]
    names = dict(zip(truth.item_ids, truth.item_category, strict=True))
    for item_id, cats in zip(data.items["item_id"], data.items["categories"], strict=True):
        assert cats == [truth.categories[names[item_id]]]
    # the events' category shares follow each user's true mixture (L1 well below random)
    inter = data.interactions
    cat = inter["item_id"].map(names).to_numpy()
    users = data.idmap.user_index(inter["user_id"])
    observed = np.zeros((50, 4))
    np.add.at(observed, (users, cat), 1)
    observed /= observed.sum(axis=1, keepdims=True)
    true = np.empty_like(truth.mixtures)
    true[data.idmap.user_index(truth.user_ids)] = truth.mixtures
    assert np.abs(observed - true).sum(axis=1).mean() < 0.6
    assert set(truth.mixture("1")) == set(truth.categories)


def _hit_rate_at_10(scores: np.ndarray, seen: np.ndarray, targets: np.ndarray) -> float:
    scores = np.where(seen > 0, -np.inf, scores)
    target_scores = scores[np.arange(len(targets)), targets]
    return float(((scores > target_scores[:, None]).sum(axis=1) < 10).mean())


def test_synthetic_rewards_item_item_methods_over_popularity():
    data = make_synthetic()
    split = leave_one_out(data)
    x = split.fit_data("test").matrix("binary").toarray()
    users = data.idmap.user_index(split.test["user_id"])
    targets = data.idmap.item_index(split.test["item_id"])
    popularity = np.tile(x.sum(axis=0), (len(users), 1))
    norms = np.sqrt(x.sum(axis=0)) + 1e-9
    cosine = (x.T @ x) / norms[:, None] / norms[None, :]
    np.fill_diagonal(cosine, 0.0)
    hr_pop = _hit_rate_at_10(popularity, x[users], targets)
    hr_knn = _hit_rate_at_10(x[users] @ cosine, x[users], targets)
    assert hr_knn > 2 * hr_pop + 0.1, (hr_knn, hr_pop)


def test_synthetic_rejects_impossible_sizes():
    with pytest.raises(ConfigError, match="n_items"):
        make_synthetic(n_items=3, n_categories=8)
    with pytest.raises(ConfigError, match="max_len"):
        make_synthetic(n_items=10, n_categories=2, max_len=20)


# ----------------------------------------------------------------------------- load_table
def test_load_table_recognises_common_column_names(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("UserId,movieId,Rating,Timestamp\n1,10,4.5,100\n1,11,3,50\n2,10,5,70\n")
    d = load_table(path)
    assert d.name == "ratings"
    assert d.interactions["user_id"].tolist() == ["1", "2", "1"]  # sorted by time
    assert d.interactions["rating"].tolist() == [3.0, 5.0, 4.5]
    assert set(d.interactions["behaviour"].astype(str)) == {"rate"}
    assert "user_id=UserId" in d.notes["columns"]


def test_load_table_column_mapping_keeps_zero_padded_ids(tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text("who\twhat\tkind\n007\t0042\tpv\n007\t0043\taddtocart\n008\t0042\tpurchase\n")
    d = load_table(path, {"user_id": "who", "item_id": "what", "behaviour": "kind"})
    assert d.interactions["user_id"].tolist() == ["007", "007", "008"]
    assert d.interactions["item_id"].tolist() == ["0042", "0043", "0042"]
    assert d.interactions["behaviour"].astype(str).tolist() == ["view", "cart", "buy"]
    assert d.interactions["timestamp"].isna().all()


def test_load_table_converts_iso_dates_and_milliseconds(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,item,time\na,x,2024-01-02T00:00:00Z\na,y,2024-01-01\nb,x,2024-01-03\n")
    d = load_table(path)
    assert d.interactions["timestamp"].tolist() == [1704067200.0, 1704153600.0, 1704240000.0]
    assert d.interactions["item_id"].tolist() == ["y", "x", "x"]
    assert "unix seconds" in d.notes["timestamp"]
    ms = tmp_path / "ms.csv"
    ms.write_text("user,item,timestamp\na,x,1704067200000\n")
    assert load_table(ms).interactions["timestamp"].tolist() == [1704067200.0]


def test_load_table_reads_parquet_jsonl_json_gzip_and_headerless_text(tmp_path):
    frame = pd.DataFrame({"user_id": [1, 2], "item_id": ["a", "b"], "rating": [4.0, 2.0]})
    frame.to_parquet(tmp_path / "r.parquet")
    with gzip.open(tmp_path / "r.jsonl.gz", "wt") as f:
        f.write('{"reviewerID": "u1", "asin": "a", "overall": 4}\n\n')
        f.write('{"reviewerID": "u2", "asin": "b", "overall": 2, "reviewText": "meh"}\n')
    (tmp_path / "r.json").write_text(json.dumps(frame.to_dict("records")))
    (tmp_path / "r.txt").write_text("1 a 4\n2 b 2\n")
    for name in ("r.parquet", "r.jsonl.gz", "r.json", "r.txt"):
        d = load_table(tmp_path / name)
        assert len(d.interactions) == 2 and d.n_items == 2, name
        assert d.interactions["rating"].tolist() == [4.0, 2.0], name
    assert load_table(tmp_path / "r.jsonl.gz").interactions["review"].tolist() == ["", "meh"]
    assert "by position" in load_table(tmp_path / "r.txt").notes["columns"]


def test_load_table_with_an_item_table(tmp_path):
    (tmp_path / "r.csv").write_text("user,item\n1,a\n1,b\n")
    (tmp_path / "items.csv").write_text('item,name,genres,year\na,Alpha,"Jazz|Rock",1999\n')
    d = load_table(tmp_path / "r.csv", items_path=tmp_path / "items.csv")
    items = d.items.set_index("item_id")
    assert items.loc["a", "title"] == "Alpha"
    assert items.loc["a", "categories"] == ["Jazz", "Rock"]
    assert items.loc["b", "title"] == ""  # interaction-only items join with empty text
    assert "year" in d.items.columns


def test_truncate_text_cuts_at_a_word():
    text = "word " * 1000
    out = truncate_text(text, 100)
    assert len(out) <= 100 and out.endswith("…") and "wor…" not in out
    assert truncate_text("short", 100) == "short"


# ----------------------------------------------------------------------------- bad input
def test_missing_or_misnamed_column_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("customer,thing\n1,2\n")
    with pytest.raises(DataError, match=r"bad\.csv: no column for 'user_id'.*columns=") as err:
        load_table(path)
    assert "['customer', 'thing']" in str(err.value)
    with pytest.raises(DataError, match=r"bad\.csv: column 'usr' \(given for user_id\)"):
        load_table(path, {"user_id": "usr", "item_id": "thing"})
    with pytest.raises(ConfigError, match="unknown field"):
        load_table(path, {"person": "customer"})


def test_non_numeric_rating_names_the_line_and_column(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,score\n1,2,4\n1,3,five\n")
    with pytest.raises(DataError, match=r"r\.csv: line 3, column 'score' \(rating\) has 'five'"):
        load_table(path)


def test_bad_timestamp_and_behaviour_name_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("user,item,time\n1,2,2024-01-01\n1,3,yesterday\n")
    with pytest.raises(DataError, match=r"t\.csv: line 3, column 'time' \(timestamp\)"):
        load_table(path)
    path.write_text("user,item,event\n1,2,view\n1,3,teleport\n")
    with pytest.raises(DataError, match=r"t\.csv: line 3, column 'event' \(behaviour\)"):
        load_table(path)


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        load_table(empty)
    header = tmp_path / "header.csv"
    header.write_text("user,item\n")
    with pytest.raises(DataError, match=r"header\.csv: has a header but no rows"):
        load_table(header)
    with pytest.raises(DataError, match=r"empty\.jsonl: the file is empty"):
        (tmp_path / "empty.jsonl").write_text("\n")
        load_table(tmp_path / "empty.jsonl")


def test_wrong_encoding_names_the_file_line_and_encoding_option(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("user,item,review\n1,2,ok\n1,3,Très bien\n".encode("latin-1"))
    with pytest.raises(
        DataError, match=r"latin\.csv: line 3 .*not valid utf-8.*encoding='latin-1'"
    ):
        load_table(path)
    d = load_table(path, encoding="latin-1")
    assert d.interactions["review"].tolist()[-1] == "Très bien"


def test_broken_json_line_is_named(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"user": 1, "item": 2}\n{"user": 1, "item": 3\n{"user": 2, "item": 2}\n')
    with pytest.raises(DataError, match=r"r\.jsonl: line 2 is not valid JSON"):
        load_table(path)
    path.write_text('{"user": 1, "item": 2}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"r\.jsonl: line 2 holds a JSON list"):
        load_table(path)


def test_parquet_missing_column_and_unreadable_parquet(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"user_id": ["a"], "rating": [1.0]}).to_parquet(path)
    with pytest.raises(DataError, match=r"r\.parquet: no column for 'item_id'"):
        load_table(path)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"broken\.parquet: not a readable Parquet file"):
        load_table(broken)


def test_empty_ids_unknown_suffix_and_missing_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item\n1,2\n,3\n")
    with pytest.raises(DataError, match=r"r\.csv: line 3, column 'user' is empty"):
        load_table(path)
    odd = tmp_path / "r.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"r\.xlsx: unknown table format '\.xlsx'"):
        load_table(odd)
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        load_table(tmp_path / "nope.csv")


def test_source_loaders_name_missing_files(tmp_path):
    with pytest.raises(DataError, match=r"missing file 'trn_pv\.txt\.gz'"):
        load_jd(tmp_path)
    (tmp_path / "Beauty.txt").write_text("1 1 2\n2\n")
    with pytest.raises(DataError, match=r"Beauty\.txt: line 2 has a user \('2'\) but no items"):
        load_s3rec(tmp_path, "Beauty")
