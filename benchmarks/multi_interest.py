"""Benchmark multi-scenario interests: what each source adds (lmrec.experiment).

- Instruments (5-core Amazon reviews, leave-one-out, full ranking): the behaviour source
  (what a user rated), + the rating values, + the text of the user's own reviews (bundled
  MiniLM).
- JD (the shipped vld/tst buy split, full ranking, only earlier buys excluded): predict the
  next buy from buys, + page views, + favourites.

With several sources, fixed equal source weights vs learned ones is a choice, so it is a grid
point chosen on validation NDCG@10 (seed 0) by :func:`lmrec.experiment.run_experiment`, not a
row of its own; the record's ``tuning`` shows both validation scores. Each record carries the
mean source weights α over the test users (``source_weight:<source>`` metrics). Every
(data set, variant) runs in its own process, so ``peak_mb`` is that variant's.

Run: ``.venv/bin/python benchmarks/multi_interest.py`` (all), or e.g. ``--datasets jd``.
Records go to ``benchmarks/results/multi_interest.json``.
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

RECORDS = RESULTS / "multi_interest.json"
#: MultiInterest's parameter choosing fixed or learned source weights (one name to change).
WEIGHTING = "source_weighting"
#: Metric-name prefix of the mean source weights α over the test users.
WEIGHT_PREFIX = "source_weight:"

#: variant name → sources, per data set. The last of each is the full model.
SOURCES: dict[str, dict[str, str]] = {
    "instruments": {
        "multi-interest-behaviour": "behaviour:rate",
        "multi-interest-behaviour+rating": "behaviour:rate,rating",
        "multi-interest-behaviour+rating+text": "behaviour:rate,rating,review",
    },
    "jd": {
        "multi-interest-buy": "behaviour:buy",
        "multi-interest-buy+view": "behaviour:buy,behaviour:view",
        "multi-interest-buy+view+fav": "behaviour:buy,behaviour:view,behaviour:fav",
    },
}
COMMON: dict[str, dict[str, object]] = {
    "instruments": {},
    "jd": {"target_behaviour": "buy"},
}


def variant_spec(dataset: str, variant: str):
    """One variant: its sources, and for several sources the fixed-vs-learned grid."""
    from lmrec.experiment import ModelSpec

    sources = SOURCES[dataset][variant]
    names = sources.split(",")
    grid: dict[str, list[object]] | list[dict[str, object]] = {}  # one source: no choice
    if len(names) > 1:
        equal = ",".join(f"{name}=1" for name in names)
        grid = [{WEIGHTING: "fixed", "source_weights": equal}, {WEIGHTING: "learned"}]
    params = {**COMMON[dataset], "sources": sources, "progress": False}
    return ModelSpec("multi-interest", params=params, grid=grid, label=variant, measure=weights)


def weights(model, split, on: str) -> dict[str, float]:
    """Mean source weights α over the users scored on ``on``."""
    users = list(split.targets(on)["user_id"].unique())
    mean = model.source_weights_of(users).mean()
    return {f"{WEIGHT_PREFIX}{k}": float(v) for k, v in mean.items()}


def worker(dataset: str, variant: str, seeds: int) -> list[dict]:
    import torch

    from lmrec.experiment import ExperimentConfig, run_experiment, save_result

    torch.set_num_threads(2)
    args = ["--datasets", dataset, "--variants", variant, "--seeds", str(seeds)]
    split = "given" if dataset == "jd" else "loo"
    config = ExperimentConfig(dataset, split=split, seeds=seeds, command=command(__file__, *args))
    result = run_experiment(config, [variant_spec(dataset, variant)])
    return save_result(result, RECORDS, PER_USER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--variants", nargs="*", default=None, help="default: all of a data set")
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "VARIANT"))
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.seeds))
        return

    cases = []
    for dataset in args.datasets:
        for variant in args.variants or list(SOURCES[dataset]):
            if variant not in SOURCES[dataset]:
                parser.error(f"{dataset} has no variant {variant!r}: {', '.join(SOURCES[dataset])}")
            cases.append((dataset, variant))
    run_cases(
        __file__,
        cases,
        ["--seeds", str(args.seeds)],
        also=lambda record: f"chosen={record['chosen']}",
    )


if __name__ == "__main__":
    main()
