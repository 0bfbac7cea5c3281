"""Benchmark multi-scenario interests: what each source adds, fixed vs learned fusion.

- Instruments (5-core Amazon reviews, leave-one-out, full ranking): the behaviour source
  (what a user rated), + the rating values, + the text of the user's own reviews (bundled
  MiniLM), the last with fixed equal weights and with the learned gate.
- JD (the shipped vld/tst buy split, full ranking, only earlier buys excluded): predict the
  next buy from buys, + page views, + favourites, fixed equal weights and learned gate.

Each record carries the mean source weights α over the test users (``mean_source_weights``).
Every (data set, variant) runs in its own process, so ``peak_mb`` is that variant's.

Run: ``.venv/bin/python benchmarks/multi_interest.py`` (all), or e.g. ``--datasets jd``.
Records go to ``benchmarks/results/multi_interest.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import emit, render, run_worker  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "multi_interest.json"

#: variant name → MultiInterest parameters, per data set. Names with review text say "text".
VARIANTS: dict[str, dict[str, dict[str, object]]] = {
    "instruments": {
        "multi-interest-behaviour": {"sources": "behaviour:rate"},
        "multi-interest-behaviour+rating": {"sources": "behaviour:rate,rating"},
        "multi-interest-behaviour+rating+text-fixed": {
            "sources": "behaviour:rate,rating,review",
            "source_weighting": "fixed",
            "source_weights": "behaviour:rate=1,rating=1,review=1",
        },
        "multi-interest-behaviour+rating+text-learned": {"sources": "behaviour:rate,rating,review"},
    },
    "jd": {
        "multi-interest-buy": {"sources": "behaviour:buy"},
        "multi-interest-buy+view": {"sources": "behaviour:buy,behaviour:view"},
        "multi-interest-buy+view+fav-fixed": {
            "sources": "behaviour:buy,behaviour:view,behaviour:fav",
            "source_weighting": "fixed",
            "source_weights": "behaviour:buy=1,behaviour:view=1,behaviour:fav=1",
        },
        "multi-interest-buy+view+fav-learned": {
            "sources": "behaviour:buy,behaviour:view,behaviour:fav"
        },
    },
}
COMMON: dict[str, dict[str, object]] = {
    "instruments": {},
    "jd": {"target_behaviour": "buy"},
}


def run(dataset: str, variant: str) -> dict:
    import torch

    from lmrec.data.registry import load_dataset, load_given_split
    from lmrec.data.split import split_dataset
    from lmrec.evaluate.ranking import fit_evaluate
    from lmrec.evaluate.report import make_record, peak_memory_mb
    from lmrec.models.multi_interest import MultiInterest

    torch.set_num_threads(2)
    split = load_given_split(dataset) if dataset == "jd" else split_dataset(load_dataset(dataset))
    params = {**COMMON[dataset], **VARIANTS[dataset][variant]}
    model = MultiInterest(**params, progress=False)
    result, train_seconds = fit_evaluate(model, split, "test", progress=False)
    test_users = split.targets("test")["user_id"].unique()
    weights = model.source_weights_of(list(test_users)).mean()
    return make_record(
        dataset=dataset,
        split=split.protocol,
        protocol=result.protocol,
        model=variant,
        metrics=result.metrics,
        train_seconds=train_seconds,
        eval_seconds=result.seconds,
        peak_mb=peak_memory_mb(),
        extra={
            "params": params,
            "best_epoch": model.history_.best_epoch + 1,
            "epochs_run": len(model.history_.losses),
            "valid_ndcg@10": model.history_.best_score,
            "mean_source_weights": {k: round(float(v), 4) for k, v in weights.items()},
            "n_test_users": result.n_users,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--variants", nargs="*", default=None, help="default: all of a data set")
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "VARIANT"))
    args = parser.parse_args()
    if args.worker:
        emit(
            run(*args.worker),
            f"python benchmarks/multi_interest.py --datasets {args.worker[0]} "
            f"--variants {args.worker[1]}",
        )
        return

    for dataset in args.datasets:
        for variant in args.variants or list(VARIANTS[dataset]):
            if variant not in VARIANTS[dataset]:
                parser.error(
                    f"{dataset} has no variant {variant!r}: {', '.join(VARIANTS[dataset])}"
                )
            start = time.perf_counter()
            record = run_worker(__file__, [dataset, variant], RESULTS)
            if record is None:
                continue
            m = record["metrics"]
            print(
                f"{dataset:>12} {variant:>46} {time.perf_counter() - start:7.1f}s "
                f"ndcg@10={m['ndcg@10']:.4f} recall@10={m['recall@10']:.4f} "
                f"weights={record['mean_source_weights']}",
                flush=True,
            )
    render()


if __name__ == "__main__":
    main()
