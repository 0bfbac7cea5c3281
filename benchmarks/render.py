"""Render BENCHMARKS.md from every ``benchmarks/results/*.json`` record file.

Records are the one format all benchmarks share (see ``lmrec.evaluate.report.make_record``).
Tables are grouped by data set, split and protocol, so a sampled or rating figure never sits
in a full-ranking column.
"""

from __future__ import annotations

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
    "text-encoding": ("texts_per_second", "first_seconds", "cached_seconds", "n_texts"),
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


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _table(records: list[dict], columns: tuple[str, ...], reference: dict) -> list[str]:
    head = [
        "model",
        *columns,
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
            *(_fmt(r["metrics"].get(c)) for c in columns),
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


def _headline_cell(r: dict) -> str:
    return f"{r['model']} {r['metrics']['ndcg@10']:.4f} / {r['metrics']['recall@10']:.4f}"


def headline(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Per data set (full ranking): the best baseline by NDCG@10 and every Transformer run."""
    lines = [
        "## Headline: NDCG@10 / Recall@10, full ranking, test",
        "",
        "| data set | best baseline | transformer variants | target |",
        "|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        ours = [r for r in group if r["model"].startswith("transformer")]
        base = [r for r in group if not r["model"].startswith("transformer")]
        if not ours or not base:
            continue
        best = max(base, key=lambda r: r["metrics"]["ndcg@10"])
        target = TARGETS.get(dataset)
        goal = (
            "beat best baseline"
            if target is None
            else (f"≥ {target[0]:.3f}" + (f" / ≥ {target[1]:.3f}" if target[1] else ""))
        )
        cells = "; ".join(_headline_cell(r) for r in ours)
        lines.append(f"| {dataset} | {_headline_cell(best)} | {cells} | {goal} |")
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
    """Per data set: ID-only Transformer vs each text model (full ranking), and cold start."""
    lines = [
        "## Text: ID-only vs text models (NDCG@10 / Recall@10, full ranking, test)",
        "",
        "| data set | transformer (ID only) | text models | best text vs ID |",
        "|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        ids = [r for r in group if r["model"] == "transformer"]
        text = [r for r in group if any(t in r["model"] for t in TEXT_MODELS)]
        text = [r for r in text if r["model"].startswith("transformer")]
        if not ids or not text:
            continue
        best = max(text, key=lambda r: r["metrics"]["ndcg@10"])
        gain = best["metrics"]["ndcg@10"] / ids[0]["metrics"]["ndcg@10"] - 1
        cells = "; ".join(_headline_cell(r) for r in text)
        lines.append(
            f"| {dataset} | {_headline_cell(ids[0])} | {cells} | {best['model']} {gain:+.1%} |"
        )
    lines += [
        "",
        "## Cold start: Recall@20 (target: text ≥ 3× popularity on cold items)",
        "",
        "| data set | protocol | popular | transformer (ID) | text models | best / popular |",
        "|---|---|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol not in ("cold-item", "cold-user"):
            continue
        by_model = {r["model"]: r["metrics"]["recall@20"] for r in group}
        pop = next((v for m, v in by_model.items() if "pop" in m), None)
        text = {m: v for m, v in by_model.items() if any(t in m for t in TEXT_MODELS)}
        best = max(text.values(), default=None)
        ratio = "" if not pop or best is None else f"{best / pop:.1f}×"
        cells = "; ".join(f"{m} {v:.4f}" for m, v in sorted(text.items()))
        lines.append(
            f"| {dataset} | {protocol} | {_fmt(pop)} | {_fmt(by_model.get('transformer'))} "
            f"| {cells} | {ratio} |"
        )
    keys = sorted({(d, p) for d, _s, p in groups} & set(COLD_NOTES))
    notes = [f"- {d} {p}: {COLD_NOTES[d, p]}" for d, p in keys]
    return [*lines, "", *notes, ""] if notes else [*lines, ""]


def multi_interest_headline(groups: dict[tuple[str, str, str], list[dict]]) -> list[str]:
    """Per data set: what each interest source adds, and the mean learned source weights."""
    lines = [
        "## Multi-scenario interests: what each source adds (full ranking, test)",
        "",
        "| data set | variant | NDCG@10 | Recall@10 | mean source weights α (test users) |",
        "|---|---|---|---|---|",
    ]
    for (dataset, _split, protocol), group in sorted(groups.items()):
        if protocol != "full-ranking":
            continue
        for r in group:
            if not r["model"].startswith("multi-interest"):
                continue
            weights = ", ".join(f"{k} {v:.2f}" for k, v in r["mean_source_weights"].items())
            m = r["metrics"]
            lines.append(
                f"| {dataset} | {r['model']} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} "
                f"| {weights} |"
            )
    return [*lines, ""]


def render() -> str:
    records: list[dict] = []
    for path in sorted(RESULTS.glob("*.json")):
        for r in json.loads(path.read_text()):
            r["_file"] = path.name
            records.append(r)
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["dataset"], r["split"], r["protocol"])].append(r)
    scripts: dict[str, int] = defaultdict(int)
    for r in records:
        scripts[r.get("command", "unknown").split(" --")[0]] += 1
    dates = sorted(r["date"] for r in records)
    commits = sorted({r["commit"] for r in records})
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
        "**Timing conditions.** The 2-core machine was at times shared with test runs or a",
        "second benchmark (part of the 2026-11-23 runs and of the text runs of 2026-11-24/25),",
        "so `train s` / `eval s` are upper bounds; `sequences_per_second` in the JSON records",
        "says how fast each training loop actually ran.",
        "",
    ]
    out += headline(groups)
    out += text_headline(groups)
    out += multi_interest_headline(groups)
    for (dataset, split, protocol), group in sorted(groups.items()):
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
