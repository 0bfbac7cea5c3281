"""The written-out Transformer block against the old ``nn.TransformerEncoder`` one.

Speed: the same Beauty training batches (causal next-item, max_len 50, batch 256, as in
``benchmarks/transformer.py`` SETTINGS) go through the legacy net (its module source taken
from git commit 497e954 into a temporary module) and the new net, forward + backward, in
alternating rounds so both see the same machine load; sequences per second are reported.
The two nets start from the same weights (the legacy state dict converted).

Quality: the new block trained on ml-100k (loo split, ``benchmarks/transformer.py``
SETTINGS for ml-100k: max_len 200, dropout 0.2, batch 64, patience 10), its best
validation NDCG@10 (full ranking) beside the stored old-block record in
``benchmarks/results/transformer.json``. ``--quality beauty`` adds Beauty (10-20 min).

Run: ``.venv/bin/python benchmarks/block_rewrite.py`` (``--batches 200 --threads 2``).
Prints a table; records are the experiment helper's job.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from transformer import RESULTS, SETTINGS  # noqa: E402

LEGACY_COMMIT = "497e954"


def legacy_module():
    """``lmrec.models.transformer`` as it was before the block was written out."""
    source = subprocess.run(
        ["git", "show", f"{LEGACY_COMMIT}:src/lmrec/models/transformer.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "legacy_transformer.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("legacy_transformer", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def speed(n_batches: int, rounds: int = 4) -> dict[str, float]:
    import torch

    from lmrec.data.registry import load_dataset
    from lmrec.models.transformer import (
        SequenceTransformerNet,
        TransformerConfig,
        convert_legacy_state,
    )
    from lmrec.train.objectives import sequence_objective
    from lmrec.train.sequences import user_sequences

    settings = SETTINGS["beauty"]
    data = load_dataset("beauty")
    seqs = user_sequences(data)
    config = TransformerConfig(
        n_items=data.n_items, max_len=settings["max_len"], dropout=settings["dropout"]
    )
    objective = sequence_objective("causal", seqs, config.max_len, mask_index=config.mask_index)
    rng = np.random.default_rng(0)
    batches = objective.batches(rng, settings["batch_size"])[:n_batches]
    inputs = [objective.batch(idx, rng) for idx in batches]
    n_sequences = sum(len(idx) for idx in batches)

    legacy = legacy_module()
    torch.manual_seed(0)
    old = legacy.SequenceTransformerNet(legacy.TransformerConfig(**config.to_dict()))
    new = SequenceTransformerNet(config)
    new.load_state_dict(convert_legacy_state(old.state_dict()))
    nets = {"old (nn.TransformerEncoder)": old, "new (written out, sdpa)": new}

    def step(net, batch) -> None:
        _, loss = net(**batch)
        loss.backward()
        net.zero_grad(set_to_none=True)

    for net in nets.values():  # warm-up: allocator, kernels
        net.train()
        for batch in inputs[:5]:
            step(net, batch)
    seconds = dict.fromkeys(nets, 0.0)
    per_round = int(np.ceil(len(inputs) / rounds))
    for r in range(rounds):
        chunk = inputs[r * per_round : (r + 1) * per_round]
        for name, net in nets.items():
            torch.manual_seed(r)
            start = time.perf_counter()
            for batch in chunk:
                step(net, batch)
            seconds[name] += time.perf_counter() - start
    return {name: n_sequences / s for name, s in seconds.items()}


def quality(dataset: str) -> dict[str, float]:
    from lmrec.data.registry import load_dataset
    from lmrec.data.split import split_dataset
    from lmrec.models.sequential import SequenceTransformer

    split = split_dataset(load_dataset(dataset), "loo")
    params = {"progress": False, "patience": 10, **SETTINGS[dataset]}
    model = SequenceTransformer(**params)
    start = time.perf_counter()
    model.fit(split.train, valid=split.train.with_interactions(split.valid))
    history = model.history_
    old = next(
        r
        for r in json.loads(RESULTS.read_text(encoding="utf-8"))
        if r["dataset"] == dataset and r["model"] == "transformer"
    )
    return {
        "new_valid": history.best_score,
        "new_epoch": history.best_epoch + 1,
        "new_seconds": time.perf_counter() - start,
        "new_sps": history.examples_per_second,
        "old_valid": old["valid_ndcg@10"],
        "old_epoch": old.get("best_epoch", float("nan")),
        "old_sps": old.get("sequences_per_second", float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quality", nargs="*", default=["ml-100k"], help="data sets")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if not args.no_speed:
        rates = speed(args.batches)
        print(f"\nTraining speed, Beauty, {args.batches} batches of 256, forward+backward")
        print(f"threads={args.threads}, torch {torch.__version__}\n")
        print("| block | sequences/s |")
        print("|---|---:|")
        for name, rate in rates.items():
            print(f"| {name} | {rate:.0f} |")
    rows = [(d, quality(d)) for d in args.quality]
    if rows:
        print("\nValidation NDCG@10 (full ranking, loo), best epoch; old = stored record\n")
        print("| data set | old block | new block | old best epoch | new best epoch | new s |")
        print("|---|---:|---:|---:|---:|---:|")
        for d, q in rows:
            print(
                f"| {d} | {q['old_valid']:.4f} | {q['new_valid']:.4f} | {q['old_epoch']} | "
                f"{q['new_epoch']} | {q['new_seconds']:.0f} |"
            )


if __name__ == "__main__":
    main()
