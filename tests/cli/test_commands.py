"""The ``lmrec`` commands, run for real on the synthetic data set (and ml-100k if staged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import RUN_FILES, assert_user_error, lmrec, ok

from lmrec.data.registry import find_dataset
from lmrec.evaluate.report import RECORD_KEYS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ease"
    ok("train", "synthetic", "--model", "ease", "--param", "l2=50", "--seed", "3", "--out", out)
    return out


# --------------------------------------------------------------------------- happy paths
def test_train_writes_a_self_describing_run_dir(run_dir):
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    run = json.loads((run_dir / "run.json").read_text())
    assert run["data"] == "synthetic" and run["split"] == "loo" and run["seed"] == 3
    assert run["model"] == "ease" and run["params"] == {"l2": 50.0}  # converted to float
    assert run["split_protocol"].startswith("leave-one-out")
    assert run["fit_seconds"] >= 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_type"] == "ease" and config["params"]["l2"] == 50.0


def test_evaluate_table_and_json(run_dir):
    table = ok("evaluate", run_dir).stdout
    assert "full-ranking" in table and "ndcg" in table and "@20" in table
    records = json.loads(ok("evaluate", run_dir, "--json").stdout)
    assert len(records) == 1
    record = records[0]
    assert set(RECORD_KEYS) <= set(record)
    assert record["protocol"] == "full-ranking" and record["split"].startswith("leave-one-out")
    for family in ("hr", "recall", "precision", "f1", "ndcg", "mrr", "coverage"):
        for k in (5, 10, 20):
            assert 0 <= record["metrics"][f"{family}@{k}"] <= 1
    # Item-item structure makes EASE clearly better than chance on the synthetic data.
    assert record["metrics"]["ndcg@10"] > 0.1


def test_evaluate_on_valid_refits_and_says_so(run_dir):
    result = ok("evaluate", run_dir, "--on", "valid", "--json")
    assert "refits" in result.stderr
    (record,) = json.loads(result.stdout)
    assert record["split"].endswith(", valid")


def test_evaluate_with_negatives_is_labelled_sampled(run_dir):
    (record,) = json.loads(ok("evaluate", run_dir, "--negatives", "20", "--json").stdout)
    assert record["protocol"] == "sampled-20"
    assert "SAMPLED" in ok("evaluate", run_dir, "--negatives", "20").stdout


def test_recommend_with_titles(run_dir):
    out = json.loads(ok("recommend", run_dir, "--user", "1", "-k", "5", "--json").stdout)
    assert out["user"] == "1" and len(out["items"]) == 5
    assert [r["rank"] for r in out["items"]] == [1, 2, 3, 4, 5]
    assert all(r["title"] for r in out["items"])  # synthetic items have titles
    scores = [r["score"] for r in out["items"]]
    assert scores == sorted(scores, reverse=True)
    table = ok("recommend", run_dir, "--user", "1").stdout
    assert out["items"][0]["title"] in table


def test_compare_with_plot_and_records(tmp_path):
    plot, records = tmp_path / "chart.png", tmp_path / "records.json"
    args = ["compare", "synthetic", "--models", "popular,ease,svd", "--param", "ease.l2=50"]
    result = ok(*args, "--plot", plot, "--records", records)
    assert "full-ranking" in result.stdout and "rating" in result.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(records.read_text())
    assert {(r["model"], r["protocol"]) for r in saved} == {
        ("popular", "full-ranking"),
        ("ease", "full-ranking"),
        ("svd", "full-ranking"),
        ("svd", "rating"),
    }
    for record in saved:
        assert set(RECORD_KEYS) <= set(record)
        assert record["dataset"] == "synthetic"
    rating = next(r for r in saved if r["protocol"] == "rating")
    assert 0 < rating["metrics"]["rmse"] < 2
    as_json = json.loads(ok("compare", "synthetic", "--models", "popular", "--json").stdout)
    assert [r["model"] for r in as_json] == ["popular"]


def test_data_list(tmp_path):
    rows = json.loads(ok("data", "list", "--json").stdout)
    names = {r["name"] for r in rows}
    assert {"ml-100k", "synthetic", "jd"} <= names
    assert "synthetic" in ok("data", "list").stdout


def test_data_info_on_a_file(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("uid,mid,stars\n1,a,5\n1,b,3\n2,a,4\n")
    cols = "user_id=uid,item_id=mid,rating=stars"
    info = json.loads(ok("data", "info", path, "--columns", cols, "--json").stdout)
    assert info["interactions"] == 3 and info["users"] == 2 and info["ratings"] is True
    semi = tmp_path / "events.txt"
    semi.write_text("user;item\n1;a\n2;b\n")
    assert json.loads(ok("data", "info", semi, "--sep", ";", "--json").stdout)["users"] == 2


def test_data_info_and_compare_on_repeat_data(tmp_path):
    """A file where users come back to items: data info says how many repeats each split has;
    compare names the mode, notes the repeat targets by default, and --protocol repeats
    ranks them."""
    rows = ["user,item,ts"]
    for u in range(12):
        items = [f"i{(u + k) % 7}" for k in range(5)] + [f"i{u % 7}"]  # last event: a repeat
        rows += [f"u{u},{item},{t}" for t, item in enumerate(items)]
    path = tmp_path / "repeats.csv"
    path.write_text("\n".join(rows) + "\n")
    info = json.loads(ok("data", "info", path, "--json").stdout)
    assert info["time_order"] == "timestamps" and info["repeat_events"] > 0
    assert info["repeat_targets.loo"] == 1.0  # every last event repeats an earlier item
    default = lmrec("compare", path, "--models", "popular,repeat", "--json")
    assert default.exit_code == 2 and "Traceback" not in default.output
    assert "--protocol repeats" in default.stderr.strip().splitlines()[-1]
    out = ok("compare", path, "--models", "popular,repeat", "--protocol", "repeats", "--json")
    records = {r["model"]: r for r in json.loads(out.stdout)}
    assert {r["protocol"] for r in records.values()} == {"full-ranking-repeats"}
    assert records["repeat"]["repeat_targets"] == 12
    assert records["repeat"]["metrics"]["hr@10"] == 1.0  # "play it again" finds every target
    assert_user_error(lmrec("compare", path, "--models", "popular", "--protocol", "sometimes"))


@pytest.mark.skipif(find_dataset("ml-100k") is None, reason="ml-100k is not staged")
def test_data_info_ml100k():
    info = json.loads(ok("data", "info", "ml-100k", "--json").stdout)
    assert info["interactions"] == 100_000 and info["users"] == 943 and info["items"] == 1682
    assert "interactions" in ok("data", "info", "ml-100k").stdout


def test_demo_falls_back_to_synthetic_and_saves_a_run(tmp_path, monkeypatch):
    """Without ml-100k the demo says so and runs the same job on the synthetic data set."""
    import lmrec.data.registry as registry

    monkeypatch.setattr(registry, "search_dirs", lambda data_dir=None: [tmp_path / "nowhere"])
    out = tmp_path / "demo"
    cache = tmp_path / "cache"
    monkeypatch.setenv("LMREC_CACHE_DIR", str(cache))
    result = ok("demo", "--out", out, "--epochs", "2", "--json")
    report = json.loads(result.stdout)
    assert report["synthetic_fallback"] is True and report["dataset"] == "synthetic"
    assert "SYNTHETIC" in result.stderr
    assert [r["model"] for r in report["records"]] == ["ease", "transformer"]
    assert all(r["protocol"] == "full-ranking" for r in report["records"])
    assert report["transformer"]["params"]["fusion"] == "add"
    assert report["transformer"]["epochs_run"] <= 2
    assert any(cache.rglob("*")), "the item texts were encoded into LMREC_CACHE_DIR"
    shown = report["user"]
    categories = shown["interests"]["categories"]
    assert 1 <= len(categories) <= 5
    probs = [c["p"] for c in categories]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert len(shown["items"]) == 10 and all(r["title"] for r in shown["items"])
    for name in (*RUN_FILES, "curves.jsonl"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == "transformer" and run["data"] == "synthetic"
    again = json.loads(ok("recommend", out, "--user", shown["user"], "--json").stdout)
    assert again["items"] == shown["items"]


@pytest.mark.slow
@pytest.mark.skipif(
    find_dataset("ml-100k") is None or not os.environ.get("LMREC_FULL_DEMO"),
    reason="the full demo (~2-3 min) runs with LMREC_FULL_DEMO=1 and ml-100k staged",
)
def test_full_demo_beats_ease_on_ml100k(tmp_path):
    """What `make demo` runs: the Transformer with item text beats EASE on ml-100k's test."""
    report = json.loads(ok("demo", "--out", tmp_path / "demo", "--json").stdout)
    assert report["dataset"] == "ml-100k" and report["synthetic_fallback"] is False
    ndcg = {r["model"]: r["metrics"]["ndcg@10"] for r in report["records"]}
    assert ndcg["transformer"] > ndcg["ease"] > 0.05


# --------------------------------------------------------------------------- user errors
def test_unknown_data_set():
    assert_user_error(lmrec("data", "info", "no-such-data-set"))


def test_unknown_model(tmp_path):
    result = lmrec("train", "synthetic", "--model", "nope", "--out", tmp_path / "r")
    assert_user_error(result)
    assert "ease" in result.stderr  # the message lists the known models


@pytest.mark.parametrize(
    ("param", "needle"), [("l2=abc", "l2"), ("lambda=1", "lambda"), ("l2", "key=value")]
)
def test_bad_param(tmp_path, param, needle):
    result = lmrec("train", "synthetic", "--model", "ease", "--param", param, "--out", tmp_path)
    assert_user_error(result)
    assert needle in result.stderr


def test_unknown_user(run_dir):
    result = lmrec("recommend", run_dir, "--user", "nobody")
    assert_user_error(result)
    assert "nobody" in result.stderr


def test_misnamed_column(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("customer_name,thing\n1,a\n2,b\n")
    assert_user_error(lmrec("data", "info", path))
    result = lmrec("data", "info", path, "--columns", "user_id=customer,item_id=thing")
    assert_user_error(result)
    assert "customer" in result.stderr


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert_user_error(lmrec("data", "info", path))


def test_unknown_flag_and_bad_options(run_dir):
    result = lmrec("train", "synthetic", "--model", "ease", "--out", "x", "--bogus")
    assert_user_error(result)
    assert "--bogus" in result.stderr
    assert_user_error(lmrec("evaluate", run_dir, "--on", "train"))
    assert_user_error(lmrec("compare", "synthetic", "--split", "weekly"))
    assert_user_error(lmrec("evaluate", run_dir.parent / "missing"))


def test_console_script_reports_errors_in_one_line(tmp_path):
    """The installed entry point (not only the in-process runner) exits 2 without a traceback."""
    script = Path(sys.executable).with_name("lmrec")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lmrec"]
    missing = tmp_path / "missing.csv"
    proc = subprocess.run(
        [*command, "data", "info", str(missing)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: ") and "missing.csv" in line
    assert proc.stdout == ""


def test_pretrain_finetune_lora_and_interests(tmp_path, run_dir):
    pre, ft, png = tmp_path / "pre", tmp_path / "ft", tmp_path / "interests.png"
    small = ["--param", "epochs=3", "--param", "dim=16", "--param", "max_len=10"]
    ok("pretrain", "synthetic", "--out", pre, *small)
    assert json.loads((pre / "config.json").read_text())["params"]["objective"] == "masked"
    ok("finetune", pre, "--out", ft, "--mode", "lora", "--param", "epochs=2")
    params = json.loads((ft / "config.json").read_text())["params"]
    assert params["finetune_mode"] == "lora" and params["objective"] == "causal"
    assert params["init_from"] == "../pre"  # relative to the run directory, never absolute
    assert json.loads((ft / "run.json").read_text())["params"]["init_from"] == "../pre"
    # int8 serving of a LoRA run: adapters are folded into their layers first.
    ok("compress", ft, "--out", tmp_path / "ft-int8", "--quantize", "int8")
    assert (
        len(
            json.loads(ok("recommend", tmp_path / "ft-int8", "--user", "1", "--json").stdout)[
                "items"
            ]
        )
        == 10
    )
    out = json.loads(
        ok("interests", ft, "--user", "1", "--top", "4", "--plot", png, "--json").stdout
    )
    assert len(out["categories"]) == 4 and png.stat().st_size > 0
    probs = [c["p"] for c in out["categories"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # Bad input: fine-tuning a non-transformer run, interests of a model without them.
    assert_user_error(lmrec("finetune", run_dir, "--out", tmp_path / "x"))
    assert_user_error(lmrec("interests", run_dir, "--user", "1"))
    assert_user_error(lmrec("finetune", pre, "--out", tmp_path / "y", "--mode", "half"))


def test_train_with_text_and_similar_items(tmp_path, run_dir):
    out = tmp_path / "gate"
    fast = []
    for pair in ("dim=16", "heads=1", "layers=1", "max_len=10", "epochs=2", "batch_size=128",
                 f"text_cache_dir={tmp_path / 'cache'}"):  # fmt: skip
        fast += ["--param", pair]
    ok("train", "synthetic", "--model", "transformer", "--text", "gate", "--out", out, *fast)
    run = json.loads((out / "run.json").read_text())
    assert run["params"]["fusion"] == "gate"
    result = ok("similar-items", out, "--item", "1", "-k", "4", "--json")
    rows = json.loads(result.stdout)["items"]
    assert len(rows) == 4 and all(r["item_id"] != "1" for r in rows)
    assert all(-1 <= r["similarity"] <= 1 for r in rows)
    ok("similar-items", run_dir, "--item", "1")  # models without vectors use co-occurrence
    assert_user_error(lmrec("similar-items", out, "--item", "no-such-item"))
    assert_user_error(lmrec("train", "synthetic", "--model", "ease", "--text", "add", "--out",
                            tmp_path / "x"))  # fmt: skip
    bad = lmrec("train", "synthetic", "--model", "transformer", "--text-model", tmp_path / "nope",
                "--out", tmp_path / "y", *fast)  # fmt: skip
    assert_user_error(bad)
    assert "nope" in bad.stderr


def test_train_multi_interest_and_show_source_weights(tmp_path, run_dir):
    """Views and buys from a CSV, fixed weights 3:1, and the per-user weights on the CLI."""
    lines = ["user_id,item_id,behaviour,timestamp"]
    for u in range(30):
        for t in range(6):
            behaviour = "buy" if t % 3 == 2 else "view"
            lines.append(f"u{u},i{(u * 7 + t * 3) % 25},{behaviour},{t}")
    lines.append("u_views,i1,view,0")
    lines.append("u_views,i2,view,1")
    csv = tmp_path / "events.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "multi"
    params = ["--param", "sources=behaviour:view,behaviour:buy",
              "--param", "source_weighting=fixed",
              "--param", "source_weights=behaviour:view=3,behaviour:buy=1",
              "--param", "epochs=2", "--param", "dim=8"]  # fmt: skip
    ok("train", csv, "--model", "multi-interest", "--out", out, "--split", "random", *params)
    result = ok("sources", out, "--user", "u3", "--user", "u_views", "--json")
    users = json.loads(result.stdout)["users"]
    assert users["u3"] == pytest.approx({"behaviour:view": 0.75, "behaviour:buy": 0.25})
    assert users["u_views"] == pytest.approx({"behaviour:view": 1.0, "behaviour:buy": 0.0})
    assert "behaviour:view" in ok("sources", out, "--user", "u3").stdout
    assert_user_error(lmrec("sources", out, "--user", "nobody"))
    assert_user_error(lmrec("sources", run_dir, "--user", "1"))  # an EASE run has no sources
    bad = lmrec("train", csv, "--model", "multi-interest", "--out", tmp_path / "bad",
                "--param", "sources=behaviour:fav")  # fmt: skip
    assert bad.exit_code == 2 and "Traceback" not in bad.output  # after "fitting …" on stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "behaviour:fav" in bad.stderr


def test_train_a_transformer_with_a_rating_source_and_show_its_weights(tmp_path):
    """Ratings as an event feature, fixed weights 1:3, shown per user on the CLI."""
    lines = ["user_id,item_id,rating,timestamp"]
    for u in range(30):
        for t in range(6):
            lines.append(f"u{u},i{(u * 7 + t * 3) % 25},{1 + (u + t) % 5},{t}")
    csv = tmp_path / "ratings.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "sourced"
    params = ["--param", "sources=rating", "--param", "source_weighting=fixed",
              "--param", "source_weights=behaviour=1,rating=3",
              "--param", "epochs=2", "--param", "dim=8", "--param", "progress=false"]  # fmt: skip
    ok("train", csv, "--model", "transformer", "--out", out, *params)
    users = json.loads(ok("sources", out, "--user", "u3", "--json").stdout)["users"]
    assert users["u3"] == pytest.approx({"behaviour": 0.25, "rating": 0.75})
    bad = lmrec("train", csv, "--model", "transformer", "--out", tmp_path / "bad",
                "--param", "sources=rating,mood")  # fmt: skip
    assert_user_error(bad)
    assert "unknown source 'mood'" in bad.stderr


# --------------------------------------------------------------------------- run directories
def test_evaluate_needs_run_json(tmp_path, run_dir):
    """A model directory without run.json cannot be evaluated: one line, exit 2."""
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(run_dir, bare)
    (bare / "run.json").unlink()
    result = lmrec("evaluate", bare)
    assert_user_error(result)
    assert "run.json" in result.stderr
    ok("recommend", bare, "--user", "1")  # the model itself still loads


def _strings(obj: object):
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)
    elif isinstance(obj, str):
        yield obj


def test_run_dir_stores_no_absolute_path_and_moves_with_its_data(tmp_path, monkeypatch):
    """A data file is stored relative to the cwd and to the run dir; the pair can move."""
    import shutil

    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    events = [f"u{u},i{(u * 3 + t) % 12},{t}" for u in range(20) for t in range(6)]
    lines = ["user,item,ts", *events]
    (work / "data" / "events.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(work)
    out = work / "runs" / "ease"  # an absolute --out: the command line is stored relative
    result = ok("train", "data/events.csv", "--model", "ease", "--out", out)
    assert "relative to this directory" in " ".join(result.stderr.split())  # rich wraps
    run = json.loads((out / "run.json").read_text())
    assert run["data"] == "data/events.csv" and run["data_kind"] == "file"
    assert run["paths_from_run_dir"] == {"data": "../../data/events.csv"}
    for text in [*_strings(run), *_strings(json.loads((out / "config.json").read_text()))]:
        assert not os.path.isabs(text), text
    assert str(tmp_path) not in run["command"]
    before = json.loads(ok("evaluate", out, "--json").stdout)[0]["metrics"]
    moved = tmp_path / "elsewhere"
    shutil.copytree(work, moved)
    monkeypatch.chdir(tmp_path)  # data/events.csv is not found from here: via the run dir
    after = json.loads(ok("evaluate", moved / "runs" / "ease", "--json").stdout)[0]["metrics"]
    assert after == before
    (moved / "data" / "events.csv").unlink()
    result = lmrec("evaluate", moved / "runs" / "ease")
    assert_user_error(result)
    assert "events.csv" in result.stderr


TINY_TRANSFORMER = ["epochs=3", "dim=16", "heads=1", "layers=1", "max_len=10", "batch_size=128"]


def test_plot_draws_the_training_curves_of_a_transformer_run(tmp_path, run_dir):
    out = tmp_path / "tf"
    params = [arg for pair in TINY_TRANSFORMER for arg in ("--param", pair)]
    ok("train", "synthetic", "--model", "transformer", "--out", out, *params)
    rows = [json.loads(line) for line in (out / "curves.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    png = tmp_path / "curves.png"
    result = ok("plot", out, "--out", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "3 epochs" in result.stdout and "best validation NDCG@10" in result.stdout
    report = json.loads(ok("plot", out, "--json").stdout)
    assert report["chart"] == str(out / "curves.png") and (out / "curves.png").is_file()
    assert [r["loss"] for r in report["epochs"]] == [r["loss"] for r in rows]
    result = lmrec("plot", run_dir)  # EASE is not trained epoch by epoch: no curves
    assert_user_error(result)
    assert "curves.jsonl" in result.stderr


# --------------------------------------------------------------------------- diversity
def test_diversity_sweeps_a_knob_and_writes_a_plot(run_dir, tmp_path):
    png = tmp_path / "dpp.png"
    result = ok("diversity", run_dir, "--method", "dpp", "--knobs", "0,0.3", "--plot", png)
    assert "dpp re-ranking of ease" in result.stdout and "ild@10" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads(
        ok("diversity", run_dir, "--method", "mmr", "--knobs", "0,0.5", "--json").stdout
    )["sweep"]
    assert [r["knob"] for r in rows] == [0.0, 0.5]
    assert rows[1]["ild@10"] > rows[0]["ild@10"]
    swept = json.loads(
        ok(*("diversity", run_dir, "--method", "calibrated", "--knobs", "0,0.5"),
           *("--relevance", "probabilities", "--json")).stdout
    )  # fmt: skip
    assert swept["relevance"] == "probabilities" and len(swept["sweep"]) == 2
    # ten candidates into a list of ten: any knob only reorders the model's top 10
    few = json.loads(
        ok(*("diversity", run_dir, "--method", "dpp", "--knobs", "0,0.9"),
           *("--candidates", "10", "--json")).stdout
    )["sweep"]  # fmt: skip
    assert few[0]["recall@10"] == few[1]["recall@10"]
    assert few[0]["ild@10"] != few[1]["ild@10"] or few[0]["ndcg@10"] != few[1]["ndcg@10"]


def test_diversity_default_knobs_are_the_experiments():
    import inspect

    from lmrec.cli.diversity import diversity
    from lmrec.rerank.experiment import DEFAULT_KNOBS

    default = inspect.signature(diversity).parameters["knobs"].default
    assert [float(k) for k in default.split(",")] == list(DEFAULT_KNOBS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--method", "shuffle"), "method must be one of mmr, dpp, calibrated"),
        (("--knobs", "0,2"), r"diversity must be in [0, 1]"),
        (("--knobs", "0,lots"), "--knobs must be comma-separated numbers"),
        (("--space", "pixels"), "--space must be one of categories, text"),
        (("--relevance", "logits"), "relevance must be one of scores, probabilities"),
        (("--candidates", "5"), "cannot re-rank 5 candidates into a list of 10"),
    ],
)
def test_diversity_bad_input_is_one_line(run_dir, args, message):
    result = lmrec("diversity", run_dir, *args)
    assert_user_error(result)
    assert message in result.stderr


def test_interests_multi_lists_labelled_interests(run_dir):
    user = "1"
    out = json.loads(ok("interests", run_dir, "--user", user, "--multi", "--json").stdout)
    weights = [i["weight"] for i in out["interests"]]
    assert 1 <= len(weights) <= 4 and abs(sum(weights) - 1) < 1e-9
    assert all(i["categories"] and i["history"] for i in out["interests"])
    table = ok("interests", run_dir, "--user", user, "--multi").stdout
    assert "interests (weights sum to 1)" in table
    bad = lmrec("interests", run_dir, "--user", user, "--multi", "--space", "x")
    assert_user_error(bad)
    assert "item space must be one of categories, text" in bad.stderr


def test_compress_writes_an_int8_pruned_run_and_refuses_bad_input(tmp_path, run_dir):
    small = ["--param", "epochs=2", "--param", "dim=16", "--param", "max_len=10"]
    src, out = tmp_path / "tf", tmp_path / "tf-int8"
    ok("train", "synthetic", "--model", "transformer", "--out", src, *small)
    summary = json.loads(
        ok("compress", src, "--out", out, "--quantize", "int8", "--prune", "0.3", "--json").stdout
    )
    assert summary["quantize"] == "int8" and summary["zero_share"] >= 0.3
    run = json.loads((out / "run.json").read_text())
    assert run["params"]["quantize"] == "int8" and run["params"]["prune"] == 0.3
    assert run["command"]  # the command line that made it (pytest's own, in-process)
    assert json.loads((src / "config.json").read_text())["params"]["quantize"] is None
    rows = json.loads(ok("recommend", out, "--user", "1", "--json").stdout)["items"]
    assert len(rows) == 10
    ok("evaluate", out)  # the compressed run evaluates like any other
    # Bad input: nothing to do, same directory, bad share, bad type, a non-transformer run.
    why = json.loads(
        ok("explain", src, "--user", "1", "--item", rows[0]["item_id"], "--json").stdout
    )
    assert why["events"] and {"item_id", "attribution", "share", "title"} <= set(why["events"][0])
    assert set(why["sources"]) == set(why["events"][0]["sources"]) >= {"item", "behaviour"}
    assert sum(why["sources"].values()) == pytest.approx(1.0)
    shown = ok("explain", src, "--user", "1", "--item", rows[0]["item_id"]).stdout
    assert "attribution" in shown and "sources over the whole history" in shown
    assert_user_error(lmrec("explain", run_dir, "--user", "1", "--item", "1"))  # EASE
    assert_user_error(lmrec("explain", src, "--user", "1", "--item", "nope"))
    assert_user_error(lmrec("compress", src, "--out", tmp_path / "x"))
    assert_user_error(lmrec("compress", src, "--out", src, "--quantize", "int8"))
    assert_user_error(lmrec("compress", src, "--out", tmp_path / "y", "--prune", "1.5"))
    assert_user_error(lmrec("compress", src, "--out", tmp_path / "z", "--quantize", "int4"))
    assert_user_error(lmrec("compress", run_dir, "--out", tmp_path / "w", "--quantize", "int8"))


def test_predict_shows_ratings_and_probabilities(tmp_path, run_dir):
    """`lmrec predict`: a transformer-rating run gives a rating and p(item | history) per
    item, a transformer-behaviour run P(like); a run without any of them and an unknown
    item are one-line errors."""
    rng = np.random.default_rng(0)
    lines = ["user_id,item_id,rating,timestamp"]
    for u in range(20):
        for t, i in enumerate(rng.choice(12, 6, replace=False)):
            lines.append(f"u{u},i{i},{1 + i % 5},{100 * u + t}")
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "rating-run"
    small = ["--param", "epochs=2", "--param", "dim=16", "--param", "max_len=10"]
    ok("train", path, "--model", "transformer-rating", "--out", out, *small)
    rows = json.loads(
        ok("predict", out, "--user", "u0", "--item", "i1", "--item", "i2", "--json").stdout
    )["items"]
    assert [r["item_id"] for r in rows] == ["i1", "i2"]
    assert all(1 <= r["rating"] <= 5 and 0 < r["probability"] < 1 for r in rows)
    assert "rating" in ok("predict", out, "--user", "u0", "--item", "i1").stdout
    assert_user_error(lmrec("predict", out, "--user", "u0", "--item", "nope"))
    assert_user_error(lmrec("predict", run_dir, "--user", "1", "--item", "1"))  # EASE

    liked = tmp_path / "like-run"  # --tasks picks the model: next items + behaviour head
    ok("train", path, "--tasks", "next,behaviour", "--param", "lambda=0.5", "--out", liked, *small)
    run = json.loads((liked / "run.json").read_text())
    assert run["model"] == "transformer-behaviour" and run["params"]["behaviour_weight"] == 0.5
    for bad in (["--tasks", "next,behaviour,rating"], ["--tasks", "clicks"], []):
        assert_user_error(lmrec("train", path, *bad, "--out", tmp_path / "bad", *small))
    rows = json.loads(
        ok("predict", liked, "--user", "u0", "--item", "i1", "--item", "i4", "--json").stdout
    )["items"]
    assert all(0 < r["p_like"] < 1 and 0 < r["probability"] < 1 for r in rows)
    assert "p_like" in ok("predict", liked, "--user", "u0", "--item", "i1").stdout
