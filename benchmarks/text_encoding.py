"""Benchmark item-text encoding with the bundled all-MiniLM-L6-v2: first run and cached re-run.

For each data set the item texts lmrec builds (:func:`lmrec.text.item_text.item_texts`) are
encoded into an empty cache folder (``first_seconds``, model loading included), then again by
a fresh :class:`~lmrec.text.encoder.TextEncoder` on the same folder (``cached_seconds``: read
the cache, encode nothing). Target (issue 5): 10k texts in under 60 s, cached under 2 s.

Run: ``.venv/bin/python benchmarks/text_encoding.py`` (default: ml-latest-small, beauty).
Records go to ``benchmarks/results/text_encoding.json`` with protocol ``text-encoding``.
A timing, not a model comparison: one run, no seeds (it does not go through lmrec.experiment).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import RESULTS, command, emit, render, run_worker  # noqa: E402

RECORDS = RESULTS / "text_encoding.json"
DATASETS = ("ml-latest-small", "beauty")


def run(dataset: str) -> list[dict]:
    import numpy as np
    import torch

    from lmrec.data.registry import load_dataset
    from lmrec.evaluate.report import make_record, peak_memory_mb, write_records
    from lmrec.text.encoder import TextEncoder
    from lmrec.text.item_text import item_texts

    torch.set_num_threads(2)
    texts = item_texts(load_dataset(dataset))
    with tempfile.TemporaryDirectory() as cache:
        encoder = TextEncoder(cache_dir=cache)
        start = time.perf_counter()
        first = encoder.encode(texts)
        first_seconds = time.perf_counter() - start
        n_encoded = encoder.last_encoded

        again = TextEncoder(cache_dir=cache, progress=False)
        start = time.perf_counter()
        cached = again.encode(texts)
        cached_seconds = time.perf_counter() - start
    if again.last_encoded != 0 or not np.array_equal(first, cached):
        raise RuntimeError("the cached re-run encoded texts again or returned other vectors")
    lengths = [len(t) for t in texts if t]
    record = make_record(
        dataset=dataset,
        split="item texts",
        protocol="text-encoding",
        model=f"text-encoder {encoder.name}",
        metrics={
            "n_texts": float(len(texts)),
            "first_seconds": first_seconds,
            "cached_seconds": cached_seconds,
            "texts_per_second": n_encoded / first_seconds,
        },
        train_seconds=first_seconds,
        eval_seconds=cached_seconds,
        peak_mb=peak_memory_mb(),
        extra={
            "params": {"batch_size": encoder.batch_size, "threads": 2},
            "n_encoded": n_encoded,
            "mean_chars": round(float(np.mean(lengths)), 1),
            "example_text": next((t for t in texts if t), "")[:200],
            "command": command(__file__, "--datasets", dataset),
        },
    )
    write_records(RECORDS, [record])
    return [record]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--worker", metavar="DATASET")
    args = parser.parse_args()
    if args.worker:
        emit(run(args.worker))
        return

    for dataset in args.datasets:
        records = run_worker(__file__, [dataset])
        if not records:
            continue
        m = records[0]["metrics"]
        print(
            f"{dataset:>16} {int(m['n_texts'])} texts: first {m['first_seconds']:.1f}s "
            f"({m['texts_per_second']:.0f}/s), cached {m['cached_seconds']:.2f}s",
            flush=True,
        )
    render()


if __name__ == "__main__":
    main()
