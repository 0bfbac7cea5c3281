"""Benchmark every baseline on every real data set (through lmrec.experiment).

Each (data set, model) pair runs in its own Python process, so ``peak_mb`` is the peak
resident memory of loading the data, tuning, fitting and evaluating that one model.

Protocol (the same as the reference figures in shared/datasets/README.md):
- ranking: leave-one-out (last event test, second-to-last validation; ties in time keep
  file order), JD: the shipped vld/tst buy files with only earlier buys excluded;
  hyper-parameters picked on validation NDCG@10 from :data:`GRIDS` (seed 0) by
  :func:`lmrec.experiment.run_experiment`, then the model is refitted on train + validation
  with seeds 0..N-1 (deterministic models once) and scored on test, full ranking;
- rating: random 80/10/10 split (split seed 0) RMSE/MAE after refit on train + validation,
  N model seeds; on ml-100k also 5-fold cross-validation as Surprise's documentation reports.

Run: ``.venv/bin/python benchmarks/baselines.py`` (all), or e.g.
``--datasets ml-100k beauty --models ease itemknn --seeds 3``. Records go to
``benchmarks/results/baselines.json``, per-user scores to ``benchmarks/results/per_user/``;
BENCHMARKS.md is re-rendered from every results file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import (  # noqa: E402
    DEFAULT_SEEDS,
    PER_USER,
    RESULTS,
    command,
    emit,
    run_cases,
    seeds_arg,
)

RECORDS = RESULTS / "baselines.json"
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


def worker(task: str, dataset: str, model: str, seeds: int) -> list[dict]:
    from lmrec.evaluate.report import write_records
    from lmrec.experiment import (
        ExperimentConfig,
        ModelSpec,
        cross_validate_ratings,
        run_experiment,
        save_result,
    )

    cmd = command(__file__, "--datasets", dataset, "--models", model, "--seeds", str(seeds))
    spec = ModelSpec(model, grid=GRIDS[model])
    if task == "ranking":
        config = ExperimentConfig(
            dataset, split="given" if dataset == "jd" else "loo", seeds=seeds, command=cmd
        )
        return save_result(run_experiment(config, [spec]), RECORDS, PER_USER)
    config = ExperimentConfig(dataset, split="random", seeds=seeds, command=cmd)
    records = save_result(run_experiment(config, [spec]), RECORDS, PER_USER, ["rating"])
    if dataset == "ml-100k":
        cv = cross_validate_ratings(dataset, spec, n_splits=5, command=cmd)
        write_records(RECORDS, [cv])
        records.append(cv)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    parser.add_argument("--worker", nargs=3, metavar=("TASK", "DATASET", "MODEL"))
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.seeds))
        return

    models = args.models or list(RANKING_MODELS + RATING_MODELS)
    tasks = [("ranking", d, m) for d in RANKING_DATASETS for m in RANKING_MODELS]
    tasks += [("rating", d, m) for d in RATING_DATASETS for m in RATING_MODELS]
    tasks = [t for t in tasks if t[2] in models and (not args.datasets or t[1] in args.datasets)]
    run_cases(
        __file__,
        tasks,
        ["--seeds", str(args.seeds)],
        ("ndcg@10", "recall@10", "rmse", "mae"),
        also=lambda record: f"seeds={len(record.get('seeds', [0]))}",
    )


if __name__ == "__main__":
    main()
