"""Benchmark the behaviour-sequence Transformer on the baselines' splits; write BENCHMARKS.md.

Variants (``model`` in the records):

- ``transformer``: causal next-item training from scratch (full softmax over all items);
- ``transformer-mlm-finetune``: masked-item pretraining, then causal fine-tuning of all
  weights from the pretrained run;
- ``transformer-fusion-{add,concat,gate}``: causal training with each item's ID embedding
  fused with its text embedding (bundled all-MiniLM-L6-v2; see ``lmrec.models.fusion``);
- ``transformer-text-only``: item vectors from text alone (no ID embeddings).

Text comes from what each data set has: titles and genres (MovieLens), tags
(ml-latest-small), the items' training-part reviews (Instruments), attribute ids (S3-Rec).

Protocol: leave-one-out as the baselines (``benchmarks/baselines.py``): the model trains on
the train part, stops early on validation NDCG@10 (full ranking), keeps its best epoch, and
is scored on test after conditioning on train + validation (no retraining), full ranking over
all items. Calibration (temperature, NLL, ECE) is measured on the test targets after fitting
the temperature on validation. On the synthetic world the record also gives the KL divergence
from the true next-category distribution (known by construction) to the model's.

Run: ``.venv/bin/python benchmarks/transformer.py --datasets beauty --variants transformer``.
Each (data set, variant) runs in its own process; records go to
``benchmarks/results/transformer.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import emit, render, run_worker  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "transformer.json"
DATASETS = ("synthetic", "ml-100k", "ml-latest-small", "beauty", "toys", "instruments")
VARIANTS = ("transformer", "transformer-mlm-finetune")
#: Text variants (run with ``--variants``): the model parameters each one adds.
TEXT_VARIANTS: dict[str, dict[str, object]] = {
    "transformer-fusion-add": {"fusion": "add"},
    "transformer-fusion-concat": {"fusion": "concat"},
    "transformer-fusion-gate": {"fusion": "gate"},
    "transformer-text-only": {"fusion": "text"},
}

#: Per-data-set settings. Beauty/Toys follow SASRec's published ones (max_len 50, dropout
#: 0.5 on these sparse sets); MovieLens histories are long, so max_len 200.
SETTINGS: dict[str, dict[str, object]] = {
    "synthetic": {"dim": 32, "layers": 1, "max_len": 20, "dropout": 0.1, "epochs": 40},
    "ml-100k": {"max_len": 200, "dropout": 0.2, "epochs": 200, "batch_size": 64},
    "ml-latest-small": {"max_len": 200, "dropout": 0.2, "epochs": 200, "batch_size": 64},
    "beauty": {"max_len": 50, "dropout": 0.5, "epochs": 200, "batch_size": 256, "lr": 2e-3},
    "toys": {"max_len": 50, "dropout": 0.5, "epochs": 200, "batch_size": 256, "lr": 2e-3},
    "instruments": {"max_len": 50, "dropout": 0.5, "epochs": 200, "batch_size": 128},
}


def run(dataset: str, variant: str, overrides: dict[str, object]) -> dict:
    import torch

    from lmrec.data.registry import load_dataset
    from lmrec.data.split import split_dataset
    from lmrec.evaluate.calibration import expected_calibration_error, nll
    from lmrec.evaluate.ranking import evaluate
    from lmrec.evaluate.report import make_record, peak_memory_mb
    from lmrec.models.sequential import SequenceTransformer

    torch.set_num_threads(2)
    split = split_dataset(load_dataset(dataset), "loo")
    params = {
        "progress": False,
        "patience": 10,
        **SETTINGS[dataset],
        **TEXT_VARIANTS.get(variant, {}),
        **overrides,
    }
    valid = split.train.with_interactions(split.valid)
    start = time.perf_counter()
    extra: dict[str, object] = {}
    if variant == "transformer-mlm-finetune":
        pretrained = SequenceTransformer(**{**params, "objective": "masked"})
        pretrained.fit(split.train, valid=valid)
        run_dir = ROOT / "runs" / "bench" / f"{dataset}-mlm"
        pretrained.save(run_dir)
        extra["pretrain"] = {
            "best_epoch": pretrained.history_.best_epoch + 1,
            "valid_ndcg@10": pretrained.history_.best_score,
            "seconds": pretrained.history_.seconds,
        }
        params = {**params, "init_from": str(run_dir), "objective": "causal"}
    model = SequenceTransformer(**params)
    model.fit_split(split, "test")
    train_seconds = time.perf_counter() - start
    result = evaluate(model, split, "test", progress=False)
    users = model.idmap_.user_index(split.test["user_id"])
    targets = model.idmap_.item_index(split.test["item_id"])
    logits = model.score_indices(users)
    metrics = dict(result.metrics)
    metrics["nll"] = nll(logits, targets, model.temperature_)
    metrics["ece"] = expected_calibration_error(logits, targets, model.temperature_)
    metrics["nll_uncalibrated"] = nll(logits, targets)
    if dataset == "synthetic":
        metrics["kl_category"] = synthetic_kl(model)
    history = model.history_
    extra.update(
        {
            "params": {k: v for k, v in params.items() if k != "progress"},
            "best_epoch": history.best_epoch + 1,
            "epochs_run": len(history.losses),
            "valid_ndcg@10": history.best_score,
            "temperature": model.temperature_,
            "sequences_per_second": round(history.examples_per_second, 1),
            "train_loop_seconds": round(history.seconds, 1),
        }
    )
    return make_record(
        dataset=dataset,
        split=split.protocol,
        protocol=result.protocol,
        model=variant,
        metrics=metrics,
        train_seconds=train_seconds,
        eval_seconds=result.seconds,
        peak_mb=peak_memory_mb(),
        extra=extra,
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument(
        "--variants", nargs="*", default=list(VARIANTS), choices=[*VARIANTS, *TEXT_VARIANTS]
    )
    parser.add_argument("--param", nargs="*", default=[], help="overrides as key=value")
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "VARIANT"))
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    if args.worker:
        emit(
            run(*args.worker, overrides),
            "python benchmarks/transformer.py --datasets "
            f"{args.worker[0]} --variants {args.worker[1]}"
            + (" --param " + " ".join(args.param) if args.param else ""),
        )
        return

    for dataset in args.datasets:
        for variant in args.variants:
            start = time.perf_counter()
            extra = ["--param", *args.param] if args.param else []
            record = run_worker(__file__, [dataset, variant, *extra], RESULTS)
            if record is None:
                continue
            m = record["metrics"]
            print(
                f"{dataset:>16} {variant:>26} {time.perf_counter() - start:7.1f}s "
                f"ndcg@10={m['ndcg@10']:.4f} recall@10={m['recall@10']:.4f} "
                f"best_epoch={record['best_epoch']} seq/s={record['sequences_per_second']}",
                flush=True,
            )
    render()


if __name__ == "__main__":
    main()
