"""Incremental update against retraining from scratch: the temporal-update protocol.

Protocol (``lmrec.evaluate.update``, run by :func:`lmrec.experiment.run_temporal_update`):
time is cut at the 90% and 95% quantiles of the event timestamps. The base Transformer is
fitted on the first 90% (each user's last event held out for early stopping), then updated
with the next 5% (``model.update``: new users, new items from their text, 3 epochs over the
users with new events plus as many others drawn at random); a second Transformer is
retrained from scratch on the first 95% the same way. Both are scored on each known user's
first event of the last 5%, full ranking. Records: ``<model>-update`` (with
``update_seconds``, ``retrain_seconds``, ``speedup`` and ``forgetting``, the old-period
NDCG@10 lost by the update on users it did not train on) and ``<model>-retrain``.

Settings are the Transformer's of ``benchmarks/transformer.py``, with the grid point its
validation chose there (this protocol has no validation period of its own); the update's
epochs and replay are fixed, not tuned: nothing here may look at the test period.

Run: ``.venv/bin/python benchmarks/update.py`` (ml-100k) or ``--datasets ml-100k beauty``.
Records go to ``benchmarks/results/update.json``.
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

RECORDS = RESULTS / "update.json"
DATASETS = ("ml-100k", "ml-latest-small", "beauty", "toys")
#: Epochs and replay of the update (fixed; see the module docstring).
EPOCHS = 3
REPLAY = 1.0


def model_spec(dataset: str):
    from lmrec.experiment import ModelSpec
    from transformer import variant_spec

    spec = variant_spec(dataset, "transformer")
    params = dict(spec.params)
    if spec.grid:  # the protocol has no validation period: take what validation chose there
        params.update(_chosen_in_transformer_benchmark(dataset))
    return ModelSpec("transformer", params=params)


def _chosen_in_transformer_benchmark(dataset: str) -> dict:
    """The grid point validation chose for ``transformer`` in benchmarks/transformer.py."""
    import json

    for record in json.loads((RESULTS / "transformer.json").read_text()):
        if (record["dataset"], record["model"]) == (dataset, "transformer") and record.get(
            "chosen"
        ):
            return record["chosen"]
    raise SystemExit(f"run benchmarks/transformer.py --datasets {dataset} first (its grid)")


def worker(dataset: str, seeds: int) -> list[dict]:
    import torch

    from lmrec.experiment import ExperimentConfig, run_temporal_update, save_result

    torch.set_num_threads(2)
    cmd = command(__file__, "--datasets", dataset, "--seeds", str(seeds))
    config = ExperimentConfig(dataset, seeds=seeds, command=cmd)
    result = run_temporal_update(
        config, model_spec(dataset), epochs=EPOCHS, replay=REPLAY, progress=_say
    )
    return save_result(result, RECORDS, PER_USER)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=["ml-100k"], choices=DATASETS)
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    parser.add_argument("--worker", metavar="DATASET")
    args = parser.parse_args()
    if args.worker:
        emit(worker(args.worker, args.seeds))
        return
    run_cases(
        __file__,
        [(dataset,) for dataset in args.datasets],
        ["--seeds", str(args.seeds)],
        ("ndcg@10", "update_seconds", "retrain_seconds", "forgetting"),
    )


if __name__ == "__main__":
    main()
