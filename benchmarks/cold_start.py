"""Benchmark cold start: new items known only by their text, and new users with 1–3 events.

Protocols (see ``lmrec.evaluate.cold_start``, run by :func:`lmrec.experiment.run_cold_start`):

- ``cold-item``: 20% of the items (seed 0) are held out of training entirely; users whose
  leave-one-out test item is one of them are ranked against the held-out items; the record
  also carries ``full_catalogue_recall@20`` (the same targets ranked against every item);
- ``cold-user``: 20% of the users with >= 4 events are never trained on; their first k = 1,
  2, 3 events are the history, the next event the target; full ranking;
- ``cold-item-full``: the cold-item split, each cold target ranked among all items (warm
  and cold), and the warm targets ranked as usual (``warm_ndcg@10``). Models: ``content``
  (text similarity between a candidate and the user's history, the baseline),
  ``transformer-fusion`` (fusion ``add`` in this protocol: the model without the change)
  and ``transformer-fusion-cold-<rate>`` (:data:`COLD_VARIANTS`): the same with untrained
  items out of the training softmax (``mask_untrained``), ID dropout at that rate (trained
  items seen by their text alone, so text-only vectors are ranked on the same scale) and
  text bias (those items take an output bias predicted from their text; see
  lmrec.models.fusion), at a fixed rate. ``transformer-fusion-cold`` chooses the rate
  (0.1, 0.3, 0.5) and the side (inputs and outputs, or outputs only: ``id_dropout_inputs``)
  by code, on the protocol nested inside the training part (another 20% of the trained
  items held out, each user's last training event the target, the real cold items not
  ranked; lmrec.experiment._tune_cold):
  the best cold Recall@20 among the points within 2% of the warm NDCG@10 of the model
  without the change. In this protocol every grid is chosen that way (warm validation
  targets alone cannot judge what is for new items). ``transformer-fusion-texthead`` keeps
  every ID and adds a text head (``text_head=1``: a second output scoring items by their
  text alone; new items take its log-probability over the trained items, warm items the
  fused head's), its ``text_head_offset`` on new items (-0.5, -0.25, 0) chosen the same
  way, against the same reference; ``transformer-fusion-texthead-0`` fixes the offset at 0
  (no choice: one end of the range, to show its trade-off). ``transformer-fusion-iddrop`` is the
  earliest attempt (ID dropout 0.3 alone, fusion chosen on validation). Target: cold
  Recall@20 at least 3× the content baseline's on ml-100k, above it on Beauty and Toys,
  warm NDCG@10 within 2% of ``transformer-fusion``.

Models: ``popular`` (the floor) and the Transformer variants of ``benchmarks/transformer.py``
(:func:`transformer.variant_spec`: the same settings and validation grids):
``transformer`` (ID embeddings only), ``transformer-fusion`` (ID + text, fusion chosen on the
warm users' validation targets) and ``transformer-text-only``.

Run: ``.venv/bin/python benchmarks/cold_start.py --datasets instruments ml-100k``.
Each (data set, protocol, model) runs in its own process. Records go to
``benchmarks/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
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

RECORDS = RESULTS / "cold_start.json"
DATASETS = ("instruments", "ml-100k")
MODELS = (
    "popular",
    "content",
    "transformer",
    "transformer-fusion",
    "transformer-text-only",
    "transformer-fusion-iddrop",
    "transformer-fusion-cold-0.1",
    "transformer-fusion-cold-0.3",
    "transformer-fusion-cold",
    "transformer-fusion-texthead",
    "transformer-fusion-texthead-0",
)
#: What the cold-item-full variants change over ``transformer-fusion`` (fusion add).
COLD_CHANGE = {"mask_untrained": True, "text_bias": True}
#: cold-item-full variants: parameters over ``transformer-fusion`` (fusion add).
COLD_VARIANTS = {
    **{
        f"transformer-fusion-cold-{rate}": {**COLD_CHANGE, "id_dropout": rate}
        for rate in (0.1, 0.3)
    },
    "transformer-fusion-cold": COLD_CHANGE,
    # no ID dropout: a text head scores new items (TransformerConfig.text_head)
    "transformer-fusion-texthead": {**COLD_CHANGE, "text_head": 1.0},
    # the text head at a fixed offset 0 (new items as the heads say): one end of its range
    "transformer-fusion-texthead-0": {**COLD_CHANGE, "text_head": 1.0, "text_head_offset": 0.0},
}
#: ``transformer-fusion-cold``: the ID dropout rate and side chosen on the nested protocol
#: (lmrec.experiment._tune_cold: best cold Recall@20 of the pseudo-new items within 2% of
#: the reference's warm NDCG@10).
COLD_GRID = {"id_dropout": [0.1, 0.3, 0.5], "id_dropout_inputs": [True, False]}
#: ``transformer-fusion-texthead``: the offset on new items' log-probabilities, chosen the
#: same way (0: as the heads say; below 0, fewer new items in warm users' lists).
TEXT_HEAD_GRID = {"text_head_offset": [-0.5, -0.25, 0.0]}
#: The grid each cold-item-full variant chooses from on the nested protocol.
COLD_GRIDS = {"transformer-fusion-cold": COLD_GRID, "transformer-fusion-texthead": TEXT_HEAD_GRID}
#: The model without the change, fitted in that tuning only to set the warm bar.
COLD_REFERENCE = {
    "id_dropout": 0.0,
    "id_dropout_inputs": True,
    "mask_untrained": False,
    "text_bias": False,
    "text_head": 0.0,
    "text_head_offset": 0.0,
}
PROTOCOLS = ("cold-item", "cold-user", "cold-item-full")
#: The models each protocol runs unless --models says otherwise.
PROTOCOL_MODELS = {
    "cold-item": MODELS[:5],
    "cold-user": MODELS[:5],
    "cold-item-full": (
        "content",
        "transformer-fusion",
        "transformer-fusion-cold",
        "transformer-fusion-texthead",
    ),
}


def model_spec(dataset: str, model: str, protocol: str, overrides: dict[str, object] | None = None):
    """The spec of one model; ``overrides`` (``--param``) fix parameters and drop the grid
    keys they set, as in benchmarks/transformer.py."""
    from lmrec.experiment import ModelSpec
    from transformer import variant_spec

    overrides = overrides or {}
    if model in ("popular", "content"):
        return ModelSpec(model)
    if protocol == "cold-item-full" and model in ("transformer-fusion", *COLD_VARIANTS):
        # one fusion for the model and its change, so warm NDCG compares like with like
        changed = {"fusion": "add", **COLD_VARIANTS.get(model, {}), **overrides}
        spec = variant_spec(dataset, "transformer-fusion", changed)
        cold_grid = {k: v for k, v in COLD_GRIDS.get(model, {}).items() if k not in overrides}
        grid = {**spec.grid, **cold_grid}
        return ModelSpec(spec.name, params=spec.params, grid=grid, label=model)
    if model in COLD_VARIANTS:
        raise SystemExit(f"{model} runs in the cold-item-full protocol only")
    spec = variant_spec(dataset, model, overrides)
    return ModelSpec(spec.name, params=spec.params, grid=spec.grid, label=spec.label)


def worker(
    dataset: str,
    model: str,
    protocol: str,
    seeds: int,
    threads: int = DEFAULT_THREADS,
    params: list[str] | None = None,
) -> list[dict]:
    import torch

    from lmrec.experiment import ExperimentConfig, run_cold_start, save_result
    from lmrec.models.params import parse_params

    torch.set_num_threads(threads)
    params = params or []
    args = ["--datasets", dataset, "--models", model, "--protocols", protocol]
    args += ["--seeds", str(seeds), *threads_args(threads)]
    args += ["--param", *params] if params else []
    config = ExperimentConfig(dataset, seeds=seeds, command=command(__file__, *args))
    reference = COLD_REFERENCE if model in COLD_GRIDS else None
    overrides = parse_params("transformer", params) if params else None
    spec = model_spec(dataset, model, protocol, overrides)
    result = run_cold_start(config, [spec], protocol, cold_reference=reference)
    return save_result(result, RECORDS, PER_USER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--models", nargs="*", choices=MODELS, help="default: per protocol")
    parser.add_argument("--protocols", nargs="*", default=list(PROTOCOLS), choices=PROTOCOLS)
    parser.add_argument("--seeds", type=seeds_arg, default=DEFAULT_SEEDS)
    add_threads_arg(parser)
    parser.add_argument(
        "--param",
        nargs="*",
        default=[],
        help="Transformer overrides as key=value (typed as lmrec train --param); a key a "
        "grid tunes is then fixed, e.g. dropout=0.5 as chosen by benchmarks/transformer.py",
    )
    parser.add_argument("--worker", nargs=3, metavar=("DATASET", "MODEL", "PROTOCOL"))
    args = parser.parse_args()
    if args.worker:
        emit(worker(*args.worker, args.seeds, args.threads, args.param))
        return

    cases = [
        (dataset, model, protocol)
        for dataset in args.datasets
        for protocol in args.protocols
        for model in args.models or PROTOCOL_MODELS[protocol]
    ]
    extra = ["--seeds", str(args.seeds), "--threads", str(args.threads)]
    extra += ["--param", *args.param] if args.param else []  # last: nargs="*"
    run_cases(__file__, cases, extra, ("recall@20", "ndcg@10", "warm_ndcg@10"))


if __name__ == "__main__":
    main()
