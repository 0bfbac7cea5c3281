"""Benchmark diversity-aware re-ranking: MMR, DPP and calibrated lists against the model's own.

For each (data set, base model) :func:`lmrec.rerank.experiment.run_reranking`:

- fits the base on the train part (seed 0), sweeps each method's knob
  (:data:`lmrec.rerank.experiment.DEFAULT_KNOBS`; for models whose scores are logits, the
  Transformer's, on its scores and on its probabilities) on the validation targets and chooses, by
  code, the setting with the best aim (ILD@10 for MMR/DPP, calibration KL@10 for calibrated)
  among those that keep validation NDCG@10 within 5% of the base's;
- fits the base for test per seed (seed 0 extends its validation fit) and scores the base
  lists and each chosen re-ranking on test (leave-one-out, full ranking), 100 candidates
  re-ranked into a list of 20;
- records ``{base}`` and ``{base}-{method}-{knob}``, with the validation sweep (``tuning``),
  the base's validation list metrics (``valid_metrics``),
  per-user NDCG@10 / ILD@10 / calibration KL@10 for paired tests, and the re-ranking time
  per user (``rerank_ms_per_user``, base scoring not counted).

``transformer-mtl``: the Transformer trained with the diversity-aware task
(``diversity_weight`` = :data:`MTL_WEIGHT`, L = L_next + λ·KL(history category mix ||
predicted mix)), its own lists and its calibrated re-ranking; BENCHMARKS.md compares it with
re-ranking the plain Transformer at equal validation NDCG@10.

``random``: seeded random lists (lmrec.models.random_baseline), the reference each
list metric is read against: a re-ranking whose ILD@10 passes random lists' buys that
diversity with relevance alone.

Item space (similarity for MMR/DPP and ILD): ml-100k uses text embeddings of each movie's
title and genres (bundled all-MiniLM-L6-v2); Beauty's only item text is its attribute ids,
so it uses category (attribute) vectors. Calibration uses categories everywhere.

Run: ``.venv/bin/python benchmarks/diversity.py --datasets ml-100k --models transformer``.
Records go to ``benchmarks/results/diversity.json``; BENCHMARKS.md gets its own section.
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

RECORDS = RESULTS / "diversity.json"
DATASETS = ("ml-100k", "beauty")
MODELS = ("transformer", "ease", "transformer-mtl", "random")
#: λ of the diversity-aware task (lmrec.train.objectives.CategoryMix) for transformer-mtl:
#: one setting, not tuned (each fit takes minutes); compared with re-ranking at equal NDCG.
MTL_WEIGHT = 1.0
METHODS = ("mmr", "dpp", "calibrated", "multi-interest")
#: Re-rankings per base model when not all of METHODS: the multi-task model's own
#: calibration is compared with calibrated re-ranking; random lists are the reference
#: (what a list with no preference scores on every metric), not re-ranked.
BASE_METHODS: dict[str, tuple[str, ...]] = {"transformer-mtl": ("calibrated",), "random": ()}
#: Item space per data set (see the module docstring).
SPACES = {"ml-100k": "text", "beauty": "categories"}
#: The baselines' EASE grid (benchmarks/baselines.py), chosen on validation here too.
EASE_GRID = {"l2": [10.0, 50.0, 100.0, 200.0, 500.0]}


def base_spec(dataset: str, model: str):
    from lmrec.experiment import ModelSpec

    if model == "ease":
        return ModelSpec("ease", grid=EASE_GRID)
    if model == "random":
        return ModelSpec("random")
    from transformer import variant_spec

    spec = variant_spec(dataset, "transformer")
    if model == "transformer-mtl":
        params = {**spec.params, "diversity_weight": MTL_WEIGHT}
        return ModelSpec(spec.name, params=params, grid=spec.grid, label=f"{model}-{MTL_WEIGHT:g}")
    return ModelSpec(spec.name, params=spec.params, grid=spec.grid, label=spec.label)


def worker(dataset: str, model: str, seeds: int, threads: int = DEFAULT_THREADS) -> list[dict]:
    import torch

    from lmrec.experiment import ExperimentConfig, save_result
    from lmrec.models.registry import model_class
    from lmrec.rerank import RELEVANCE
    from lmrec.rerank.experiment import run_reranking

    torch.set_num_threads(threads)
    cmd = command(
        __file__,
        *("--datasets", dataset, "--models", model, "--seeds", str(seeds)),
        *threads_args(threads),
    )
    config = ExperimentConfig(dataset, split="loo", seeds=seeds, command=cmd)
    spec = base_spec(dataset, model)
    # Scores that are logits of p(item | history) (the model declares predict_proba, as the
    # Transformer does) give probabilities as a second, validation-chosen relevance; exp of
    # EASE's scores would mean nothing.
    logits = model_class(spec.name).supports("predict_proba")
    result = run_reranking(
        config,
        spec,
        BASE_METHODS.get(model, METHODS),
        relevances=RELEVANCE if logits else ("scores",),
        space=SPACES[dataset],
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )
    # Own per-user folder: the base records share names with the headline ones.
    return save_result(result, RECORDS, PER_USER / "diversity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    add_threads_arg(parser)
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "MODEL"))
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.seeds, args.threads))
        return
    run_cases(
        __file__,
        itertools.product(args.datasets, args.models),
        ["--seeds", str(args.seeds), "--threads", str(args.threads)],
        ("ndcg@10", "ild@10", "calibration_kl@10"),
    )


if __name__ == "__main__":
    main()
