"""benchmarks/render.py: intervals over seeds, paired tests, no claims for single seeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lmrec.evaluate.report import make_record, write_per_user

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def render(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_render", ROOT / "benchmarks" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


def _record(tmp_path, model, per_user, seeds=(0, 1, 2), deterministic=False):
    users = [f"u{j}" for j in range(per_user.shape[1])]
    name = f"d__{model}__full-ranking.json"
    write_per_user(
        tmp_path / name,
        dataset="d",
        split="loo",
        protocol="full-ranking",
        model=model,
        user_ids=users,
        seeds=list(seeds),
        scores={"ndcg@10": per_user},
    )
    means = per_user.mean(axis=1)
    return make_record(
        dataset="d",
        split="loo",
        protocol="full-ranking",
        model=model,
        metrics={"ndcg@10": float(means.mean()), "recall@10": 0.1},
        train_seconds=1.0,
        eval_seconds=1.0,
        peak_mb=1.0,
        extra={
            "seeds": list(seeds),
            "deterministic": deterministic,
            "metrics_ci95": {"ndcg@10": 0.0 if deterministic else 0.01, "recall@10": 0.0},
            "per_user_file": name,
        },
    )


def test_a_clear_gain_is_significant_and_a_tie_is_not(render, tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random((1, 200))
    ease = _record(tmp_path, "ease", base, seeds=(0,), deterministic=True)
    better = _record(tmp_path, "transformer", np.repeat(base + 0.1, 3, axis=0))
    same = _record(tmp_path, "transformer-fusion", np.repeat(base, 3, axis=0))
    gain = render.paired(better, ease)
    assert gain.difference == pytest.approx(0.1) and gain.significant()
    assert "n.s." not in render.test_cell(gain)
    tie = render.paired(same, ease)
    assert not tie.significant() and "**n.s.**" in render.test_cell(tie)
    assert render.value_ci(better, "ndcg@10").endswith("± 0.0100")
    assert render.seed_note(ease) == "deterministic"


def test_single_seed_records_get_no_test(render, tmp_path):
    base = _record(tmp_path, "ease", np.zeros((1, 5)), seeds=(0,), deterministic=True)
    old = {k: v for k, v in base.items() if k not in ("seeds", "per_user_file")}
    one = _record(tmp_path, "als", np.ones((1, 5)), seeds=(0,))
    assert render.paired(old, base) is None
    assert render.paired(one, base) is None
    assert render.test_cell(None) == "no test"
    assert render.seed_note(old) == render.PRE_SEAMS


def test_headline_lists_the_best_baseline_and_tests_every_variant(render, tmp_path):
    rng = np.random.default_rng(1)
    base = rng.random((1, 100))
    records = [
        _record(tmp_path, "ease", base, seeds=(0,), deterministic=True),
        _record(tmp_path, "popular", base * 0.1, seeds=(0,), deterministic=True),
        _record(tmp_path, "transformer", np.repeat(base + 0.05, 3, axis=0)),
    ]
    lines = render.headline({("d", "loo", "full-ranking"): records})
    rows = [ln for ln in lines if ln.startswith("| d |")]
    assert rows[0].startswith("| d | ease (best baseline) |")
    assert "Δ +0.0500" in rows[1] and "n.s." not in rows[1]


def _diverse(tmp_path, model, ndcg, ild, kl, method=None, knob=None):
    users = [f"u{j}" for j in range(50)]
    name = f"d__{model}__full-ranking.json"
    write_per_user(
        tmp_path / name,
        dataset="d",
        split="loo",
        protocol="full-ranking",
        model=model,
        user_ids=users,
        seeds=[0, 1, 2],
        scores={
            "ndcg@10": np.full((3, 50), ndcg) + np.linspace(0, 0.01, 50),
            "ild@10": np.full((3, 50), ild) + np.linspace(0, 0.01, 50),
            "calibration_kl@10": np.full((3, 50), kl) + np.linspace(0, 0.01, 50),
        },
    )
    params = {} if method is None else {"rerank": method, "diversity": knob, "item_space": "text"}
    record = make_record(
        dataset="d",
        split="loo",
        protocol="full-ranking",
        model=model,
        metrics={"ndcg@10": ndcg, "ild@10": ild, "calibration_kl@10": kl, "gini@10": 0.8},
        train_seconds=1.0,
        eval_seconds=1.0,
        peak_mb=1.0,
        extra={"seeds": [0, 1, 2], "metrics_ci95": {}, "params": params, "per_user_file": name},
    )
    record["_file"] = "diversity.json"
    return record


def test_diversity_section_checks_the_targets_against_the_base(render, tmp_path):
    base = _diverse(tmp_path, "transformer", 0.100, 0.50, 1.00)
    mmr = _diverse(tmp_path, "transformer-mmr-0.3", 0.097, 0.62, 0.90, "mmr", 0.3)
    cal = _diverse(tmp_path, "transformer-calibrated-0.5", 0.090, 0.50, 0.60, "calibrated", 0.5)
    text = "\n".join(render.diversity_section([base, mmr, cal]))
    assert "| d | transformer-mmr-0.3 | 0.3 |" in text
    assert "ild@10 +24.0% (target +20% at ≥ −5% NDCG): **met**" in text
    # calibration KL −40% but NDCG −10%: over the accuracy budget
    assert "calibration_kl@10 -40.0% (target -30% at ≥ −5% NDCG): **missed**" in text
    assert "p < 0.001" in text


def test_multi_task_is_compared_with_reranking_at_equal_validation_ndcg(render):
    plain = {
        "dataset": "d",
        "model": "transformer-calibrated-0.3",
        "tuning": [
            {"valid_ndcg@10": 0.10, "valid_calibration_kl@10": 0.70},
            {"valid_ndcg@10": 0.09, "valid_calibration_kl@10": 0.50},
        ],
    }
    mtl = {
        "dataset": "d",
        "model": "transformer-mtl-1",
        "valid_metrics": {"ndcg@10": 0.095, "calibration_kl@10": 0.55},
    }
    (line,) = [x for x in render.mtl_comparison([plain, mtl]) if x.startswith("- ")]
    assert "reaches 0.6000 there" in line and "multi-task is better calibrated" in line
    far = {**mtl, "valid_metrics": {"ndcg@10": 0.2, "calibration_kl@10": 0.5}}
    assert "no match" in render.mtl_comparison([plain, far])[2]
    # chosen on probabilities: only that sweep is the curve (the scores points are ignored)
    on_probs = {
        **plain,
        "params": {"relevance": "probabilities"},
        "tuning": [
            *[{**t, "params": {"relevance": "scores"}} for t in plain["tuning"]],
            {"params": {"relevance": "probabilities"}, **plain["tuning"][0]},
            {"params": {"relevance": "probabilities"}, "valid_ndcg@10": 0.09,
             "valid_calibration_kl@10": 0.30},
        ],
    }  # fmt: skip
    (line,) = [x for x in render.mtl_comparison([on_probs, mtl]) if x.startswith("- ")]
    assert "(on its probabilities) reaches 0.5000 there" in line
    assert "re-ranking is better calibrated" in line


def _rows_record(tmp_path, model, protocol, rows, scores, metrics, seeds=(0, 1, 2)):
    """A record of ``protocol`` whose per-row file holds ``scores`` over ``rows``; one
    seed marks a deterministic model."""
    name = f"d__{model}__{protocol}.json"
    seeds, deterministic = list(seeds), len(seeds) == 1
    write_per_user(
        tmp_path / name,
        dataset="d",
        split="s",
        protocol=protocol,
        model=model,
        user_ids=rows,
        seeds=seeds,
        scores=scores,
    )
    return make_record(
        dataset="d",
        split="s",
        protocol=protocol,
        model=model,
        metrics=metrics,
        train_seconds=1.0,
        eval_seconds=1.0,
        peak_mb=1.0,
        extra={
            "seeds": seeds,
            "deterministic": deterministic,
            "metrics_ci95": {k: 0.0 if deterministic else 0.01 for k in metrics},
            "per_user_file": name,
        },
    )


def _behaviour_record(tmp_path, model, pair_auc, auc):
    rows = [f"u{j}:i{j}" for j in range(pair_auc.shape[1])]
    scores = {"pair_auc": pair_auc, "logloss": np.ones_like(pair_auc)}
    metrics = {"auc": auc, "gauc": auc, "logloss": 0.4, "ece": 0.02}
    return _rows_record(tmp_path, model, "behaviour-like", rows, scores, metrics)


def test_behaviour_rows_pair_over_examples_defined_in_both(render, tmp_path):
    rng = np.random.default_rng(1)
    base = rng.random((3, 300))
    base[:, :50] = np.nan  # examples without a positive: no pair AUC
    better = np.clip(base + 0.2, 0, 1)
    records = [
        _behaviour_record(tmp_path, "lightgbm", base, 0.6),
        _behaviour_record(tmp_path, "transformer-behaviour-multitask", better, 0.7),
    ]
    lines = render.behaviour_section(records)
    row = next(line for line in lines if "| transformer-behaviour-multitask |" in line)
    assert "Δ +0.1" in row and "p < 0.001" in row and "n.s." not in row
    test = render.paired_finite(records[1], records[0], "pair_auc")
    assert test.n_users == 250  # the 50 undefined rows are left out


def _cold_full_record(tmp_path, model, recall, warm):
    """A cold-item-full record: 40 cold rows (recall@20), then 60 warm rows (warm NDCG)."""
    rows = [f"cold:u{j}" for j in range(40)] + [f"warm:u{j}" for j in range(60)]
    n_seeds = len(recall)
    nan_c, nan_w = np.full((n_seeds, 60), np.nan), np.full((n_seeds, 40), np.nan)
    scores = {
        "recall@20": np.hstack([recall, nan_c]),
        "ndcg@10": np.hstack([recall / 2, nan_c]),
        "warm_ndcg@10": np.hstack([nan_w, warm]),
    }
    metrics = {
        "recall@20": float(recall.mean()),
        "ndcg@10": float(recall.mean() / 2),
        "warm_ndcg@10": float(warm.mean()),
    }
    seeds = range(n_seeds)
    return _rows_record(tmp_path, model, "cold-item-full", rows, scores, metrics, seeds)


def test_cold_item_full_rows_pair_cold_recall_with_content_and_warm_ndcg_with_the_base(
    render, tmp_path, monkeypatch
):
    monkeypatch.setitem(render.COLD_FULL_TARGETS, "d", 3.0)
    rng = np.random.default_rng(0)
    warm = rng.random((3, 60))
    content_recall = np.zeros((1, 40))
    content_recall[0, :4] = 1.0  # 0.1: the cold model's 0.5 is 5×
    records = [
        _cold_full_record(tmp_path, "content", content_recall, warm[:1]),
        _cold_full_record(tmp_path, "transformer-fusion", np.zeros((3, 40)), warm),
        _cold_full_record(
            tmp_path, "transformer-fusion-cold-0.1", np.full((3, 40), 0.5), warm * 0.9,
        ),
    ]  # fmt: skip
    lines = render.cold_item_full_section({("d", "s", "cold-item-full"): records})
    row = next(line for line in lines if "| transformer-fusion-cold-0.1 |" in line)
    assert "5.00× (met)" in row
    assert "-10.0% (outside 2%)" in row
    test = render.paired_finite(records[2], records[1], "warm_ndcg@10")
    assert test.n_users == 60 and test.difference < 0  # the 40 cold rows are left out
    base = next(line for line in lines if "| transformer-fusion |" in line)
    assert "0.00× (missed)" in base
    records[2]["chosen"] = {"id_dropout": 0.3, "id_dropout_inputs": False}
    lines = render.cold_item_full_section({("d", "s", "cold-item-full"): records})
    row = next(line for line in lines if "| transformer-fusion-cold-0.1 |" in line)
    assert "| id_dropout=0.3, id_dropout_inputs=false (warm validation) |" in row
    records[2]["tuning"] = [{"params": {}, "valid_recall@20": 0.1, "valid_warm_ndcg@10": 0.1}]
    lines = render.cold_item_full_section({("d", "s", "cold-item-full"): records})
    row = next(line for line in lines if "| transformer-fusion-cold-0.1 |" in line)
    assert "| id_dropout=0.3, id_dropout_inputs=false |" in row  # chosen on the nested protocol
    records[2]["tuning"].append(
        {"params": {}, "valid_recall@20": 0.0, "valid_warm_ndcg@10": 0.2, "reference": True}
    )
    lines = render.cold_item_full_section({("d", "s", "cold-item-full"): records})
    row = next(line for line in lines if "| transformer-fusion-cold-0.1 |" in line)
    assert "(no point within 2% of warm: the least warm loss)" in row
    widths = {line.count("|") for line in lines if line.startswith("| ")}
    assert len(widths) == 1  # every row has the header's columns


def test_sources_section_tests_each_source_against_the_plain_transformer(render, tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random((3, 50))
    rows = [f"u{i}" for i in range(50)]

    def record(model, scores, params, weights):
        metrics = {
            "ndcg@10": float(scores.mean()),
            "recall@10": 0.1,
            **{f"source_weight:{k}": v for k, v in weights.items()},
        }
        r = _rows_record(tmp_path, model, "full-ranking", rows, {"ndcg@10": scores}, metrics)
        r["params"] = params
        return r

    records = [
        record("transformer", base, {}, {}),
        record(
            "transformer-sources-review",
            base + 0.2,
            {"sources": "review"},
            {"behaviour": 0.4, "review": 0.6},
        ),
        record("transformer-history-buy", base, {"history_behaviours": "buy"}, {}),
        record("transformer-fusion", base + 0.1, {"fusion": "add"}, {}),
        record(
            "transformer-fusion-sources-rating+review",
            base + 0.1,
            {"fusion": "add", "sources": "rating,review"},
            {"behaviour": 0.3, "rating": 0.3, "review": 0.4},
        ),
    ]
    lines = render.transformer_sources_section({("d", "s", "full-ranking"): records})
    fused = next(line for line in lines if "| transformer-fusion-sources-rating+review |" in line)
    assert "**n.s.**" in fused  # paired with transformer-fusion, not with transformer
    review = next(line for line in lines if "| transformer-sources-review |" in line)
    assert "Δ +0.2000" in review and "p < 0.001" in review
    assert "| learned | behaviour 0.40, review 0.60 |" in review
    history = next(line for line in lines if "| transformer-history-buy |" in line)
    assert "**n.s.**" in history and "| – |" in history
    assert render.transformer_sources_section({("d", "s", "full-ranking"): records[:1]}) == []


def test_a_measurement_two_scripts_recorded_shows_once_and_a_disagreement_twice(render):
    def record(date, rmse):
        return {"model": "svd", "date": date, "metrics": {"rmse": rmse}}

    old, new, other = record("2026-01-01", 0.93), record("2026-02-01", 0.93), record("x", 0.95)
    assert render.without_repeats([old, new]) == [new]
    assert render.without_repeats([old, other]) == [old, other]
