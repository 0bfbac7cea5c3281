"""Behaviour prediction: will this user buy (or like) this item? The Transformer's behaviour
head against LightGBM on hand-made features, on the same candidates.

Models (``model`` in the records):

- ``transformer-behaviour-multitask``: the behaviour Transformer trained on next items and
  the behaviour task together, ``L = L_next + λ · L_behaviour`` with λ = 1
  (lmrec.models.behaviour_transformer);
- ``transformer-behaviour-alone``: the same network trained on the behaviour task alone
  (``sequence_weight=0``);
- ``transformer-behaviour-multitask-uncertainty``: the multi-task model with learned task
  weights (``task_weighting="uncertainty"``, Kendall et al. 2018) instead of λ = 1;
- ``lightgbm``: gradient-boosted trees on counts, recency, item popularity, user activity
  and user–category affinity (lmrec.models.gbdt);
- ``transformer``: the plain next-item Transformer, for the multi-task table (next-item
  NDCG@10 of each task alone vs multi-task).

Protocols (lmrec.train.behaviour, lmrec.evaluate.behaviour):

- jd: the shipped split (views, favourites and buys for training; ``vld_buy`` for early
  stopping and calibration; ``tst_buy`` for test). Task ``buy``: each held-out buy is a
  positive with 4 negatives drawn from item popularity among items the user never bought.
  Not from the user's own viewed items: only 11% of JD's held-out buys were viewed in
  training (82% of training buys were), so viewed negatives would reward a model for
  unlearning "viewed, then bought" (lmrec.train.behaviour).
- ml-100k: leave-one-out. Task ``like``: the held-out rating is positive when at least 4,
  negative otherwise, plus 4 negatives drawn from item popularity among movies the user never
  rated.

Negatives are drawn once (seed 0), so every model is scored on the same candidates; each
model runs 3 seeds and stops early on validation AUC (LightGBM too), then fits a temperature
on validation LogLoss. AUC, GAUC, LogLoss, ECE on test; paired tests against ``lightgbm`` on
the per-example pair AUC. ``--plot`` draws each data set's reliability diagram (last seed of
each model) to ``benchmarks/results/plots/behaviour_reliability_<dataset>.png``.

Run: ``.venv/bin/python benchmarks/behaviour.py`` (all) or e.g. ``--datasets jd --models
lightgbm``. Records go to ``benchmarks/results/behaviour.json``.
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

RECORDS = RESULTS / "behaviour.json"
PLOTS = RESULTS / "plots"  # reliability curves: PNG, and the points behind it as JSON
DATASETS = ("jd", "ml-100k")
MODELS = (
    "lightgbm",
    "transformer-behaviour-multitask",
    "transformer-behaviour-alone",
    "transformer-behaviour-multitask-uncertainty",
    "transformer",
)
SPLITS = {"jd": "given", "ml-100k": "loo"}
TASKS = {"jd": "buy", "ml-100k": "like"}
#: Transformer settings per data set (not tuned; early stopping on validation AUC).
TRANSFORMER: dict[str, dict[str, object]] = {
    "jd": {"max_len": 50, "batch_size": 128, "lr": 1e-3, "epochs": 60, "patience": 5},
    "ml-100k": {"max_len": 200, "batch_size": 64, "epochs": 60, "patience": 5},
}


def model_spec(dataset: str, model: str):
    from lmrec.experiment import ModelSpec

    task = {"target": TASKS[dataset]}
    if model == "lightgbm":  # behaviour only: ranking 13k items per user through trees is slow
        return ModelSpec("lightgbm", params=task, rank=False)
    params = {"progress": False, **TRANSFORMER[dataset]}
    if model == "transformer":
        return ModelSpec("transformer", params=params)
    params.update(task)
    if model == "transformer-behaviour-alone":
        params["sequence_weight"] = 0.0
    if model == "transformer-behaviour-multitask-uncertainty":
        params["task_weighting"] = "uncertainty"
    return ModelSpec("transformer-behaviour", params=params, label=model)


def worker(dataset: str, model: str, seeds: int, plot: bool) -> list[dict]:
    import torch

    from lmrec.experiment import ExperimentConfig, run_experiment, save_result

    torch.set_num_threads(2)
    cmd = command(__file__, "--datasets", dataset, "--models", model, "--seeds", str(seeds))
    config = ExperimentConfig(dataset, split=SPLITS[dataset], seeds=seeds, command=cmd)
    result = run_experiment(config, [model_spec(dataset, model)])
    if plot and model != "transformer":
        _, split = _split(config)
        reliability_plot(dataset, model, result.outcomes[model].model, split)
    return save_result(result, RECORDS, PER_USER)


def _split(config):
    from lmrec.experiment import load_experiment_split

    return load_experiment_split(config)


def reliability_plot(dataset: str, model: str, fitted, split) -> Path:
    """Add ``model``'s reliability curve (its last seed) to the data set's PNG data file and
    redraw the PNG from every model drawn so far."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lmrec.evaluate.behaviour import behaviour_candidates
    from lmrec.evaluate.binary import reliability

    c = behaviour_candidates(fitted, split, "test")
    bins = reliability(c.labels, c.probabilities)
    data_file = PLOTS / f"behaviour_reliability_{dataset}.json"
    curves = json.loads(data_file.read_text()) if data_file.exists() else {}
    curves[model] = {
        "predicted": bins.predicted.tolist(),
        "observed": bins.observed.tolist(),
        "counts": bins.counts.tolist(),
        "ece": bins.ece,
    }
    PLOTS.mkdir(parents=True, exist_ok=True)
    data_file.write_text(json.dumps(curves, indent=1) + "\n")
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, curve in sorted(curves.items()):
        ax.plot(
            curve["predicted"],
            curve["observed"],
            marker="o",
            label=f"{name} (ECE {curve['ece']:.3f})",
        )
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_title(f"{dataset}: reliability of P({TASKS[dataset]} | history, item), test")
    ax.legend(fontsize=7)
    out = PLOTS / f"behaviour_reliability_{dataset}.png"
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    parser.add_argument("--no-plot", action="store_true", help="skip the reliability PNGs")
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "MODEL"))
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.seeds, not args.no_plot))
        return
    run_cases(
        __file__,
        itertools.product(args.datasets, args.models),
        ["--seeds", str(args.seeds), *(["--no-plot"] if args.no_plot else [])],
        ("auc", "gauc", "logloss", "ece", "ndcg@10"),
    )


if __name__ == "__main__":
    main()
