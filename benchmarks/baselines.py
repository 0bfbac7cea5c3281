"""Benchmark every baseline on every real data set and write BENCHMARKS.md.

Each (data set, model) pair runs in its own Python process, so ``peak_mb`` is the peak
resident memory of loading the data, tuning, fitting and evaluating that one model.

Protocol (the same as the reference figures in shared/datasets/README.md):
- ranking: leave-one-out (last event test, second-to-last validation; ties in time keep
  file order), JD: the shipped vld/tst buy files with only earlier buys excluded;
  hyper-parameters picked on validation NDCG@10 from a small grid, then the model is refitted
  on train + validation and scored on test, full ranking over all items;
- rating: random 80/10/10 split (seed 0) RMSE/MAE after refit on train + validation, and on
  ml-100k 5-fold cross-validation as Surprise's documentation reports it.

Run: ``.venv/bin/python benchmarks/baselines.py`` (all), or e.g.
``--datasets ml-100k beauty --models ease itemknn``. Records go to
``benchmarks/results/baselines.json``; BENCHMARKS.md is re-rendered from every results file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "baselines.json"

RANKING_DATASETS = ("ml-100k", "ml-latest-small", "beauty", "toys", "instruments", "jd")
RATING_DATASETS = ("ml-100k", "ml-latest-small", "instruments")
RANKING_MODELS = ("popular", "itemknn", "ease", "als", "bpr")
RATING_MODELS = ("svd", "svdpp")

#: Validation grids. Small on purpose: the point is a fair, reproducible bar, not a search.
GRIDS: dict[str, dict[str, list[object]]] = {
    "popular": {},
    "itemknn": {"k": [50, 100, 200]},
    "ease": {"l2": [10.0, 50.0, 100.0, 200.0, 500.0]},
    "als": {"factors": [64], "regularization": [0.1, 1.0, 10.0, 50.0], "alpha": [1.0, 10.0, 50.0]},
    "bpr": {"factors": [64], "learning_rate": [0.01, 0.05, 0.1], "iterations": [100, 200]},
    "svd": {},
    "svdpp": {},
}


def grid(model: str) -> list[dict[str, object]]:
    space = GRIDS[model]
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*space.values())]


# ------------------------------------------------------------------- worker (one process)
def run_ranking(dataset: str, model_name: str) -> list[dict]:
    from lmrec.data.registry import load_dataset, load_given_split
    from lmrec.data.split import split_dataset
    from lmrec.evaluate.ranking import fit_evaluate
    from lmrec.evaluate.report import make_record, peak_memory_mb
    from lmrec.models.registry import make_model

    split = load_given_split(dataset) if dataset == "jd" else split_dataset(load_dataset(dataset))
    candidates = grid(model_name)
    tuning: list[dict[str, object]] = []
    best_params, best_score = candidates[0], -1.0
    if len(candidates) > 1:
        for params in candidates:
            result, _ = fit_evaluate(
                make_model(model_name, **params), split, "valid", ks=(10,), progress=False
            )
            score = result.metrics["ndcg@10"]
            tuning.append({"params": params, "valid_ndcg@10": round(score, 5)})
            if score > best_score:
                best_params, best_score = params, score
    model = make_model(model_name, **best_params)
    result, train_seconds = fit_evaluate(model, split, "test", progress=False)
    return [
        make_record(
            dataset=dataset,
            split=split.protocol,
            protocol=result.protocol,
            model=model_name,
            metrics=result.metrics,
            train_seconds=train_seconds,
            eval_seconds=result.seconds,
            peak_mb=peak_memory_mb(),
            extra={"params": best_params, "tuning": tuning, "n_test_users": result.n_users},
        )
    ]


def run_rating(dataset: str, model_name: str) -> list[dict]:
    from lmrec.data.registry import load_dataset
    from lmrec.data.split import kfold, random_split
    from lmrec.evaluate.ranking import evaluate_ratings
    from lmrec.evaluate.report import make_record, peak_memory_mb
    from lmrec.models.registry import make_model

    data = load_dataset(dataset)
    records = []
    split = random_split(data, valid=0.1, test=0.1, seed=0)
    model = make_model(model_name)
    start = time.perf_counter()
    model.fit(split.fit_data("test"))
    train_seconds = time.perf_counter() - start
    result = evaluate_ratings(model, split.test, split_name=split.protocol)
    records.append(
        make_record(
            dataset=dataset,
            split=split.protocol,
            protocol="rating",
            model=model_name,
            metrics=result.metrics,
            train_seconds=train_seconds,
            eval_seconds=result.seconds,
            peak_mb=peak_memory_mb(),
        )
    )
    if dataset == "ml-100k":
        folds = kfold(data, n_splits=5, seed=0)
        per_fold, fit_times, eval_times = [], [], []
        for fold in folds:
            model = make_model(model_name)
            start = time.perf_counter()
            model.fit(fold.fit_data("test"))
            fit_times.append(time.perf_counter() - start)
            result = evaluate_ratings(model, fold.test, split_name=fold.protocol)
            per_fold.append(result.metrics)
            eval_times.append(result.seconds)
        metrics = {k: float(np.mean([m[k] for m in per_fold])) for k in per_fold[0]}
        records.append(
            make_record(
                dataset=dataset,
                split="5-fold cross-validation (seed=0)",
                protocol="rating",
                model=model_name,
                metrics=metrics,
                train_seconds=float(np.mean(fit_times)),
                eval_seconds=float(np.mean(eval_times)),
                peak_mb=peak_memory_mb(),
                extra={"per_fold": per_fold, "seconds": "mean per fold"},
            )
        )
    return records


def worker(task: str, dataset: str, model: str) -> None:
    records = run_ranking(dataset, model) if task == "ranking" else run_rating(dataset, model)
    command = f"python benchmarks/baselines.py --datasets {dataset} --models {model}"
    for record in records:
        record["command"] = command
    print("RECORDS " + json.dumps(records))


# ------------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--worker", nargs=3, metavar=("TASK", "DATASET", "MODEL"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    from rich.console import Console
    from rich.progress import track

    from lmrec.evaluate.report import metrics_table, write_records

    models = args.models or list(RANKING_MODELS + RATING_MODELS)
    tasks = [("ranking", d, m) for d in RANKING_DATASETS for m in RANKING_MODELS]
    tasks += [("rating", d, m) for d in RATING_DATASETS for m in RATING_MODELS]
    tasks = [t for t in tasks if t[2] in models and (not args.datasets or t[1] in args.datasets)]
    console = Console(stderr=True)
    records: list[dict] = []
    for task, dataset, model in track(tasks, description="benchmarks", console=console):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", task, dataset, model],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RECORDS ")]
        if proc.returncode != 0 or not lines:
            console.print(f"[red]{dataset}/{model} failed[/red]\n{proc.stderr[-2000:]}")
            continue
        new = json.loads(lines[-1][len("RECORDS ") :])
        records.extend(new)
        write_records(RESULTS, new)
        console.print(
            f"{dataset:>16} {model:>8}  {time.perf_counter() - start:6.1f}s  "
            + "  ".join(
                f"{k}={v:.4f}"
                for k, v in new[0]["metrics"].items()
                if k in ("ndcg@10", "recall@10", "rmse")
            )
        )
    console.print(metrics_table(records, title="baselines"))
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "render.py")], check=True)


if __name__ == "__main__":
    main()
