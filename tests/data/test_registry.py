"""The data-set registry: names, the search order for folders, and its error messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lmrec.data import registry
from lmrec.data.registry import (
    DATASETS,
    dataset_names,
    find_dataset,
    load_dataset,
    load_given_split,
    search_dirs,
)
from lmrec.errors import ConfigError, DataError

NAMES = [
    "ml-100k",
    "ml-latest-small",
    "instruments",
    "beauty",
    "toys",
    "lastfm",
    "jd",
    "synthetic",
    "synthetic-repeats",
]


def _tiny_ml100k(folder: Path, n_ratings: int) -> Path:
    """A 1-movie ML-100K look-alike with ``n_ratings`` ratings (tells copies apart)."""
    folder.mkdir(parents=True)
    lines = "".join(f"{u}\t1\t4\t{880000000 + u}\n" for u in range(1, n_ratings + 1))
    (folder / "u.data").write_text(lines)
    (folder / "u.item").write_text(
        "1|Tiny (1999)|01-Jan-1999||http://x|" + "|".join("0" * 19) + "\n"
    )
    (folder / "u.user").write_text("1|30|F|other|12345\n")
    return folder


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """No data set anywhere: a fresh working directory, no env var, no repository fallback."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    monkeypatch.setattr(registry, "_REPO_ROOT", tmp_path / "nowhere" / "repo")
    return tmp_path


def test_one_table_of_frozen_specs():
    assert dataset_names() == NAMES
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.description
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.name = "other"  # type: ignore[misc]
    assert [n for n, s in DATASETS.items() if s.split_loader is not None] == ["jd"]


@pytest.mark.slow
def test_finds_every_shared_data_set_from_the_repository(shared_datasets):
    for name in NAMES:
        folder = find_dataset(name)
        if name.startswith("synthetic"):
            assert folder is None
        else:
            assert folder is not None and folder.resolve().parent == shared_datasets


def test_search_order_data_dir_then_env_then_cwd_data(isolated, monkeypatch):
    explicit = _tiny_ml100k(isolated / "explicit" / "ml-100k", 3)
    env = _tiny_ml100k(isolated / "env" / "ml-100k", 4)
    local = _tiny_ml100k(isolated / "work" / "data" / "ml-100k", 5)
    monkeypatch.setenv(registry.ENV_VAR, str(isolated / "env"))
    assert find_dataset("ml-100k", isolated / "explicit") == explicit
    assert len(load_dataset("ml-100k", data_dir=isolated / "explicit").interactions) == 3
    assert find_dataset("ml-100k") == env
    assert len(load_dataset("ML-100K").interactions) == 4  # names are case-insensitive
    monkeypatch.delenv(registry.ENV_VAR)
    assert find_dataset("ml-100k") == local
    dirs = search_dirs(isolated / "explicit")
    assert dirs[0] == isolated / "explicit" and dirs[1] == Path.cwd() / "data"


def test_data_dir_may_be_the_data_set_folder_itself(isolated):
    folder = _tiny_ml100k(isolated / "downloads" / "my-ml", 2)
    assert find_dataset("ml-100k", folder) == folder
    d = load_dataset("ml-100k", folder)
    assert d.name == "ml-100k" and d.titles(["1"]) == ["Tiny (1999)"]


def test_shared_datasets_beside_the_working_directory(isolated):
    _tiny_ml100k(isolated / "shared" / "datasets" / "ml-100k", 6)  # cwd is isolated/work
    assert len(load_dataset("ml-100k").interactions) == 6


def test_not_found_lists_the_folders_searched_and_the_fix(isolated):
    assert find_dataset("beauty") is None
    with pytest.raises(DataError, match="'beauty' not found") as err:
        load_dataset("beauty")
    message = str(err.value)
    assert str(Path.cwd() / "data" / "s3rec-sequential") in message
    assert "LMREC_DATA_DIR" in message and "--data" in message


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError, match=r"unknown data set 'movielens'.*ml-100k.*synthetic"):
        load_dataset("movielens")
    with pytest.raises(DataError, match="unknown data set"):
        find_dataset("movielens")
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        load_dataset("nope.csv")


def test_missing_data_dir_is_an_error(isolated):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("ml-100k", data_dir=isolated / "typo")


def test_a_file_path_goes_to_load_table(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("who,what\n1,a\n2,b\n")
    d = load_dataset(str(path), columns={"user_id": "who", "item_id": "what"})
    assert d.name == "mine" and len(d.interactions) == 2
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(str(tmp_path))
    with pytest.raises(ConfigError, match="columns applies to table files only"):
        load_dataset("synthetic", columns={"user_id": "who"})


def test_synthetic_needs_no_files(isolated):
    d = load_dataset("synthetic")
    assert d.name == "synthetic" and d.n_users == 300
    assert d.summary()["repeat_events"] == 0.0


def test_synthetic_repeats_has_a_known_share_of_repeat_events(isolated):
    d = load_dataset("synthetic-repeats")
    assert d.name == "synthetic-repeats" and d.n_users == 300 and d.time_order == "timestamps"
    # Each event after a user's first repeats an own item with probability 0.3.
    assert 0.25 < d.summary()["repeat_events"] < 0.30


def test_given_split_only_for_jd(isolated):
    with pytest.raises(ConfigError, match=r"'ml-100k' ships no split; only \['jd'\]"):
        load_given_split("ml-100k")
    with pytest.raises(DataError, match="'jd' not found"):
        load_given_split("jd")
    with pytest.raises(DataError, match="unknown data set"):
        load_given_split("tmall")
