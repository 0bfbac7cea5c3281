"""Play-count files (user, artist, plays; no timestamps): they load with their weights,
order-dependent splits refuse them, and the weights change what ALS and EASE recommend."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmrec.data.loaders.tabular import load_table
from lmrec.data.repeats import repeat_summary
from lmrec.data.split import leave_one_out, split_dataset
from lmrec.errors import DataError
from lmrec.models import ALS, EASE, ItemKNN


def _rows() -> list[tuple[str, str, int]]:
    """User "a" plays x once and y fifty times. Six other users pair x with X2, five pair y
    with Y2: without weights x's neighbour X2 edges ahead, with them y's neighbour Y2 wins."""
    rows = [("a", "x", 1), ("a", "y", 50)]
    rows += [(f"p{n}", item, 3) for n in range(6) for item in ("x", "X2")]
    rows += [(f"q{n}", item, 3) for n in range(5) for item in ("y", "Y2")]
    rows += [(f"r{n}", item, 1) for n in range(4) for item in ("z", "Z2")]
    return sorted(rows, key=lambda r: (r[1], r[0]))  # the file is sorted by artist


def _write(path: Path, rows, header: str = "user\tartist\tplays") -> Path:
    path.write_text(header + "\n" + "".join(f"{u}\t{i}\t{w}\n" for u, i, w in rows))
    return path


def test_play_count_file_loads_weights_and_refuses_leave_one_out(tmp_path: Path):
    data = load_table(_write(tmp_path / "plays.tsv", _rows()))
    assert data.has_weights and data.time_order == "none"
    assert data.interactions.set_index(["user_id", "item_id"])["weight"][("a", "y")] == 50
    assert "no timestamp column" in data.notes["order"]
    with pytest.raises(
        DataError,
        match=r"plays: leave-one-out needs events in time order.*"
        r"use --split random",
    ):
        leave_one_out(data)
    with pytest.raises(DataError, match=r"use --split random"):
        split_dataset(data, "temporal")
    stats = repeat_summary(data)
    assert stats["weights"] is True and stats["time_order"] == "none"
    assert stats["repeat_events"] == 0.0
    assert stats["repeat_targets.loo"] == "n/a: no time order"
    assert stats["repeat_targets.random"] == 0.0
    # The column can also be named by mapping (--columns weight=mycol).
    mapped = load_table(
        _write(tmp_path / "m.tsv", _rows(), header="listener\tband\tn"),
        columns={"user_id": "listener", "item_id": "band", "weight": "n"},
    )
    assert mapped.has_weights


@pytest.mark.parametrize(
    "model",
    [ALS(factors=8, regularization=0.1, alpha=5.0, iterations=30), EASE(l2=1.0), ItemKNN(k=10)],
)
def test_weights_change_the_recommendations(tmp_path: Path, model):
    weighted = load_table(_write(tmp_path / "plays.tsv", _rows()))
    bare = tmp_path / "bare.tsv"
    bare.write_text("user\tartist\n" + "".join(f"{u}\t{i}\n" for u, i, _ in _rows()))
    binary = load_table(bare)
    assert not binary.has_weights
    top_weighted = model.fit(weighted).recommend("a", k=1)[0][0]
    top_binary = model.fit(binary).recommend("a", k=1)[0][0]
    assert (top_binary, top_weighted) == ("X2", "Y2")


def test_weighted_models_save_and_load_their_rows(tmp_path: Path):
    from lmrec.models import load

    data = load_table(_write(tmp_path / "plays.tsv", _rows()))
    for model in (EASE(l2=1.0), ItemKNN(k=10)):
        model.fit(data).save(tmp_path / model.model_type)
        again = load(tmp_path / model.model_type)
        assert (again.score(["a"]) == model.score(["a"])).all()
        assert again.recommend("a", k=1)[0][0] == "Y2"


@pytest.mark.parametrize(("value", "shown"), [("-2", "-2"), ("lots", "'lots'"), ("", "nan")])
def test_bad_weights_name_the_file_column_and_line(tmp_path: Path, value, shown):
    rows = [("a", "x", 1), ("a", "y", value), ("b", "x", 2)]
    path = tmp_path / "bad.tsv"
    path.write_text("user\titem\tplaycount\n" + "".join(f"{u}\t{i}\t{w}\n" for u, i, w in rows))
    with pytest.raises(DataError, match=r"bad.tsv: line 3, column 'playcount' \(weight\)"):
        load_table(path)
