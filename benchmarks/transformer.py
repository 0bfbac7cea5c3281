"""Benchmark the behaviour-sequence Transformer on the baselines' splits (lmrec.experiment).

Variants (``model`` in the records):

- ``transformer``: causal next-item training from scratch (full softmax over all items);
- ``transformer-mlm-finetune-full``, ``-frozen``, ``-lora``: masked-item pretraining (per
  seed, on every behaviour), then causal fine-tuning from the pretrained run (``init_from``,
  a path under ``runs/bench/``) of all weights (full), of all but the Transformer blocks
  (frozen) or of LoRA adapters on every linear layer of the blocks (lora); see
  :mod:`lmrec.train.peft`. The modes run in one process and share each seed's pretraining;
  records give ``trainable_params`` and the pretraining's seconds (``per_seed_info``);
- ``transformer-fusion``: causal training with each item's ID embedding fused with its text
  embedding (bundled all-MiniLM-L6-v2; see ``lmrec.models.fusion``); the fusion (add,
  concat, gate) is a grid point chosen on validation NDCG@10, not a separate row;
- ``transformer-text-only``: item vectors from text alone (no ID embeddings);
- ``transformer-masked``: masked-item training from scratch (bidirectional; on JD only buys
  are hidden and predicted from every other event);
- ``transformer-predict-behaviours`` (JD): causal training on every next event, views and
  favourites included, each position told which behaviour it predicts; scoring asks for
  the next buy (``predict_behaviours``);
- ``transformer-rating-mtl``: multi-task, the same next-item training plus λ = 1 times the
  rating task (:mod:`lmrec.models.rating_transformer`), stopped on validation NDCG@10 like
  the others: does learning ratings help or hurt the ranking? (needs ratings: MovieLens,
  Instruments.)
- ``transformer-sources-rating``, ``-review``, ``-rating+review``: the same model reading
  each event's rating and/or review text besides its item and behaviour (``sources``), the
  sources mixed by per-user weights; for both sources, learned vs fixed equal weights is a
  grid point chosen on validation. Records carry the test users' mean source weights.
  ``transformer-fusion-sources-rating+review``: both sources over ``transformer-fusion``
  (the fusion chosen on validation);
- ``transformer-history-buy``, ``transformer-history-buy+view`` (JD): the history keeps
  only those behaviours (``history_behaviours``), so what views and favourites add to the
  next-buy Transformer is measured against ``transformer`` (every behaviour).

Choices are made on validation by code (:func:`lmrec.experiment.run_experiment`): every grid
point (:data:`GRIDS` per data set, e.g. dropout 0.3 vs 0.5 on Beauty/Toys, crossed with the
fusion grid) is fitted with seed 0 and the best validation NDCG@10 wins; the chosen
parameters are then fitted with seeds 0..N-1 and scored on test.

Text comes from what each data set has: titles and genres (MovieLens), tags
(ml-latest-small), the items' training-part reviews (Instruments), attribute ids (S3-Rec).

Protocol: leave-one-out as the baselines (``benchmarks/baselines.py``): the model trains on
the train part, stops early on validation NDCG@10 (full ranking), keeps its best epoch, and
is scored on test after conditioning on train + validation (no retraining), full ranking over
all items. Calibration (temperature, NLL, ECE) is measured on the test targets after fitting
the temperature on validation. On the synthetic world the record also gives the KL divergence
from the true next-category distribution (known by construction) to the model's.

JD (the shipped split) is the transfer case: ``transformer`` learns the next buy from scratch
(every behaviour in the history, only buys as targets, ``target_behaviour=buy``); the
fine-tune variants pretrain the masked objective on every behaviour (views, favourites, buys
as targets), then learn the next buy the same way.

Run: ``.venv/bin/python benchmarks/transformer.py --datasets beauty --variants transformer``.
Each (data set, variant) runs in its own process; records go to
``benchmarks/results/transformer.json``, per-user scores to ``benchmarks/results/per_user/``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import (  # noqa: E402
    DEFAULT_SEEDS,
    DEFAULT_THREADS,
    PER_USER,
    RESULTS,
    add_threads_arg,
    command,
    emit,
    run_cases,
    seeds_arg,
    threads_args,
)

RECORDS = RESULTS / "transformer.json"
DATASETS = ("synthetic", "ml-100k", "ml-latest-small", "beauty", "toys", "instruments", "jd")
#: Split protocol per data set (default leave-one-out, as the baselines).
SPLITS = {"jd": "given"}
#: Fine-tune variants -> finetune_mode (lmrec.train.peft.FINETUNE_MODES).
FINETUNE_VARIANTS = {
    "transformer-mlm-finetune-full": "full",
    "transformer-mlm-finetune-frozen": "frozen",
    "transformer-mlm-finetune-lora": "lora",
}
VARIANTS = ("transformer", *FINETUNE_VARIANTS)
#: Text variants (run with ``--variants``): fixed parameters and the grid each one adds.
TEXT_VARIANTS: dict[str, tuple[dict[str, object], dict[str, list[object]]]] = {
    "transformer-fusion": ({}, {"fusion": ["add", "concat", "gate"]}),
    "transformer-text-only": ({"fusion": "text"}, {}),
    # ID dropout for new items in the full catalogue (cold_start.py's cold-item-full): one
    # rate, not tuned: warm validation NDCG cannot choose what is for cold items.
    "transformer-fusion-iddrop": ({"id_dropout": 0.3}, {"fusion": ["add", "concat", "gate"]}),
}
#: Source variants: fixed parameters and the grid each one adds (sources the Transformer
#: reads per event; behaviours its history keeps).
SOURCE_VARIANTS: dict[str, tuple[dict[str, object], dict[str, list[object]]]] = {
    "transformer-sources-rating": ({"sources": "rating"}, {}),
    "transformer-sources-review": ({"sources": "review"}, {}),
    "transformer-sources-rating+review": (
        {"sources": "rating,review"},
        {"source_weighting": ["learned", "fixed"]},
    ),
    # the same sources over item-text fusion (the best Instruments Transformer)
    "transformer-fusion-sources-rating+review": (
        {"sources": "rating,review"},
        {"fusion": ["add", "concat", "gate"]},
    ),
    "transformer-history-buy": ({"history_behaviours": "buy"}, {}),
    "transformer-history-buy+view": ({"history_behaviours": "buy,view"}, {}),
}
#: Capacity chosen on validation: the data set's settings with width and dropout as a grid
#: (JD's ``transformer`` runs one fixed setting; this asks whether a wider or more
#: regularised net closes its gap to ItemKNN).
TUNED_VARIANTS: dict[str, tuple[dict[str, object], dict[str, list[object]]]] = {
    "transformer-tuned": ({}, {"dim": [64, 128], "dropout": [0.2, 0.5]}),
}
#: Objective variants: name -> fixed parameters (``transformer-masked``: BERT4Rec's masked
#: items instead of next items; with a target behaviour only its events are hidden).
#: ``transformer-predict-behaviours``: causal training on every next event (views and
#: favourites too), each position told the behaviour it predicts; scoring asks for buys.
OBJECTIVE_VARIANTS: dict[str, dict[str, object]] = {
    "transformer-masked": {"objective": "masked"},
    "transformer-predict-behaviours": {"predict_behaviours": True},
}
#: Other model types run as variants: name -> (model type, fixed parameters).
TASK_VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "transformer-rating-mtl": ("transformer-rating", {"stop_on": "ndcg", "rating_weight": 1.0}),
}
#: Where pretraining runs go (relative to the repository root; records store this path).
RUN_DIR = "runs/bench"

#: Per-data-set settings. Beauty/Toys follow SASRec's published ones (max_len 50; dropout
#: from GRIDS); MovieLens histories are long, so max_len 200.
SETTINGS: dict[str, dict[str, object]] = {
    "synthetic": {"dim": 32, "layers": 1, "max_len": 20, "dropout": 0.1, "epochs": 40},
    "ml-100k": {"max_len": 200, "dropout": 0.2, "epochs": 200, "batch_size": 64},
    "ml-latest-small": {"max_len": 200, "dropout": 0.2, "epochs": 200, "batch_size": 64},
    "beauty": {"max_len": 50, "epochs": 200, "batch_size": 256, "lr": 2e-3},
    "toys": {"max_len": 50, "epochs": 200, "batch_size": 256, "lr": 2e-3},
    "instruments": {"max_len": 50, "dropout": 0.5, "epochs": 200, "batch_size": 128},
    # As benchmarks/behaviour.py's JD models; next buy only (views and favourites as history).
    # JD has no timestamps and its files sort each user's items by id, an order held-out
    # buys do not follow (half are above the median id of the user's buys): shuffle_ties
    # reorders each run of same-behaviour events at random every epoch.
    "jd": {
        "shuffle_ties": True,
        "max_len": 50,
        "batch_size": 128,
        "lr": 1e-3,
        "epochs": 60,
        "patience": 5,
        "target_behaviour": "buy",
    },
}
#: Choices made on validation per data set (crossed with a variant's own grid).
GRIDS: dict[str, dict[str, list[object]]] = {
    "beauty": {"dropout": [0.3, 0.5]},
    "toys": {"dropout": [0.3, 0.5]},
}


def variant_spec(dataset: str, variant: str, overrides: dict[str, object] | None = None):
    """The :class:`~lmrec.experiment.ModelSpec` of one variant on one data set.

    ``overrides`` (``--param``) replace fixed parameters and drop the grid keys they set.
    Shared with benchmarks/cold_start.py, so both run the same models.
    """
    from lmrec.experiment import ModelSpec

    overrides = overrides or {}
    fixed, grid = {**TEXT_VARIANTS, **SOURCE_VARIANTS, **TUNED_VARIANTS}.get(variant, ({}, {}))
    model_type, task_params = TASK_VARIANTS.get(variant, ("transformer", {}))
    fixed = {**fixed, **task_params, **OBJECTIVE_VARIANTS.get(variant, {})}
    params = {"progress": False, "patience": 10, **SETTINGS[dataset], **fixed, **overrides}
    grid = {k: v for k, v in {**GRIDS.get(dataset, {}), **grid}.items() if k not in overrides}
    pretrain = None
    if variant in FINETUNE_VARIANTS:
        params["objective"] = "causal"
        params["finetune_mode"] = FINETUNE_VARIANTS[variant]
        # Every behaviour is a pretraining target; the modes share one pretraining per seed
        # (the experiment keys pretraining runs by their parameters).
        pretrain = {"objective": "masked", "target_behaviour": None, "finetune_mode": "full"}
    measure = synthetic_measure if dataset == "synthetic" else with_parameter_counts
    if variant in SOURCE_VARIANTS:
        measure = with_source_weights
    return ModelSpec(
        model_type, params=params, grid=grid, label=variant, pretrain=pretrain, measure=measure
    )


def calibration(model, split, on: str) -> dict[str, float]:
    """Calibrated NLL / ECE on the targets (temperature fitted on validation), raw NLL."""
    from lmrec.evaluate.calibration import expected_calibration_error, nll

    targets = split.targets(on)
    users = model.idmap_.user_index(targets["user_id"])
    items = model.idmap_.item_index(targets["item_id"])
    logits = model.score_indices(users)
    return {
        "nll": nll(logits, items, model.temperature_),
        "ece": expected_calibration_error(logits, items, model.temperature_),
        "nll_uncalibrated": nll(logits, items),
        "temperature": float(model.temperature_),
    }


def with_parameter_counts(model, split, on: str) -> dict[str, float]:
    """Calibration plus how many weights the fit trained and how many the net has."""
    params = list(model.net_.parameters())
    return {
        **calibration(model, split, on),
        "trainable_params": float(sum(p.numel() for p in params if p.requires_grad)),
        "total_params": float(sum(p.numel() for p in params)),
    }


def with_source_weights(model, split, on: str) -> dict[str, float]:
    """Calibration, parameter counts and the test users' mean weight of each source
    (``source_weight:<name>``; see ``SequenceTransformer.source_weights_of``)."""
    users = split.targets(on)["user_id"].astype(str).unique()
    weights = model.source_weights_of(list(users)).mean(axis=0)
    return {
        **with_parameter_counts(model, split, on),
        **{f"source_weight:{name}": float(w) for name, w in weights.items()},
    }


def synthetic_measure(model, split, on: str) -> dict[str, float]:
    return {**with_parameter_counts(model, split, on), "kl_category": synthetic_kl(model)}


def synthetic_kl(model) -> float:
    """Mean KL(true next-category distribution || model's) over users of the synthetic world."""
    from lmrec.data.loaders.synthetic import synthetic_truth
    from lmrec.evaluate.calibration import kl_divergence

    truth = synthetic_truth()
    cat_of = dict(zip(truth.item_ids, truth.item_category, strict=True))
    users = model.idmap_.user_index(truth.user_ids)
    last = np.array([cat_of[model.idmap_.items[model.sequences_.items[u][-1] - 1]] for u in users])
    true_next = (1 - truth.stickiness) * truth.mixtures
    true_next[np.arange(len(users)), last] += truth.stickiness
    onehot = np.eye(len(truth.categories))[[cat_of[i] for i in model.idmap_.items]]
    return float(kl_divergence(true_next, model.predict_proba(truth.user_ids) @ onehot).mean())


def worker(
    dataset: str,
    variant: str,
    seeds: int,
    params: list[str],
    save_run_dir: str | None = None,
    threads: int = DEFAULT_THREADS,
) -> list[dict]:
    import torch

    from lmrec.experiment import ExperimentConfig, run_experiment, save_result

    torch.set_num_threads(threads)
    from lmrec.models.params import parse_params

    variants = variant.split(",")  # fine-tune modes run together (see worker_groups)
    # typed by the model's defaults, as ``lmrec train --param`` (fusion=add, dropout=0.5)
    model_type = TASK_VARIANTS.get(variants[0], ("transformer", {}))[0]
    overrides = parse_params(model_type, params)
    args = ["--datasets", dataset, "--variants", *variants, "--seeds", str(seeds)]
    args += threads_args(threads)
    cmd = command(__file__, *args, *(["--param", *params] if params else []))
    split = SPLITS.get(dataset, "loo")
    config = ExperimentConfig(dataset, split=split, seeds=seeds, command=cmd, run_dir=RUN_DIR)
    result = run_experiment(config, [variant_spec(dataset, v, overrides) for v in variants])
    if save_run_dir:
        save_fitted(result, variant, ROOT / save_run_dir, cmd)
    return save_result(result, RECORDS, PER_USER)


def save_fitted(result, variant: str, out: Path, cmd: str) -> None:
    """Keep the last seed's fitted model as a run directory (what the serving and
    compression benchmarks load), so they need no fit of their own."""
    from lmrec.runs import RunInfo, save_run

    outcome = result.outcomes[variant]
    run = outcome.runs[-1]
    params = {k: v for k, v in run.params.items() if k != "progress"}
    info = RunInfo(
        data=result.dataset,
        split=SPLITS.get(result.dataset, "loo"),
        seed=0,
        model=outcome.model.model_type,
        params=params,
        split_protocol=result.split,
        fit_seconds=run.fit_seconds,
        command=f"{cmd} --save-run {out.relative_to(ROOT)}",
    )
    save_run(outcome.model, out, info)


def worker_groups(variants: list[str]) -> list[str]:
    """One worker per variant, except the fine-tune modes: one worker (comma-joined) runs
    them all, so each seed's masked pretraining is fitted once and shared."""
    modes = [v for v in variants if v in FINETUNE_VARIANTS]
    groups = [v for v in variants if v not in FINETUNE_VARIANTS]
    return groups + ([",".join(modes)] if modes else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument(
        "--variants",
        nargs="*",
        default=list(VARIANTS),
        choices=[
            *VARIANTS,
            *TEXT_VARIANTS,
            *SOURCE_VARIANTS,
            *TUNED_VARIANTS,
            *TASK_VARIANTS,
            *OBJECTIVE_VARIANTS,
        ],
    )
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    parser.add_argument(
        "--param",
        nargs="*",
        default=[],
        help="overrides as key=value, typed as lmrec train --param",
    )
    parser.add_argument(
        "--save-run", help="also save the last seed's model as a run directory (one data set)"
    )
    add_threads_arg(parser)
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "VARIANT"))
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.seeds, args.param, args.save_run, args.threads))
        return
    if args.save_run and len(args.datasets) * len(args.variants) != 1:
        parser.error("--save-run needs exactly one data set and one variant")

    extra = ["--seeds", str(args.seeds), "--threads", str(args.threads)]
    extra += ["--save-run", args.save_run] if args.save_run else []
    extra += ["--param", *args.param] if args.param else []  # last: nargs="*"
    run_cases(
        __file__,
        itertools.product(args.datasets, worker_groups(args.variants)),
        extra,
        also=lambda record: f"chosen={record['chosen']}",
    )


if __name__ == "__main__":
    main()
