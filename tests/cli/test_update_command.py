"""``lmrec update``: a Transformer run trained further on an events file, written as a new
run that serves, with bad input refused and nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_user_error, lmrec, ok

from lmrec.data.loaders.synthetic import make_synthetic

SMALL = ["--param", "epochs=2", "--param", "dim=16", "--param", "max_len=10"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """base.csv (the first 85% of time, items 101-120 held back), new.csv (the rest),
    items.csv (every item's title and genre), and a Transformer run trained on base.csv."""
    root = tmp_path_factory.mktemp("update")
    world = make_synthetic(n_users=120, n_items=120, seed=2)
    inter = world.interactions[["user_id", "item_id", "timestamp", "behaviour"]]
    cut = inter["timestamp"].quantile(0.85)
    held = inter["item_id"].astype(int) > 100
    inter[(inter["timestamp"] <= cut) & ~held].to_csv(root / "base.csv", index=False)
    inter[inter["timestamp"] > cut].to_csv(root / "new.csv", index=False)
    items = world.items.assign(categories=world.items["categories"].map("|".join))
    items[["item_id", "title", "categories"]].to_csv(root / "items.csv", index=False)
    ok("train", root / "base.csv", "--model", "transformer", "--out", root / "run", *SMALL)
    return {"root": root, "base": root / "base.csv", "new": root / "new.csv",
            "items": root / "items.csv", "run": root / "run"}  # fmt: skip


def test_update_writes_a_new_run_with_new_users_and_items(files):
    out = files["root"] / "run2"
    args = ["--events", files["new"], "--items", files["items"], "--out", out, "--epochs", "1"]
    summary = json.loads(ok("update", files["run"], *args, "--json").stdout)
    arriving = _new_items(files["new"])
    assert summary["new_items"] == len(arriving) > 10 and summary["events"] > 0
    run = json.loads((out / "run.json").read_text())
    (update,) = run["updates"]
    assert update["events_file"].endswith("new.csv") and update["new_items"] == len(arriving)
    assert update["events_file_from_run"] == "../new.csv"
    assert not any(p.name.startswith(".run2") for p in files["root"].iterdir())  # no leftovers
    old = json.loads((files["run"] / "run.json").read_text())
    assert "updates" not in old or old["updates"] is None  # RUN is left as it was
    new_item_user = _a_user_of_new_items(files["new"])
    rows = json.loads(ok("recommend", out, "--user", new_item_user, "--json").stdout)["items"]
    assert len(rows) == 10
    assert "new events" in lmrec("evaluate", out).stderr  # refused: its split's test leaked
    assert_user_error(lmrec("evaluate", out))
    # the run's data (fit data + update events) rebuilds on the grown id map: it serves
    from lmrec.runs import fitted_data, load_run

    model, info = load_run(out)
    data = fitted_data(model, info, out)
    assert data.n_items == model.idmap_.n_items
    assert "item 101" in data.titles(["101"])[0]


def _new_items(path: Path) -> set[int]:
    import pandas as pd

    items = pd.read_csv(path)["item_id"]
    return set(items[items > 100])


def _a_user_of_new_items(path: Path) -> str:
    import pandas as pd

    frame = pd.read_csv(path)
    return str(frame.loc[frame["item_id"] > 100, "user_id"].iloc[0])


def test_update_refuses_bad_input_and_writes_nothing(files, tmp_path, monkeypatch):
    run, new = files["run"], files["new"]
    assert_user_error(lmrec("update", run, "--events", files["base"], "--out", tmp_path / "a"))
    assert not (tmp_path / "a").exists()  # events older than the model's: refused
    assert_user_error(
        lmrec("update", run, "--events", tmp_path / "nope.csv", "--out", tmp_path / "b")
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert_user_error(lmrec("update", run, "--events", new, "--out", tmp_path / "full"))
    assert_user_error(lmrec("update", run, "--events", new, "--out", run))
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp,behaviour\n1,2,2000000000,teleport\n")
    result = lmrec("update", run, "--events", bad, "--out", tmp_path / "c")
    assert_user_error(result)
    assert "line 2" in result.stderr or "row" in result.stderr
    ease = tmp_path / "ease"
    ok("train", files["base"], "--model", "popular", "--out", ease)
    result = lmrec("update", ease, "--events", new, "--out", tmp_path / "d")
    assert_user_error(result)
    assert "popular" in result.stderr
    # a crash while writing leaves no OUT, and no temporary directory behind
    from lmrec import runs

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "_rewrite_config_paths", crash)
    with pytest.raises(KeyboardInterrupt):
        model, info = runs.load_run(run)
        runs.save_run_atomically(model, tmp_path / "e", info)
    assert not (tmp_path / "e").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".e.")]
