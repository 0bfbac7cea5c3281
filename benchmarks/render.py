"""Render BENCHMARKS.md from every ``benchmarks/results/*.json`` record file.

Records are the one format all benchmarks share (see ``lmrec.evaluate.report.make_record``).
Tables are grouped by data set, split and protocol, so a sampled or rating figure never sits
in a full-ranking column.

Records from :mod:`lmrec.experiment` carry ``seeds``, ``metrics_ci95`` and a
``per_user_file``: they are shown as mean ± 95% interval, and comparisons (headline, text,
multi-source) are paired tests recomputed here from the per-user files
(:func:`lmrec.evaluate.stats.paired_test`). Records without ``seeds`` predate this (one seed,
no per-user scores): they are marked "1 seed, pre-seams" and never get a significance claim.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "BENCHMARKS.md"

RANKING_COLUMNS = ("ndcg@10", "recall@10", "hr@10", "mrr@10", "ndcg@20", "recall@20", "coverage@10")
RATING_COLUMNS = ("rmse", "mae")
#: Shown when a model predicts a distribution (calibrated NLL / ECE on test, synthetic KL).
DISTRIBUTION_COLUMNS = ("nll", "ece", "kl_category")
#: Protocols with their own columns (sorted by the first); the rest use RANKING_COLUMNS.
PROTOCOL_COLUMNS = {
    "cold-item": (
        "recall@20",
        "ndcg@10",
        "recall@10",
        "ndcg@20",
        "full_catalogue_recall@20",
        "full_catalogue_ndcg@10",
    ),
    "cold-user": ("recall@20", "ndcg@10", "recall@20_k1", "recall@20_k2", "recall@20_k3"),
    "cold-item-full": ("recall@20", "ndcg@10", "warm_ndcg@10", "recall@10", "warm_recall@10"),
    "text-encoding": ("texts_per_second", "first_seconds", "cached_seconds", "n_texts"),
    "compression": (
        "ndcg@10",
        "ndcg@10_change",
        "recall@10",
        "latency_ms",
        "latency_p99_ms",
        "latency_change",
        "zero_weight_share",
    ),
    **{f"load-c{c}": ("rps", "p50_ms", "p99_ms", "requests", "errors") for c in (1, 8, 32)},
    "deletion-test": ("deletion_ratio", "drop_top3", "drop_random3", "n_users", "ms_per_user"),
    "fuzz": (
        "server_errors",
        "non_json_errors",
        "requests",
        "operations",
        "client_errors",
        "ok_responses",
    ),
    **{
        f"behaviour-{t}": ("auc", "gauc", "logloss", "ece", "positive_rate")
        for t in ("buy", "like")
    },
    "temporal-update": (
        "ndcg@10",
        "recall@10",
        "recall@20",
        "update_seconds",
        "retrain_seconds",
        "speedup",
        "forgetting",
        "old_ndcg@10_before",
        "old_ndcg@10_after",
    ),
    "retrieval": (
        "recall@10",
        "exact_ms_single",
        "faiss_ms_single",
        "exact_ms_batch",
        "faiss_ms_batch",
        "build_seconds",
        "n_items",
    ),
}

#: Published / independently measured figures to check the evaluator against
#: (shared/datasets/README.md, "Reference figures"; same protocol as ours).
REFERENCE = {
    ("ml-100k", "popular"): (0.0444, 0.0859),
    ("ml-100k", "itemknn"): (0.0555, 0.1060),
    ("ml-100k", "ease"): (0.0723, 0.1485),
    ("ml-100k", "als"): (0.0742, 0.1432),
    ("beauty", "popular"): (0.0061, 0.0136),
    ("beauty", "itemknn"): (0.0365, 0.0624),
    ("beauty", "ease"): (0.0445, 0.0782),
    ("beauty", "als"): (0.0289, 0.0569),
    ("toys", "popular"): (0.0052, 0.0090),
    ("toys", "itemknn"): (0.0459, 0.0765),
    ("toys", "ease"): (0.0502, 0.0846),
    ("toys", "als"): (0.0305, 0.0570),
}
RATING_REFERENCE = {("ml-100k", "svd"): (0.9344, 0.7367), ("ml-100k", "svdpp"): (0.9187, 0.7206)}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


# ------------------------------------------------------------------ seeds and paired tests
PRE_SEAMS = "1 seed, pre-seams"


def multi_seed(r: dict) -> bool:
    """A record of lmrec.experiment: several seeds, or a deterministic model (interval 0);
    or k-fold cross-validation (interval over folds)."""
    if "per_fold" in r and "metrics_ci95" in r:
        return True
    return "seeds" in r and (len(r["seeds"]) > 1 or bool(r.get("deterministic")))


def seed_note(r: dict) -> str:
    if "per_fold" in r and "metrics_ci95" in r:
        return f"{len(r['per_fold'])} folds"
    if "seeds" not in r:
        return PRE_SEAMS
    if r.get("deterministic"):
        return "deterministic"
    return f"{len(r['seeds'])} seeds" if len(r["seeds"]) > 1 else "1 seed"


def value_ci(r: dict, metric: str) -> str:
    """``0.0723 ± 0.0011`` (95% interval over seeds), or the bare value marked 1 seed."""
    value = r["metrics"].get(metric)
    if value is None:
        return ""
    half = (r.get("metrics_ci95") or {}).get(metric)
    if not multi_seed(r) or half is None or r.get("deterministic"):
        return f"{value:.4f}"
    return f"{value:.4f} ± {half:.4f}"


_PER_USER_CACHE: dict[str, dict | None] = {}


def per_user(r: dict) -> dict | None:
    """The per-user scores behind a record (None if it has none or the file is missing)."""
    from lmrec.errors import DataError
    from lmrec.evaluate.report import read_per_user

    name = r.get("per_user_file")
    if not name:
        return None
    if name not in _PER_USER_CACHE:
        try:
            _PER_USER_CACHE[name] = read_per_user(RESULTS / name)
        except DataError:
            _PER_USER_CACHE[name] = None
    return _PER_USER_CACHE[name]


def paired(a: dict, b: dict, metric: str = "ndcg@10"):
    """Paired test of record ``a`` minus record ``b`` on per-user ``metric`` (seed means), or
    None when either is single-seed / has no per-user file / they hold other users."""
    import numpy as np

    from lmrec.evaluate.stats import paired_test

    if not (multi_seed(a) and multi_seed(b)):
        return None
    pa, pb = per_user(a), per_user(b)
    if pa is None or pb is None or metric not in pa["scores"] or metric not in pb["scores"]:
        return None
    if sorted(pa["user_ids"]) != sorted(pb["user_ids"]):
        return None
    order = {u: j for j, u in enumerate(pb["user_ids"])}
    idx = np.array([order[u] for u in pa["user_ids"]])
    return paired_test(pa["scores"][metric], pb["scores"][metric][:, idx])


def test_cell(test) -> str:
    """``Δ +0.0051 [+0.0012, +0.0090], p 0.012`` or ``… n.s.``; "no test" without one."""
    from lmrec.evaluate.stats import significance_mark

    if test is None:
        return "no test"
    mark = significance_mark(test)
    p = f"p {test.p_value:.3f}" if test.p_value >= 0.001 else "p < 0.001"
    cell = f"Δ {test.difference:+.4f} [{test.ci_low:+.4f}, {test.ci_high:+.4f}], {p}"
    return f"{cell} **{mark}**" if mark else cell


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _cell(r: dict, metric: str) -> str:
    """A metric with its ± half-width when the record has one over several seeds."""
    value = r["metrics"].get(metric)
    half = (r.get("metrics_ci95") or {}).get(metric)
    if value is None or half is None or not multi_seed(r) or r.get("deterministic"):
        return _fmt(value)
    return f"{value:.4f} ± {half:.4f}"


def _table(records: list[dict], columns: tuple[str, ...], reference: dict) -> list[str]:
    head = [
        "model",
        *columns,
        "seeds",
        "train s",
        "eval s",
        "peak MB",
        "params",
        "ref (NDCG/HR or RMSE/MAE)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sorted(
        records,
        key=lambda r: (
            -r["metrics"].get(columns[0], 0.0) if columns[0] != "rmse" else r["metrics"]["rmse"]
        ),
    ):
        ref = reference.get((r["dataset"], r["model"]))
        cells = [
            r["model"],
            *(_cell(r, c) for c in columns),
            seed_note(r),
            f"{r['train_seconds']:.1f}",
            f"{r['eval_seconds']:.1f}",
            f"{r['peak_mb']:.0f}",
            json.dumps(r.get("params", {}), separators=(",", ":")).replace("|", "/"),
            "" if ref is None else f"{ref[0]:.4f} / {ref[1]:.4f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


#: Targets the issues set (NDCG@10, Recall@10), shown beside the headline.
TARGETS = {"beauty": (0.053, 0.093), "toys": (0.058, None)}


def _is_transformer(r: dict) -> bool:
    return r["model"].startswith("transformer")


#: Beyond-accuracy columns of the headline (catalogue coverage and exposure Gini).
EXPOSURE_COLUMNS = ("coverage@10", "gini@10")


def _row(
    dataset: str,
    r: dict,
    against: dict | None,
    extra: str | None = None,
    columns: tuple[str, ...] = (),
) -> str:
    test = "" if against is None else test_cell(paired(r, against))
    cells = [
        dataset,
        r["model"],
        value_ci(r, "ndcg@10"),
        value_ci(r, "recall@10"),
        *(value_ci(r, c) or "–" for c in columns),
        seed_note(r),
        test,
    ]
    if extra is not None:
        cells.append(extra)
    return "| " + " | ".join(cells) + " |"


def headline(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Per data set (full ranking): the best baseline by mean NDCG@10 and every Transformer
    variant, each compared with that baseline by a paired test on per-user NDCG@10."""
    lines = [
        "## Headline: NDCG@10 / Recall@10, full ranking, test",
        "",
        "Mean ± 95% interval over seeds (Student t). *vs best baseline*: paired test on",
        "per-user NDCG@10 (averaged over seeds) — mean difference Δ with its paired-bootstrap",
        "95% interval and the paired t-test p; **n.s.** = not significant at 0.05 (or the",
        f'interval covers 0). Rows marked "{PRE_SEAMS}" are single runs from before the seeded',
        'pipeline: no interval and no test ("no test") until they are re-run.',
        "",
        "Coverage@10 is the share of the catalogue shown in some test list; Gini@10 the Gini",
        "coefficient of those exposures (0 = every item shown equally often; – = recorded",
        "before the metric existed).",
        "",
        "| data set | model | NDCG@10 | Recall@10 | Coverage@10 | Gini@10 | seeds "
        "| vs best baseline (NDCG@10) | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        ours = [r for r in group if _is_transformer(r)]
        base = [r for r in group if not _is_transformer(r) and "multi-interest" not in r["model"]]
        if not ours or not base:
            continue
        best = max(base, key=lambda r: r["metrics"]["ndcg@10"])
        target = TARGETS.get(dataset)
        goal = (
            "beat best baseline"
            if target is None
            else (f"≥ {target[0]:.3f}" + (f" / ≥ {target[1]:.3f}" if target[1] else ""))
        )
        lines.append(
            _row(dataset, best, None, goal, EXPOSURE_COLUMNS).replace(
                f"| {best['model']} |", f"| {best['model']} (best baseline) |", 1
            )
        )
        for r in sorted(ours, key=lambda r: r["model"]):
            lines.append(_row(dataset, r, best, "", EXPOSURE_COLUMNS))
    return [*lines, ""]


TEXT_MODELS = ("fusion", "text")
#: What a reader must know to read a cold-start row (facts about the data, not results).
COLD_NOTES = {
    ("instruments", "cold-item"): "the data has no item metadata and a cold item's reviews "
    "are its held-out events, so cold items have no text at all: every model ranks them at "
    "chance (Recall@20 = 20 / 180 cold items = 0.111).",
    ("ml-100k", "cold-item"): "popularity knows nothing of items never seen in training, so "
    "it ranks the 336 cold items at chance (20 / 336 = 0.060).",
}


def text_headline(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Per data set: each text model against the ID-only Transformer by a paired test."""
    lines = [
        "## Text: ID-only vs text models (full ranking, test)",
        "",
        "Each text model against `transformer` (ID embeddings only), paired test on per-user",
        "NDCG@10 as in the headline.",
        "",
        "| data set | model | NDCG@10 | Recall@10 | seeds | vs transformer (ID only, NDCG@10) |",
        "|---|---|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        ids = [r for r in group if r["model"] == "transformer"]
        text = [r for r in group if any(t in r["model"] for t in TEXT_MODELS)]
        text = [r for r in text if r["model"].startswith("transformer")]
        if not ids or not text:
            continue
        lines.append(_row(dataset, ids[0], None))
        for r in sorted(text, key=lambda r: r["model"]):
            lines.append(_row(dataset, r, ids[0]))
    lines += [
        "",
        "## Cold start: Recall@20 (target: text ≥ 3× popularity on cold items)",
        "",
        "*best vs popular*: the best text model against popularity, paired per user (cold-user",
        "evaluates each user at 1, 2 and 3 events, so it has no per-user file and no test).",
        "",
        "| data set | protocol | popular | content | transformer (ID) | text models "
        "| best / popular | best vs popular (Recall@20) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol not in ("cold-item", "cold-user"):
            continue
        by_model = {r["model"]: r for r in group}
        pop = next((r for m, r in by_model.items() if "pop" in m), None)
        text = {m: r for m, r in by_model.items() if any(t in m for t in TEXT_MODELS)}
        best = max(text.values(), key=lambda r: r["metrics"]["recall@20"], default=None)
        ratio = (
            ""
            if pop is None or best is None or not pop["metrics"]["recall@20"]
            else f"{best['metrics']['recall@20'] / pop['metrics']['recall@20']:.1f}×"
        )
        cells = "; ".join(f"{m} {value_ci(r, 'recall@20')}" for m, r in sorted(text.items()))
        ids, content = by_model.get("transformer"), by_model.get("content")
        test = paired(best, pop, "recall@20") if best and pop else None
        lines.append(
            f"| {dataset} | {protocol} | {value_ci(pop, 'recall@20') if pop else ''} "
            f"| {value_ci(content, 'recall@20') if content else ''} "
            f"| {value_ci(ids, 'recall@20') if ids else ''} | {cells} | {ratio} "
            f"| {test_cell(test) if best and pop else ''} |"
        )
    keys = sorted({(d, p) for d, _s, p in groups} & set(COLD_NOTES))
    notes = [f"- {d} {p}: {COLD_NOTES[d, p]}" for d, p in keys]
    return [*lines, "", *notes, ""] if notes else [*lines, ""]


#: cold-item-full targets: cold Recall@20 over the content baseline's, warm NDCG@10 kept.
COLD_FULL_TARGETS = {"ml-100k": 3.0, "beauty": 1.0, "toys": 1.0}
COLD_FULL_WARM_LOSS = 0.02


def _chosen(r: dict) -> str:
    """A record's grid choice as ``key=value`` pairs (empty without a grid)."""
    chosen = r.get("chosen") or {}
    text = ", ".join(f"{k}={json.dumps(v)}" for k, v in chosen.items())
    from lmrec.experiment import within_warm_bar

    tuning = r.get("tuning") or []
    nested = bool(tuning) and all("valid_recall@20" in t for t in tuning)
    if text and not nested:
        return f"{text} (warm validation)"
    if nested and not within_warm_bar(tuning):  # the choice fell back to the least warm loss
        return f"{text} (no point within 2% of warm: the least warm loss)"
    return text


def cold_item_full_section(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """New items in the full catalogue: each model's cold Recall@20 against the content
    baseline (paired per cold user) and its warm NDCG@10 against ``transformer-fusion``
    (the model without the change; paired per warm user)."""
    lines = []
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "cold-item-full":
            continue
        by_model = {r["model"]: r for r in group}
        content, base = by_model.get("content"), by_model.get("transformer-fusion")
        target = COLD_FULL_TARGETS.get(dataset)
        for r in sorted(group, key=lambda r: -r["metrics"]["recall@20"]):
            if r is content:
                continue
            ratio = vs_content = warm_change = vs_base = ""
            if content is not None and content["metrics"]["recall@20"]:
                x = r["metrics"]["recall@20"] / content["metrics"]["recall@20"]
                # 3× means at least 3×; "above it" (1×) means more than it
                hit = target is not None and (x >= target if target > 1 else x > target)
                met = "" if target is None else (" (met)" if hit else " (missed)")
                ratio = f"{x:.2f}×{met}"
                vs_content = test_cell(paired_finite(r, content, "recall@20"))
            if base is not None and r is not base:
                change = r["metrics"]["warm_ndcg@10"] / base["metrics"]["warm_ndcg@10"] - 1
                ok = "within" if change >= -COLD_FULL_WARM_LOSS else "outside"
                warm_change = f"{change:+.1%} ({ok} 2%)"
                vs_base = test_cell(paired_finite(r, base, "warm_ndcg@10"))
            lines.append(
                f"| {dataset} | {r['model']} | {value_ci(r, 'recall@20')} | "
                f"{value_ci(r, 'ndcg@10')} | {ratio} | {vs_content} | "
                f"{value_ci(r, 'warm_ndcg@10')} | {warm_change} | {vs_base} | "
                f"{_chosen(r)} | {seed_note(r)} |"
            )
        if content is not None:
            lines.append(
                f"| {dataset} | content | {value_ci(content, 'recall@20')} | "
                f"{value_ci(content, 'ndcg@10')} | 1× |  | "
                f"{value_ci(content, 'warm_ndcg@10')} |  |  |  | {seed_note(content)} |"
            )
    if not lines:
        return []
    return [
        "## New items in the full catalogue (cold-item-full)",
        "",
        "`benchmarks/cold_start.py --protocols cold-item-full`: 20% of the items never trained",
        "on; each test target that is one of them ranked among all items (Recall@20, NDCG@10),",
        "the other users' warm targets too (warm NDCG@10). *× content*: cold Recall@20 over",
        "the content baseline's (targets: 3× on ml-100k, above it on Beauty and Toys), with a",
        "paired test per cold user; *warm change*: warm NDCG@10 against `transformer-fusion`",
        "(the same model without the change; target: within 2%), paired per warm user.",
        "*chosen*: what a grid chose, by code, on the protocol nested inside the training part",
        "(another 20% of the trained items held out, each user's last training event the",
        "target, the real new items not yet in the catalogue): the best cold Recall@20 of",
        "those pseudo-new items among the points within 2%",
        "of the best warm validation NDCG@10 (the model without the change included); each",
        "record's `tuning` lists every point's two scores.",
        "",
        "| data set | model | cold Recall@20 | cold NDCG@10 | × content | vs content "
        "(Recall@20) | warm NDCG@10 | warm change | vs transformer-fusion (warm) | chosen "
        "| seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
    ]


def transfer_section(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Masked pretraining then fine-tuning (full, frozen, LoRA) against training from
    scratch (benchmarks/transformer.py on JD): quality, trainable weights, time."""
    lines = []
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        tuned = [r for r in group if "finetune" in r["model"]]
        scratch = next((r for r in group if r["model"] == "transformer"), None)
        if not tuned or scratch is None:
            continue
        for r in [scratch, *sorted(tuned, key=lambda r: r["model"])]:
            m = r["metrics"]
            trainable = m.get("trainable_params")
            share = (
                f"{trainable:,.0f} ({trainable / m['total_params']:.0%})"
                if trainable and m.get("total_params")
                else ""
            )
            infos = r.get("per_seed_info") or []
            pre = [i["pretrain"]["seconds"] for i in infos if "pretrain" in i]
            pre_s = f"{sum(pre) / len(pre):.0f}" if pre else "–"
            test = "" if r is scratch else test_cell(paired(r, scratch))
            lines.append(
                f"| {dataset} | {r['model']} | {value_ci(r, 'ndcg@10')} | "
                f"{value_ci(r, 'recall@10')} | {share} | {pre_s} | {r['train_seconds']:.0f} | "
                f"{test} | {seed_note(r)} |"
            )
    if not lines:
        return []
    return [
        "## Transfer: masked pretraining, then fine-tuning (full, frozen, LoRA)",
        "",
        "`benchmarks/transformer.py`: `transformer` trains on the target from scratch; the",
        "fine-tune variants first pretrain the masked-item objective (per seed, on every",
        "behaviour), then fine-tune every weight (full), all but the Transformer blocks",
        "(frozen) or LoRA adapters on the blocks' linear layers plus the output bias (lora).",
        "*pretrain s*: mean seconds of a seed's pretraining (shared by the three modes);",
        "*fine-tune s*: mean seconds of a seed's fine-tuning and scoring. Paired test on",
        "per-user NDCG@10 against `transformer`.",
        "",
        "| data set | model | NDCG@10 | Recall@10 | trainable weights | pretrain s | "
        "fine-tune s | vs transformer (scratch) | seeds |",
        "|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
    ]


def _source_weights(r: dict) -> str:
    weights = r.get("mean_source_weights") or {
        k.removeprefix("source_weight:"): v
        for k, v in r["metrics"].items()
        if k.startswith("source_weight:")
    }
    return ", ".join(f"{k} {v:.2f}" for k, v in weights.items())


#: Transformer variants that add or remove a source (benchmarks/transformer.py).
SOURCE_MARKERS = ("transformer-sources-", "transformer-fusion-sources-", "transformer-history-")
#: What the source variants are paired with: the same model without the sources.
SOURCE_BASES = ("transformer", "transformer-fusion")


def transformer_sources_section(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Per data set: what each source adds to (or each behaviour left out takes from) the
    Transformer, by a paired test against ``transformer``, with the weighting validation
    chose and the test users' mean source weights."""
    lines = []
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        rows = [r for r in group if r["model"].startswith(SOURCE_MARKERS)]
        bases = {r["model"]: r for r in group if r["model"] in SOURCE_BASES}
        if not rows or "transformer" not in bases:
            continue
        fused = [r for r in rows if "fusion" in r["model"]]
        for name in SOURCE_BASES if fused else SOURCE_BASES[:1]:
            if name in bases:
                lines.append(_row(dataset, bases[name], None, "– | behaviour 1.00"))
        for r in sorted(rows, key=lambda r: r["model"]):
            # sources over fusion are paired with fusion alone, the others with transformer
            base = bases.get("transformer-fusion" if r in fused else "", bases["transformer"])
            weighting = (r.get("chosen") or {}).get("source_weighting")
            if weighting is None:
                weighting = r.get("params", {}).get("source_weighting", "learned")
            if not r.get("params", {}).get("sources"):
                weighting = "–"
            lines.append(_row(dataset, r, base, f"{weighting} | {_source_weights(r)}"))
    if not lines:
        return []
    return [
        "## Sources on the Transformer: what each adds (full ranking, test)",
        "",
        "`benchmarks/transformer.py`: `transformer` reads each event's item and behaviour;",
        "`transformer-sources-*` also read each event's rating and/or review text, mixed by",
        "per-user source weights (learned vs fixed equal weights chosen on validation for two",
        "sources); `transformer-history-*` keep only some behaviours in the history (JD: what",
        "views and favourites add to the next-buy model). Paired test on per-user NDCG@10",
        "against `transformer` (`transformer-fusion-sources-*`: against `transformer-fusion`,",
        "the same model without the sources); weights are the test users' means.",
        "",
        "| data set | model | NDCG@10 | Recall@10 | seeds | vs transformer (NDCG@10) "
        "| weighting | mean source weights (test users) |",
        "|---|---|---|---|---|---|---|---|",
        *lines,
        "",
    ]


def multi_interest_headline(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Per data set: what each interest source adds over the first (single) source, by a
    paired test, the fixed-vs-learned choice validation made, and the mean source weights."""
    lines = [
        "## Multi-scenario interests: what each source adds (full ranking, test)",
        "",
        "Each variant against the single-source one by a paired test on per-user NDCG@10;",
        "fixed equal vs learned source weights is chosen on validation (`weighting`).",
        "",
        "| data set | variant | NDCG@10 | Recall@10 | seeds | vs single source (NDCG@10) "
        "| weighting | mean source weights α (test users) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        rows = [r for r in group if r["model"].startswith("multi-interest")]
        if not rows:
            continue
        single = [r for r in rows if "+" not in r["model"]]
        base = single[0] if single else None
        for r in rows:
            chosen = r.get("chosen") or {}
            weighting = next((str(v) for k, v in chosen.items() if k != "source_weights"), "")
            against = base if base is not None and r is not base else None
            extra = f"{weighting or '–'} | {_source_weights(r)}"
            lines.append(_row(dataset, r, against, extra))
    return [*lines, ""]


#: Records of benchmarks/diversity.py get their own section (not the general tables).
DIVERSITY_FILE = "diversity.json"
#: Re-ranking targets (issue): at ≤ 5% NDCG@10 cost, ILD@10 +20% and calibration KL@10 −30%.
DIVERSITY_TARGETS = {"ild@10": 0.20, "calibration_kl@10": -0.30}
#: Per method: the metric it aims at, the change it must reach, the NDCG@10 cost allowed.
METHOD_TARGETS = {
    "mmr": ("ild@10", 0.20, 0.05),
    "dpp": ("ild@10", 0.20, 0.05),
    "calibrated": ("calibration_kl@10", -0.30, 0.05),
    "multi-interest": ("category_coverage@10", 0.0, 0.02),
}


def _base_name(model: str) -> str:
    if model.startswith("multi-interest-"):
        return model.removeprefix("multi-interest-")
    for method in ("-mmr-", "-dpp-", "-calibrated-"):
        model = model.split(method)[0]
    return model


def _relative(r: dict, base: dict, metric: str) -> str:
    value, ref = r["metrics"].get(metric), base["metrics"].get(metric)
    if value is None or not ref:
        return ""
    return f"{value / ref - 1:+.0%}"


def _paired_cell(r: dict, base: dict, metric: str) -> str:
    test = paired(r, base, metric)
    if test is None:
        return "no test"
    from lmrec.evaluate.stats import significance_mark

    mark = significance_mark(test)
    p = f"p {test.p_value:.3f}" if test.p_value >= 0.001 else "p < 0.001"
    return p + (f" **{mark}**" if mark else "")


def _knob_cell(params: dict) -> str:
    """``0.3``, or ``0.3 (prob.)`` when the lists weighed probabilities."""
    suffix = " (prob.)" if params.get("relevance") == "probabilities" else ""
    return f"{params['diversity']:g}{suffix}"


def diversity_section(records: list[dict]) -> list[str]:
    """Base lists against their re-ranked versions (benchmarks/diversity.py)."""
    if not records:
        return []
    lines = [
        "## Diversity: re-ranking against the model's own lists (full ranking, test)",
        "",
        "Per data set and base model: the base lists and each re-ranking at the knob chosen on",
        "validation (best ILD@10 for MMR/DPP, best calibration KL@10 for calibrated, among knobs",
        "keeping validation NDCG@10 within 5% of the base; for multi-interest lists, best",
        "category coverage@10 within 2%). Changes are relative to the base;",
        "p values are paired tests on per-user values over seeds. ILD@10 is measured in the item",
        "space named in `item space`; `ms/user` is the re-ranking time of 100 candidates into",
        "20 (base scoring excluded; for multi-interest lists it includes scoring each",
        "interest's sub-history). Targets: at ≤ 5% NDCG@10 cost, ILD@10 +20% and calibration",
        "KL@10 −30%; multi-interest: category coverage@10 up at ≤ 2% NDCG@10 cost.",
        "`random` (seeded random lists) is the reference every list metric is read against:",
        "an ILD@10 above random lists' is diversity bought with relevance alone. For the",
        "Transformer, whose scores are logits, validation also chooses what the methods weigh:",
        "its scores or its probabilities (`(prob.)` after the knob, `-prob` in the name).",
        "",
        "| data set | model | knob | NDCG@10 | ΔNDCG | ILD@10 | ΔILD | KL@10 | ΔKL | cat. cov.@10 "
        "| Δcat. cov. | coverage@10 | Gini@10 | novelty@10 | ms/user | seeds | item space |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_base: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        by_base[(r["dataset"], _base_name(r["model"]))].append(r)
    random_ild = {
        r["dataset"]: r["metrics"]["ild@10"]
        for r in records
        if r["model"] == "random" and "ild@10" in r["metrics"]
    }
    notes = []
    for (dataset, base_name), group in sorted(by_base.items()):
        base = next((r for r in group if r["model"] == base_name), None)
        if base is None:
            continue
        for r in sorted(group, key=lambda r: (r is not base, r["model"])):
            params = r.get("params", {})
            rel = r is not base
            lines.append(
                "| "
                + " | ".join(
                    [
                        dataset,
                        r["model"],
                        _knob_cell(params) if rel else "–",
                        value_ci(r, "ndcg@10"),
                        f"{_relative(r, base, 'ndcg@10')} ({_paired_cell(r, base, 'ndcg@10')})"
                        if rel
                        else "",
                        value_ci(r, "ild@10"),
                        f"{_relative(r, base, 'ild@10')} ({_paired_cell(r, base, 'ild@10')})"
                        if rel
                        else "",
                        value_ci(r, "calibration_kl@10"),
                        f"{_relative(r, base, 'calibration_kl@10')} "
                        f"({_paired_cell(r, base, 'calibration_kl@10')})"
                        if rel
                        else "",
                        value_ci(r, "category_coverage@10"),
                        _relative(r, base, "category_coverage@10") if rel else "",
                        value_ci(r, "coverage@10"),
                        value_ci(r, "gini@10"),
                        value_ci(r, "novelty@10"),
                        f"{r['metrics']['rerank_ms_per_user']:.2f}"
                        if "rerank_ms_per_user" in r["metrics"]
                        else "",
                        seed_note(r),
                        params.get("item_space", ""),
                    ]
                )
                + " |"
            )
            if rel:
                cost = r["metrics"]["ndcg@10"] / base["metrics"]["ndcg@10"] - 1
                metric, goal, budget = METHOD_TARGETS[params.get("rerank", "mmr")]
                change = r["metrics"][metric] / base["metrics"][metric] - 1
                met = cost >= -budget and (change > goal if goal >= 0 else change <= goal)
                aim = "up" if goal == 0 else f"{goal:+.0%}"
                reference = ""
                if metric == "ild@10" and dataset in random_ild:
                    reference = (
                        f"; the target is ILD@10 {base['metrics'][metric] * (1 + goal):.3f}, "
                        f"random lists have {random_ild[dataset]:.3f}"
                    )
                notes.append(
                    f"- {dataset} {r['model']}: NDCG@10 {cost:+.1%}, {metric} {change:+.1%} "
                    f"(target {aim} at ≥ −{budget:.0%} NDCG): **{'met' if met else 'missed'}**"
                    + reference
                )
    return [*lines, "", *notes, "", *mtl_comparison(records)]


def _interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """y at x on the piecewise-linear curve through ``points`` (x, y); None outside it."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return None


def mtl_comparison(records: list[dict]) -> list[str]:
    """The multi-task Transformer against calibrated re-ranking of the plain one, at equal
    validation NDCG@10 (the re-ranking's KL interpolated along its validation sweep)."""
    lines = []
    for mtl in (r for r in records if r["model"].startswith("transformer-mtl-")):
        if "valid_metrics" not in mtl:
            continue
        plain = next(
            (
                r
                for r in records
                if r["dataset"] == mtl["dataset"]
                and r["model"].startswith("transformer-calibrated-")
            ),
            None,
        )
        if plain is None:
            continue
        relevance = plain.get("params", {}).get("relevance", "scores")  # its chosen sweep
        sweep = [
            (t["valid_ndcg@10"], t["valid_calibration_kl@10"])
            for t in plain.get("tuning", [])
            if "valid_calibration_kl@10" in t
            and t.get("params", {}).get("relevance", "scores") == relevance
        ]
        ndcg, kl = mtl["valid_metrics"]["ndcg@10"], mtl["valid_metrics"]["calibration_kl@10"]
        matched = _interpolate(sweep, ndcg)
        if matched is None:
            verdict = (
                f"outside the re-ranking sweep's NDCG@10 range "
                f"({min(x for x, _ in sweep):.4f}–{max(x for x, _ in sweep):.4f}): no match"
            )
        else:
            better = "multi-task" if kl < matched else "re-ranking"
            verdict = (
                f"calibrated re-ranking of `transformer` (on its {relevance}) reaches "
                f"{matched:.4f} there: "
                f"**{better} is better calibrated**"
            )
        lines.append(
            f"- {mtl['dataset']} `{mtl['model']}` (validation, seed 0): NDCG@10 {ndcg:.4f}, "
            f"calibration KL@10 {kl:.4f}; {verdict} (one λ, not tuned; validation figures)."
        )
        base = next(
            (
                r
                for r in records
                if r["dataset"] == mtl["dataset"] and r["model"] == "transformer" and r is not mtl
            ),
            None,
        )
        if base is not None:
            cells = []
            for metric, name in (
                ("ndcg@10", "NDCG@10"),
                ("calibration_kl@10", "calibration KL@10"),
                ("ild@10", "ILD@10"),
            ):
                change = _relative(mtl, base, metric)
                cells.append(f"{name} {change} ({_paired_cell(mtl, base, metric)})")
            lines.append(
                f"- {mtl['dataset']} `{mtl['model']}` against `transformer` on test "
                f"(paired over users, seed means): {', '.join(cells)}; coverage@10 "
                f"{base['metrics']['coverage@10']:.3f} → {mtl['metrics']['coverage@10']:.3f}."
            )
    if not lines:
        return []
    return ["**Multi-task diversity objective vs re-ranking, at equal NDCG@10.**", "", *lines, ""]


RATINGS_FILE = "ratings.json"
BEHAVIOUR_FILE = "behaviour.json"


def paired_finite(a: dict, b: dict, metric: str):
    """Paired test of records ``a`` − ``b`` on a per-example metric that may be undefined
    (NaN) for some rows, over the rows defined in both; None without per-row files."""
    import numpy as np

    from lmrec.evaluate.stats import paired_test

    pa, pb = per_user(a), per_user(b)
    if pa is None or pb is None or metric not in pa["scores"] or metric not in pb["scores"]:
        return None
    if pa["user_ids"] != pb["user_ids"]:
        return None  # behaviour candidates are drawn once: the same rows in the same order
    x, y = pa["scores"][metric].mean(0), pb["scores"][metric].mean(0)
    keep = np.isfinite(x) & np.isfinite(y)
    return paired_test(x[keep], y[keep]) if keep.sum() > 1 else None


def behaviour_section(records: list[dict]) -> list[str]:
    """Behaviour prediction (benchmarks/behaviour.py): AUC/GAUC/LogLoss/ECE per data set,
    each model against LightGBM, and the multi-task table (each task alone vs both)."""
    rows = [r for r in records if r["protocol"].startswith("behaviour-")]
    if not rows:
        return []
    out = [
        "## Behaviour prediction: P(buy | history, item) and P(like | history, item)",
        "",
        "`benchmarks/behaviour.py`; every model of a data set on the same held-out candidates",
        "(each held-out buy, or held-out rating, with 4 negatives drawn once from the target",
        "behaviour's popularity). Probabilities are temperature-calibrated on validation.",
        "*vs lightgbm*: paired test on per-example pair AUC (the share of an example's",
        "positive–negative pairs ordered right), Δ with its bootstrap interval and t-test p.",
        "Reliability diagrams: `benchmarks/results/plots/behaviour_reliability_<data set>.png`.",
        "",
        "| data set | task | model | AUC | GAUC | LogLoss | ECE | seeds | vs lightgbm (pair AUC) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_data: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_data[r["dataset"]].append(r)
    for dataset, group in sorted(by_data.items()):
        base = next((r for r in group if r["model"] == "lightgbm"), None)
        for r in sorted(group, key=lambda r: -r["metrics"]["auc"]):
            cell = (
                "" if r is base or base is None else test_cell(paired_finite(r, base, "pair_auc"))
            )
            out.append(
                f"| {dataset} | {r['protocol'].removeprefix('behaviour-')} | {r['model']} | "
                + " | ".join(value_ci(r, m) for m in ("auc", "gauc", "logloss", "ece"))
                + f" | {seed_note(r)} | {cell} |"
            )
    out.append("")
    mtl = []
    for dataset, group in sorted(by_data.items()):
        every = [r for r in records if r["dataset"] == dataset]
        find = {(r["model"], r["protocol"]): r for r in every}
        multi = "transformer-behaviour-multitask"
        protocol = group[0]["protocol"]
        pairs = [
            ("NDCG@10 (next item)", "full-ranking", "transformer", "ndcg@10", paired),
            (
                f"AUC ({protocol.removeprefix('behaviour-')})",
                protocol,
                "transformer-behaviour-alone",
                "auc",
                None,
            ),
        ]
        for label, proto, alone, metric, test in pairs:
            a, m = find.get((alone, proto)), find.get((multi, proto))
            if a is None or m is None:
                continue
            t = test(m, a, metric) if test else paired_finite(m, a, "pair_auc")
            mtl.append(
                f"| {dataset} | {label} | {alone}: {value_ci(a, metric)} | "
                f"{value_ci(m, metric)} | {test_cell(t)} |"
            )
    if mtl:
        out += [
            "**Multi-task vs each task alone** (one backbone, `L = L_next + λ·L_behaviour`,",
            "λ = 1; the next-item comparison is paired on per-user NDCG@10, the behaviour one",
            "on per-example pair AUC).",
            "",
            "| data set | metric | task alone | multi-task | multi-task − alone |",
            "|---|---|---|---|---|",
            *mtl,
            "",
        ]
    return out


UPDATE_FILE = "update.json"


def update_section(records: list[dict]) -> list[str]:
    """Incremental update vs retraining (benchmarks/update.py): quality on the new period
    (paired on per-user NDCG@10), time, and what the old period lost."""
    out = []
    by_data: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in records:
        by_data[r["dataset"]][r["model"].rsplit("-", 1)[-1]] = r
    for dataset, pair in sorted(by_data.items()):
        update, retrain = pair.get("update"), pair.get("retrain")
        if update is None or retrain is None:
            continue
        m = update["metrics"]
        change = m["ndcg@10"] / retrain["metrics"]["ndcg@10"] - 1
        out.append(
            f"| {dataset} | {value_ci(update, 'ndcg@10')} | {value_ci(retrain, 'ndcg@10')} | "
            f"{change:+.1%} | {test_cell(paired(update, retrain))} | "
            f"{value_ci(update, 'update_seconds')} | {value_ci(retrain, 'retrain_seconds')} | "
            f"{m['speedup']:.1f}× | {value_ci(update, 'forgetting')} | {seed_note(update)} |"
        )
    if not out:
        return []
    return [
        "## Incremental update vs retraining from scratch (temporal-update)",
        "",
        "`benchmarks/update.py`: time cut at its 90% and 95% quantiles; the base Transformer",
        "(first 90%) updated with the next 5% (`model.update`, 3 epochs over the users with",
        "new events and as many others) against one retrained on the first 95%; both ranked on",
        "each known user's first event of the last 5% (full ranking). *update − retrain*:",
        "paired test on per-user NDCG@10. *forgetting*: NDCG@10 the update lost on the old",
        "period's last events of users it did not train on (before − after; > 0 = lost).",
        "Both full fits (base and retrain) hold out each user's last event for early stopping;",
        "the update trains on every new event, those last ones included, which are the closest",
        "in time to the test period: part of an update's lead over retraining comes from that.",
        "",
        "| data set | update NDCG@10 | retrain NDCG@10 | change | update − retrain | "
        "update s | retrain s | speed-up | forgetting | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *out,
        "",
    ]


def ratings_section(records: list[dict]) -> list[str]:
    """The Transformer's rating head against SVD/SVD++ (benchmarks/ratings.py): RMSE/MAE per
    data set, each row against SVD++ of the same protocol. Cross-validation records are
    paired over folds (t-test on per-fold RMSE differences, Student-t interval); split
    records over model seeds (the split is the same; a t-test on per-seed differences)."""
    import numpy as np

    from lmrec.evaluate.stats import mean_ci, paired_t_pvalue

    if not records:
        return []
    out = [
        "## Rating prediction: the Transformer's rating head vs SVD / SVD++ (RMSE, MAE)",
        "",
        "`benchmarks/ratings.py`; every model of a data set on the same folds or split.",
        "*vs svdpp*: RMSE difference (negative = better than SVD++), Student-t interval and",
        "paired t-test over the folds (cross-validation) or the model seeds (one split).",
        "",
        "| data set | protocol | model | RMSE | MAE | folds / seeds | vs svdpp (RMSE) |",
        "|---|---|---|---|---|---|---|",
    ]
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        by_key[(r["dataset"], r["split"])].append(r)
    for (dataset, split), group in sorted(by_key.items()):
        base = next((r for r in group if r["model"] == "svdpp"), None)
        for r in sorted(group, key=lambda r: r["metrics"]["rmse"]):
            cell = ""
            key = "per_fold" if "per_fold" in r else "per_seed"
            folds, base_folds = r.get(key), (base or {}).get(key)
            if r is not base and folds and base_folds and len(folds) == len(base_folds) > 1:
                pairs = zip(folds, base_folds, strict=True)
                d = np.array([a["rmse"] - b["rmse"] for a, b in pairs])
                ci = mean_ci(d)
                p = paired_t_pvalue(d)
                mark = "" if p < 0.05 else " **n.s.**"
                pv = f"p {p:.3f}" if p >= 0.001 else "p < 0.001"
                cell = (
                    f"Δ {ci.mean:+.4f} [{ci.mean - ci.half_width:+.4f}, "
                    f"{ci.mean + ci.half_width:+.4f}], {pv}{mark}"
                )
            elif r is not base:
                cell = "no paired test"
            n = seed_note(r)
            out.append(
                f"| {dataset} | {split} | {r['model']} | {value_ci(r, 'rmse')} | "
                f"{value_ci(r, 'mae')} | {n} | {cell} |"
            )
    out.append("")
    return out


def without_repeats(group: list[dict]) -> list[dict]:
    """One row per model where two scripts measured the same thing (the same model, split
    and metrics, say SVD's ratings CV run by baselines.py and by ratings.py): the newest.
    Records that disagree all stay, so a discrepancy shows."""
    kept: dict[tuple[str, str], dict] = {}
    for r in sorted(group, key=lambda r: r["date"], reverse=True):
        key = (r["model"], json.dumps(r["metrics"], sort_keys=True))
        kept.setdefault(key, r)
    return [r for r in group if r in kept.values()]


def render() -> str:
    records: list[dict] = []
    for path in sorted(RESULTS.glob("*.json")):
        for r in json.loads(path.read_text()):
            r["_file"] = path.name
            records.append(r)
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        if r["_file"] != DIVERSITY_FILE:
            groups[(r["dataset"], r["split"], r["protocol"])].append(r)
    scripts: dict[str, int] = defaultdict(int)
    for r in records:
        scripts[r.get("command", "unknown").split(" --")[0]] += 1
    dates = sorted(r["date"] for r in records)
    commits = sorted({r["commit"][:7] + (" (dirty)" if r.get("dirty") else "") for r in records})
    out = [
        "# Benchmarks",
        "",
        "Generated by `python benchmarks/render.py` from `benchmarks/results/*.json`; do not edit",
        "by hand. Every figure was measured by a script under `benchmarks/` on this machine:",
        "",
        f"- machine: {machine()}",
        f"- dates: {dates[0] if dates else '-'} .. {dates[-1] if dates else '-'}",
        f"- commits: {', '.join(commits)}",
        "- commands: "
        + ", ".join(f"`{c}` ({n} records)" for c, n in sorted(scripts.items()))
        + "; each record's exact command is its `command` field in `benchmarks/results/*.json`",
        "",
        "**Protocols.** *full-ranking*: every item in the catalogue is scored, the user's items",
        "from the fitting data are excluded (held-out targets stay candidates), ties count at",
        "their expected rank; test figures come from a model refitted on train + validation,",
        "hyper-parameters picked on validation NDCG@10 (grids in `benchmarks/baselines.py`).",
        "Leave-one-out keeps file order among events with equal timestamps (stable sort).",
        "With one target per user HR@10 = Recall@10. *rating*: RMSE/MAE on held-out ratings.",
        "`peak MB` is the peak resident memory of the process that loaded the data, tuned, fitted",
        "and evaluated that one model. `ref` gives the reference figures of",
        "`shared/datasets/README.md` (independent code, same protocol).",
        "",
        "**Seeds and significance.** Records written through `lmrec.experiment` give the",
        "mean over seeds 0..N-1 (the model's `seed`; the split stays fixed, so every model is",
        "scored on the same users) with a Student-t 95% interval; deterministic models (popular,",
        "itemknn, ease) run once. Grid points are fitted with seed 0 and chosen on validation",
        "NDCG@10 by code (`tuning` and `chosen` in each record). Comparisons are paired tests on",
        "per-user NDCG@10 (`benchmarks/results/per_user/`). `commit` is the code that ran;",
        "`(dirty)` marks runs with uncommitted changes under src/ or benchmarks/.",
        "",
        "**Timing conditions.** The 2-core machine was at times shared with test runs or a",
        "second benchmark (part of the 2026-11-23 runs and of the text runs of 2026-11-24/25),",
        "so `train s` / `eval s` are upper bounds; `sequences_per_second` in the JSON records",
        "says how fast each training loop actually ran.",
        "",
    ]
    out += headline(groups)
    out += text_headline(groups)
    out += cold_item_full_section(groups)
    out += transfer_section(groups)
    out += transformer_sources_section(groups)
    out += multi_interest_headline(groups)
    out += diversity_section([r for r in records if r["_file"] == DIVERSITY_FILE])
    out += ratings_section([r for r in records if r["_file"] == RATINGS_FILE])
    out += behaviour_section([r for r in records if r["_file"] == BEHAVIOUR_FILE])
    out += update_section([r for r in records if r["_file"] == UPDATE_FILE])
    for (dataset, split, protocol), group in sorted(groups.items()):
        group = without_repeats(group)
        out.append(f"## {dataset} — {split} — {protocol}")
        out.append("")
        if protocol == "rating":
            out += _table(group, RATING_COLUMNS, RATING_REFERENCE)
        elif protocol in PROTOCOL_COLUMNS:
            out += _table(group, PROTOCOL_COLUMNS[protocol], {})
        else:
            present = {k for r in group for k in r["metrics"]}
            columns = RANKING_COLUMNS + tuple(c for c in DISTRIBUTION_COLUMNS if c in present)
            out += _table(group, columns, REFERENCE)
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
