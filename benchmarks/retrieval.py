"""Benchmark the service's retrieval: a faiss HNSW index against exact top-10 on Beauty.

The model is ALS with the parameters validation chose in ``benchmarks/baselines.py`` (read
from its Beauty record), fitted on train + validation. Every user's query vector searches
the 12,101 item vectors (seen items not removed, so this is the index's own recall):
``recall@10`` is the share of the exact top-10 that HNSW returns; latency is per query,
batched as the service does one user at a time (``single``) and for all users at once
(``batch``). Exact and HNSW run on the same machine in the same process.

Run: ``.venv/bin/python benchmarks/retrieval.py``. Records go to
``benchmarks/results/retrieval.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import RESULTS, command, render  # noqa: E402

RECORDS = RESULTS / "retrieval.json"


def chosen_als_params(dataset: str) -> dict:
    records = json.loads((RESULTS / "baselines.json").read_text())
    record = next(
        r
        for r in records
        if r["dataset"] == dataset and r["model"] == "als" and r["protocol"] == "full-ranking"
    )
    return {k: v for k, v in record["params"].items() if k != "seed"}


def per_query_ms(index, queries: np.ndarray, k: int, n: int = 500) -> float:
    start = time.perf_counter()
    for q in queries[:n]:
        index.search(q[None, :], k)
    return 1000 * (time.perf_counter() - start) / min(n, len(queries))


def main() -> None:
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from lmrec.data.registry import load_dataset
    from lmrec.data.split import split_dataset
    from lmrec.evaluate.report import (
        make_record,
        peak_memory_mb,
        startup_code_version,
        write_records,
    )
    from lmrec.models import make_model
    from lmrec.serve.retrieval import ExactIndex, FaissIndex, factor_vectors, recall_against_exact

    startup_code_version()
    dataset = "beauty"
    split = split_dataset(load_dataset(dataset), "loo")
    params = chosen_als_params(dataset)
    start = time.perf_counter()
    model = make_model("als", **params, seed=0).fit_split(split, "test")
    fit_seconds = time.perf_counter() - start
    users, items = factor_vectors(model)
    exact = ExactIndex(items)
    start = time.perf_counter()
    hnsw = FaissIndex(items)
    build_seconds = time.perf_counter() - start
    recall = recall_against_exact(hnsw, exact, users, k=10)
    start = time.perf_counter()
    exact.search(users, 10)
    exact_batch = 1000 * (time.perf_counter() - start) / len(users)
    start = time.perf_counter()
    hnsw.search(users, 10)
    hnsw_batch = 1000 * (time.perf_counter() - start) / len(users)
    metrics = {
        "recall@10": recall,
        "exact_ms_single": per_query_ms(exact, users, 10),
        "faiss_ms_single": per_query_ms(hnsw, users, 10),
        "exact_ms_batch": exact_batch,
        "faiss_ms_batch": hnsw_batch,
        "build_seconds": build_seconds,
        "n_items": float(len(items)),
        "n_queries": float(len(users)),
    }
    record = make_record(
        dataset=dataset,
        split=split.protocol,
        protocol="retrieval",
        model="als-hnsw",
        metrics=metrics,
        train_seconds=fit_seconds,
        eval_seconds=0.0,
        peak_mb=peak_memory_mb(),
        extra={
            "params": params,
            "index": {
                "kind": "HNSW (faiss.IndexHNSWFlat, inner product)",
                "M": 32,
                "efConstruction": 200,
                "efSearch": 128,
            },
            "command": command(__file__),
        },
    )
    write_records(RECORDS, [record])
    print(json.dumps(metrics, indent=1))
    render()


if __name__ == "__main__":
    main()
