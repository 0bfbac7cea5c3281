"""Benchmark repeat-aware evaluation on a world where users come back to their items.

Data: ``synthetic-repeats`` (the built-in synthetic world with ``repeat=0.3``: each event
after a user's first re-consumes one of their earlier items with probability 0.3, so about
27% of events and of leave-one-out targets are repeats; generated, no files). No shared data
set has repeats, so this is the only place the two protocols differ.

Both protocols of :mod:`lmrec.evaluate.ranking`, each through :mod:`lmrec.experiment`
(validation grids, N seeds, test, full ranking):

- ``new-items``: seen items excluded; test cases whose target the user already had are left
  out of the metrics and counted (``repeat_targets`` in the record);
- ``repeats``: nothing excluded, every target ranked (the Transformer also stops early
  under this rule: ``eval_mode``).

Models: ``repeat`` (the user's own items by recency and frequency, "play it again"),
``popular``, ``ease`` (l2 on validation) and the ``transformer`` (the synthetic settings of
``benchmarks/transformer.py``).

Run: ``.venv/bin/python benchmarks/repeats.py`` (or ``--protocols repeats --models ease``).
Each (protocol, model) runs in its own process; records go to
``benchmarks/results/repeats.json``.
"""

from __future__ import annotations

import argparse
import itertools
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

RECORDS = RESULTS / "repeats.json"
DATASET = "synthetic-repeats"
PROTOCOLS = ("new-items", "repeats")
MODELS = ("repeat", "popular", "ease", "transformer")
#: Fixed parameters and validation grids per model.
SPECS: dict[str, tuple[dict[str, object], dict[str, list[object]]]] = {
    "repeat": ({}, {"blend": [0.0, 0.5, 1.0]}),
    "popular": ({}, {}),
    "ease": ({}, {"l2": [10.0, 50.0, 100.0, 500.0]}),
    "transformer": (
        {"dim": 32, "layers": 1, "max_len": 20, "dropout": 0.1, "epochs": 40, "patience": 10},
        {},
    ),
}


def worker(protocol: str, model: str, seeds: int) -> list[dict]:
    from lmrec.experiment import ExperimentConfig, ModelSpec, run_experiment, save_result

    cmd = command(__file__, "--protocols", protocol, "--models", model, "--seeds", str(seeds))
    params, grid = SPECS[model]
    if model == "transformer":
        params = {**params, "progress": False, "threads": 2}
    config = ExperimentConfig(DATASET, split="loo", seeds=seeds, command=cmd, mode=protocol)
    result = run_experiment(config, [ModelSpec(model, params=params, grid=grid)])
    return save_result(result, RECORDS, PER_USER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocols", nargs="*", default=list(PROTOCOLS), choices=PROTOCOLS)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    parser.add_argument("--worker", nargs=2, metavar=("PROTOCOL", "MODEL"))
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.seeds))
        return
    run_cases(
        __file__,
        itertools.product(args.protocols, args.models),
        ["--seeds", str(args.seeds)],
        also=lambda record: f"repeat_targets={record.get('repeat_targets')}",
    )


if __name__ == "__main__":
    main()
