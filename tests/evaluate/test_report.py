"""Result records, tables and charts (lmrec.evaluate.report)."""

from __future__ import annotations

import io
import json
import math

import pytest
from rich.console import Console

from lmrec.errors import ConfigError, DataError
from lmrec.evaluate.report import (
    RECORD_KEYS,
    bar_chart,
    describe_protocol,
    make_record,
    metrics_by_k_table,
    metrics_table,
    peak_memory_mb,
    read_records,
    split_label,
    write_records,
)


def _record(model="ease", dataset="ml-100k", protocol="full-ranking", ndcg=0.07, **kw):
    return make_record(
        dataset=dataset,
        split=split_label("leave-one-out (file order)", "test"),
        protocol=protocol,
        model=model,
        metrics={"NDCG@10": ndcg, "Recall@10": 2 * ndcg, "HR@5": ndcg},
        train_seconds=1.23456,
        eval_seconds=0.5,
        peak_mb=123.45,
        **kw,
    )


def _render(table) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_record_has_every_key_and_lower_case_metrics():
    record = _record(extra={"command": "lmrec compare ml-100k"})
    assert list(record)[: len(RECORD_KEYS)] == list(RECORD_KEYS)
    assert record["metrics"] == {"ndcg@10": 0.07, "recall@10": 0.14, "hr@5": 0.07}
    assert record["split"] == "leave-one-out (file order)"
    assert split_label("leave-one-out (file order)", "valid") == "leave-one-out (file order), valid"
    assert record["command"] == "lmrec compare ml-100k"
    assert record["commit"] and isinstance(record["commit"], str)
    assert record["date"].endswith("+00:00")  # ISO 8601, UTC
    json.dumps(record)  # plain JSON types only


def test_extra_cannot_overwrite_record_keys():
    with pytest.raises(ConfigError, match="protocol"):
        _record(extra={"protocol": "sampled-100"})


def test_write_replaces_same_experiment_and_keeps_others(tmp_path):
    path = tmp_path / "out" / "records.json"
    write_records(path, [_record("ease", ndcg=0.07), _record("popular", ndcg=0.04)])
    # Same (dataset, split, protocol, model): replaced in place; a new protocol is a new record.
    write_records(path, [_record("ease", ndcg=0.08), _record("ease", protocol="sampled-100")])
    records = read_records(path)
    assert [(r["model"], r["protocol"]) for r in records] == [
        ("ease", "full-ranking"),
        ("popular", "full-ranking"),
        ("ease", "sampled-100"),
    ]
    assert records[0]["metrics"]["ndcg@10"] == 0.08
    assert isinstance(json.loads(path.read_text()), list)


def test_read_records_rejects_bad_files(tmp_path):
    with pytest.raises(DataError, match="no such records file"):
        read_records(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not a valid JSON"):
        read_records(bad)
    bad.write_text(json.dumps([{"model": "ease"}]))
    with pytest.raises(DataError, match="lacks"):
        read_records(bad)


def test_bar_chart_writes_a_png(tmp_path):
    records = [
        _record("popular", ndcg=0.04),
        _record("ease", ndcg=0.07),
        _record("ease", dataset="beauty", ndcg=0.045),
        _record("svd", protocol="rating") | {"metrics": {"rmse": 0.93}},  # no ndcg: left out
    ]
    path = bar_chart(records, "NDCG@10", tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bar_chart_refuses_mixed_protocols_and_missing_metric(tmp_path):
    records = [_record("ease"), _record("ease", protocol="sampled-100")]
    with pytest.raises(ConfigError, match="mix the protocols"):
        bar_chart(records, "ndcg@10", tmp_path / "x.png")
    with pytest.raises(ConfigError, match="no record has"):
        bar_chart(records, "mrr@50", tmp_path / "x.png")


def test_metrics_table_shows_the_protocol():
    rows = [_record("ease"), _record("ease", protocol="sampled-100", ndcg=0.4)]
    table = metrics_table(rows)
    headers = [c.header for c in table.columns]
    assert "protocol" in headers
    assert headers[:2] == ["model", "protocol"]  # one dataset and split: they go in the title
    assert "ndcg@10" in headers and "rmse" not in headers  # only metrics some row has
    text = _render(table)
    assert "sampled-100" in text and "full-ranking" in text and "ml-100k" in text
    several = metrics_table([_record("ease"), _record("ease", dataset="beauty")], ["ndcg@10"])
    assert [c.header for c in several.columns][:3] == ["model", "dataset", "protocol"]


def test_metrics_by_k_table_is_a_grid():
    table = metrics_by_k_table(_record())
    assert [c.header for c in table.columns] == ["metric", "@5", "@10"]
    text = _render(table)
    assert "full-ranking" in text and "ndcg" in text


def test_peak_memory_and_protocol_text():
    mb = peak_memory_mb()
    assert math.isnan(mb) or 1 < mb < 1_000_000
    assert "not comparable" in describe_protocol("sampled-100")
    assert "every item" in describe_protocol("full-ranking")
    assert "only 100 sampled items" in describe_protocol("sampled-100-repeats")
    assert "nothing is excluded" in describe_protocol("sampled-100-repeats")
    assert "left out of the metrics" in describe_protocol("full-ranking-new-items")
    assert "nothing is excluded" in describe_protocol("cold-user-repeats")


# ------------------------------------------------------------------ reproducible records
def test_record_names_the_code_that_ran():
    from lmrec.evaluate.report import code_version, startup_code_version

    record = _record()
    version = code_version()
    assert record["commit"] == startup_code_version()["commit"] == version["commit"]
    assert len(record["commit"]) == 40 and int(record["commit"], 16) >= 0  # full hash
    assert isinstance(record["dirty"], bool)


def test_dirty_means_uncommitted_changes_to_tracked_code(tmp_path):
    import subprocess

    from lmrec.evaluate.report import code_version

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "src").mkdir()
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("[]\n")
    (tmp_path / "notes.md").write_text("n\n")
    git("add", ".")
    git("commit", "-qm", "init")
    assert code_version(tmp_path)["dirty"] is False
    (tmp_path / "benchmarks" / "results" / "r.json").write_text("[1]\n")  # results: not code
    (tmp_path / "notes.md").write_text("changed\n")  # outside src/ and benchmarks/
    (tmp_path / "src" / "new.py").write_text("untracked\n")  # untracked: not what ran
    assert code_version(tmp_path)["dirty"] is False
    (tmp_path / "src" / "a.py").write_text("x = 2\n")
    version = code_version(tmp_path)
    assert version["dirty"] is True and len(version["commit"]) == 40


def test_absolute_paths_inside_the_repository_become_relative():
    from lmrec.evaluate.report import relativise, repo_root

    root = repo_root()
    assert root is not None
    record = _record(extra={"params": {"init_from": str(root / "runs" / "bench" / "x-mlm")}})
    assert record["params"]["init_from"] == "runs/bench/x-mlm"
    assert relativise({"a": ["text with / slash", 3]}, root) == {"a": ["text with / slash", 3]}


def test_absolute_paths_outside_the_repository_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"record\.params\.init_from.*absolute path"):
        _record(extra={"params": {"init_from": str(tmp_path / "elsewhere")}})


def test_stored_benchmark_records_hold_no_absolute_paths():
    import os
    from pathlib import Path

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"

    def strings(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, str):
            yield value

    files = sorted(results.glob("*.json"))
    assert files
    for path in files:
        for record in read_records(path):
            for text in strings(record):
                assert not os.path.isabs(text), f"{path.name} {record['model']}: {text}"


def test_per_user_scores_round_trip_as_json(tmp_path):
    import numpy as np

    from lmrec.evaluate.report import per_user_filename, read_per_user, write_per_user

    name = per_user_filename("ml-100k", "multi-interest-a+b", "full-ranking")
    assert name == "ml-100k__multi-interest-a+b__full-ranking.json"
    assert "/" not in per_user_filename("a/b", "m c", "p")
    scores = np.array([[0.0, 1.0, 0.5], [0.25, 1.0, 0.0]])
    path = write_per_user(
        tmp_path / name,
        dataset="ml-100k",
        split="loo",
        protocol="full-ranking",
        model="m",
        user_ids=[1, 2, 3],
        seeds=[0, 1],
        scores={"ndcg@10": scores},
    )
    body = read_per_user(path)
    assert body["user_ids"] == ["1", "2", "3"] and body["seeds"] == [0, 1]
    assert np.array_equal(body["scores"]["ndcg@10"], scores)
    json.loads(path.read_text())  # plain JSON, no pickle
    with pytest.raises(ConfigError, match="seeds × users"):
        write_per_user(
            tmp_path / "bad.json",
            dataset="d",
            split="s",
            protocol="p",
            model="m",
            user_ids=[1, 2],
            seeds=[0],
            scores={"ndcg@10": scores},
        )


def test_a_missing_per_user_file_is_a_data_error(tmp_path):
    from lmrec.evaluate.report import read_per_user

    with pytest.raises(DataError, match="no such per-user scores file"):
        read_per_user(tmp_path / "none.json")
