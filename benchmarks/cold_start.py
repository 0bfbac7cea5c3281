"""Benchmark cold start: new items known only by their text, and new users with 1–3 events.

Protocols (see ``lmrec.evaluate.cold_start``):

- ``cold-item``: 20% of the items (seed 0) are held out of training entirely; users whose
  leave-one-out test item is one of them are ranked against the held-out items; the record
  also carries ``full_catalogue_recall@20`` (the same targets ranked against every item);
- ``cold-user``: 20% of the users with >= 4 events are never trained on; their first k = 1,
  2, 3 events are the history, the next event the target; full ranking.

Models: ``popular`` (the floor), ``transformer`` (ID embeddings only),
``transformer-fusion-add`` and ``transformer-fusion-gate`` (ID + text), and
``transformer-text-only``.

Run: ``.venv/bin/python benchmarks/cold_start.py --datasets instruments ml-100k``.
Records go to ``benchmarks/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.json"
DATASETS = ("instruments", "ml-100k")
MODELS = (
    "popular",
    "transformer",
    "transformer-fusion-add",
    "transformer-fusion-gate",
    "transformer-text-only",
)


def make(model_name: str, dataset: str):
    from lmrec.models.popular import MostPopular
    from lmrec.models.sequential import SequenceTransformer
    from transformer import SETTINGS, TEXT_VARIANTS

    if model_name == "popular":
        return MostPopular()
    params = {"progress": False, "patience": 10, **SETTINGS[dataset]}
    # the fusion comes from the variant's name, as in benchmarks/transformer.py ("id" if none)
    return SequenceTransformer(**params, **TEXT_VARIANTS.get(model_name, {})), params


def run(dataset: str, model_name: str, protocol: str) -> dict:
    import torch

    from lmrec.data.registry import load_dataset
    from lmrec.evaluate.cold_start import (
        cold_item_split,
        cold_user_split,
        evaluate_cold_items,
        evaluate_cold_users,
    )
    from lmrec.evaluate.report import make_record, peak_memory_mb

    torch.set_num_threads(2)
    data = load_dataset(dataset)
    made = make(model_name, dataset)
    model, params = (made, {}) if model_name == "popular" else made
    start = time.perf_counter()
    extra: dict[str, object] = {"params": {k: v for k, v in params.items() if k != "progress"}}
    if protocol == "cold-item":
        cold = cold_item_split(data, fraction=0.2, seed=0)
        model.fit_split(cold.split, "test")
        train_seconds = time.perf_counter() - start
        result = evaluate_cold_items(model, cold, progress=False)
        full = evaluate_cold_items(model, cold, full_catalogue=True, progress=False)
        metrics = dict(result.metrics)
        metrics["full_catalogue_recall@20"] = full.metrics["recall@20"]
        metrics["full_catalogue_ndcg@10"] = full.metrics["ndcg@10"]
        extra.update({"n_cold_items": len(cold.cold_items), "n_users": result.n_users})
    else:
        cold = cold_user_split(data, fraction=0.2, n_given=(1, 2, 3), seed=0)
        if model_name == "popular":
            model.fit(cold.split.fit_data("test"))
        else:
            model.fit(cold.split.train, valid=cold.split.train.with_interactions(cold.split.valid))
        train_seconds = time.perf_counter() - start
        result = evaluate_cold_users(model, cold)
        metrics = dict(result.metrics)
        extra["n_users"] = result.n_users
    if hasattr(model, "history_"):
        extra["best_epoch"] = model.history_.best_epoch + 1
    return make_record(
        dataset=dataset,
        split=result.split,
        protocol=protocol,
        model=model_name,
        metrics=metrics,
        train_seconds=train_seconds,
        eval_seconds=result.seconds,
        peak_mb=peak_memory_mb(),
        extra=extra,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument(
        "--protocols",
        nargs="*",
        default=["cold-item", "cold-user"],
        choices=["cold-item", "cold-user"],
    )
    args = parser.parse_args()
    from lmrec.evaluate.report import write_records

    for dataset in args.datasets:
        for protocol in args.protocols:
            for model_name in args.models:
                start = time.perf_counter()
                record = run(dataset, model_name, protocol)
                record["command"] = (
                    f"python benchmarks/cold_start.py --datasets {dataset} "
                    f"--models {model_name} --protocols {protocol}"
                )
                write_records(RESULTS, [record])
                m = record["metrics"]
                print(
                    f"{dataset:>12} {protocol:>9} {model_name:>24} "
                    f"{time.perf_counter() - start:7.1f}s recall@20={m['recall@20']:.4f} "
                    f"ndcg@10={m['ndcg@10']:.4f}",
                    flush=True,
                )
    print(json.dumps({"written": str(RESULTS)}))


if __name__ == "__main__":
    main()
