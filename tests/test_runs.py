"""The run directory (lmrec.runs): run.json written portable, read back, bad ones refused."""

from __future__ import annotations

import json
import os

import pytest

from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.split import split_dataset
from lmrec.errors import ModelFileError
from lmrec.models.registry import make_model
from lmrec.runs import (
    RUN_FILE,
    RunInfo,
    check_same_ids,
    load_run,
    portable_command,
    read_run,
    rebuild_split,
    save_run,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "ease"
    split = split_dataset(make_synthetic(), "loo")
    model = make_model("ease", l2=10.0).fit_split(split, "test")
    info = RunInfo(
        data="synthetic",
        split="loo",
        seed=0,
        model="ease",
        params={"l2": 10.0},
        split_protocol=split.protocol,
        fit_seconds=0.5,
        command="lmrec train synthetic --model ease",
    )
    return out, save_run(model, out, info)


def test_save_and_load_round_trip(saved):
    out, record = saved
    assert json.loads((out / RUN_FILE).read_text()) == record
    assert record["data_kind"] == "name" and record["paths_from_run_dir"] is None
    model, run = load_run(out)
    assert run.model == "ease" and run.params == {"l2": 10.0} and run.seed == 0
    name, split = rebuild_split(run)
    assert name == "synthetic"
    check_same_ids(model, split.fit_data("test"), out)
    other = split_dataset(make_synthetic(n_users=50), "loo")
    with pytest.raises(ModelFileError, match="other users or items"):
        check_same_ids(model, other.fit_data("test"), out)
    assert not (out / "curves.jsonl").exists()  # EASE has no training history


def test_path_params_are_stored_relative_to_the_run_dir(tmp_path, saved):
    """A fine-tune's init_from (any path parameter) is stored relative to its run dir."""
    out, _ = saved
    model, _ = load_run(out)
    target = tmp_path / "runs" / "ft"
    info = RunInfo(data="synthetic", split="loo", seed=0, model="ease",
                   params={"l2": 10.0, "init_from": str(out)})  # fmt: skip
    stored = save_run(model, target, info)
    assert stored["params"]["init_from"] == os.path.relpath(out, target)
    assert not os.path.isabs(stored["params"]["init_from"])
    assert read_run(target).params["init_from"] == os.path.normpath(out)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no run.json"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"data": "x"}', "lacks"),
    ],
)
def test_bad_run_dirs_are_clear_errors(tmp_path, content, needle):
    (tmp_path / "config.json").write_text("{}")
    if content is not None:
        (tmp_path / RUN_FILE).write_text(content)
    with pytest.raises(ModelFileError, match=needle):
        read_run(tmp_path)
    with pytest.raises(ModelFileError, match="no such run directory"):
        read_run(tmp_path / "missing")


def test_portable_command_makes_absolute_paths_relative(tmp_path):
    line = portable_command(
        ["lmrec", "train", str(tmp_path / "a.csv"), "--param", f"init_from={tmp_path / 'r'}"],
        cwd=tmp_path,
    )
    assert line == "lmrec train a.csv --param init_from=r"
