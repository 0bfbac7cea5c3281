"""Benchmark serving the Beauty Transformer: compression, and the HTTP service under load.

The model is the run directory ``--run`` (default ``runs/bench/beauty-transformer``), made by
``lmrec train beauty --model transformer --seed 2`` with the parameters validation chose for
the headline Transformer in ``benchmarks/transformer.py`` (max_len 50, dropout 0.5, lr 2e-3,
batch 256, patience 10); its run.json holds the exact command.

``--part compression``: the run as saved (``transformer``), int8 (``transformer-int8``),
magnitude-pruned by 30% (``transformer-pruned-0.3``) and both
(``transformer-int8-pruned-0.3``), each scored on Beauty's leave-one-out test targets with
full ranking (the same evaluator as the headline). ``latency_ms`` is the median time of one
``recommend(user, k=10)`` call (one user per call, as the service does), over 500 users, in
one process on one thread; each compressed model gets a paired test on per-user NDCG@10
against the float one.

``--part load``: ``lmrec serve RUN`` in its own process on 127.0.0.1 (DuckDB store, no API
keys), and a bounded load generator (httpx, asyncio) in this one: a fixed number of
requests and a time limit per case. ``/v1/recommend`` (a random known user, k=10) at
concurrency 1, 8 and 32 (protocols ``load-c1``, ``load-c8``, ``load-c32``), and
``/v1/events`` (one event per request) at concurrency 8. A known user is scored from the
state the service encoded at start-up (``prepare_for_serving``); ``/v1/recommend (history)``
at concurrency 8 sends raw histories (a random user's latest events), which pass through the
Transformer per request, as for a user with new events. Server and generator share the
machine's 2 cores, so the figures are what one replica sustains with its client beside it.

``--part fuzz``: the same service with API keys on, and Schemathesis generating requests
from its own OpenAPI schema (``FUZZ_EXAMPLES`` per operation, with a write key): the
answers by class, and any 5xx or non-JSON error (target: none).

Run: ``.venv/bin/python benchmarks/serving.py`` (all parts). Records go to
``benchmarks/results/serving.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import RESULTS, command, render  # noqa: E402

RECORDS = RESULTS / "serving.json"
RUN = "runs/bench/beauty-transformer"
PRUNE = 0.3
LATENCY_USERS = 500  # at most; fewer when the data set has fewer users
#: (endpoint, concurrency, requests, time limit in seconds) per load case.
LOAD_CASES = (
    ("recommend", 1, 500, 120.0),
    ("recommend", 8, 3000, 120.0),
    ("recommend", 32, 3000, 120.0),
    ("history", 8, 1000, 120.0),
    ("events", 8, 2000, 120.0),
)


def _command(part: str, run_dir: Path) -> str:
    run = [] if str(run_dir) == RUN else ["--run", str(run_dir)]
    return command(__file__, "--part", part, *run)


def compression(run_dir: Path) -> list[dict]:
    import torch

    from lmrec.evaluate.ranking import evaluate
    from lmrec.evaluate.report import make_record, peak_memory_mb
    from lmrec.evaluate.stats import paired_test
    from lmrec.models.compress import weight_sparsity
    from lmrec.runs import load_run, rebuild_split

    torch.set_num_threads(1)
    _, split = rebuild_split(load_run(run_dir)[1])
    variants = {
        "transformer": {},
        "transformer-int8": {"quantize": "int8"},
        f"transformer-pruned-{PRUNE}": {"prune": PRUNE},
        f"transformer-int8-pruned-{PRUNE}": {"quantize": "int8", "prune": PRUNE},
    }
    rng = np.random.default_rng(0)
    records, base = [], None
    for name, settings in variants.items():
        model, run = load_run(run_dir)
        if settings:
            model.compress(**settings)
        n = min(LATENCY_USERS, model.idmap_.n_users)
        users = rng.choice(model.idmap_.users, size=n, replace=False)
        model.recommend(users[0], k=10)  # builds the int8 copy outside the timing
        times = []
        for user in users:
            start = time.perf_counter()
            model.recommend(user, k=10)
            times.append(1000 * (time.perf_counter() - start))
        start = time.perf_counter()
        result = evaluate(model, split, "test", ks=(10,), progress=False)
        eval_seconds = time.perf_counter() - start
        per_user = result.per_user["ndcg@10"]
        _, zeros = weight_sparsity(model.net_)
        metrics = {
            "ndcg@10": result.metrics["ndcg@10"],
            "recall@10": result.metrics["recall@10"],
            "latency_ms": float(np.median(times)),
            "latency_p99_ms": float(np.percentile(times, 99)),
            "zero_weight_share": zeros,
        }
        extra = {"params": {**run.params, **settings}, "run": str(run_dir), "seeds": [0]}
        if base is None:
            base = (per_user, metrics)
        else:
            test = paired_test(per_user, base[0])
            metrics["ndcg@10_change"] = metrics["ndcg@10"] / base[1]["ndcg@10"] - 1
            metrics["latency_change"] = metrics["latency_ms"] / base[1]["latency_ms"] - 1
            extra["vs_float"] = {
                "delta": test.difference,
                "ci95": [test.ci_low, test.ci_high],
                "p": test.p_value,
                "n_users": test.n_users,
                "significant": test.significant(),
            }
        records.append(
            make_record(
                dataset=run.data,
                split=split.protocol,
                protocol="compression",
                model=name,
                metrics=metrics,
                train_seconds=run.fit_seconds,
                eval_seconds=eval_seconds,
                peak_mb=peak_memory_mb(),
                extra={**extra, "command": _command("compression", run_dir)},
            )
        )
        print(name, json.dumps({k: round(v, 4) for k, v in metrics.items()}), flush=True)
    return records


# --------------------------------------------------------------------------- load
def _start_server(
    run_dir: Path, store: Path, keys: Path | None = None
) -> tuple[subprocess.Popen, str]:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "lmrec", "serve", str(run_dir), "--port", str(port)]
    cmd += ["--no-auth"] if keys is None else ["--keys", str(keys)]
    cmd += ["--store", f"duckdb:{store}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the service exited before it was ready")
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the service did not become ready")


class _Connection:
    """One keep-alive HTTP/1.1 connection that posts pre-encoded JSON bodies.

    The generator shares the 2 cores with the server, so its own cost per request counts
    against the server's throughput: httpx spent 1.9 ms of CPU on each request, this 0.1 ms
    (measured on ml-100k; it reads only the status line, Content-Length and the body)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _load(url: str, bodies: list[tuple[str, dict]], concurrency: int, limit: float):
    """Send ``bodies`` with at most ``concurrency`` requests in flight (one keep-alive
    connection each); stop at ``limit`` s. Bodies are encoded before the clock starts."""
    host, port = url.removeprefix("http://").split(":")
    queue = iter([(path, json.dumps(body).encode()) for path, body in bodies])
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + limit

    async def client_loop() -> None:
        nonlocal errors
        conn = _Connection(host, int(port))
        try:
            for path, body in queue:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                try:
                    status = await conn.post(path, body)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1  # a dropped connection counts as a failed request
                    conn.close()
                    continue
                latencies.append(1000 * (time.perf_counter() - start))
                errors += status != 200
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return np.array(latencies), errors, seconds


def _run(coro):
    """Run the generator on uvloop (the server's loop too), asyncio's own without it."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def load(run_dir: Path) -> list[dict]:
    from lmrec.evaluate.report import make_record
    from lmrec.runs import load_run

    model, run = load_run(run_dir)
    users = np.asarray(model.idmap_.users, dtype=str)
    items = np.asarray(model.idmap_.items, dtype=str)
    rng = np.random.default_rng(0)
    max_len = int(run.params.get("max_len", 50))

    def history(user: int) -> list[dict]:
        latest = model.sequences_.items[user][-max_len:] - 1  # sequence rows are index + 1
        return [{"item_id": items[i]} for i in latest]

    records = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start_server(run_dir, Path(tmp) / "events.duckdb")
        try:
            warm = [("/v1/recommend", {"user_id": u, "k": 10}) for u in users[:50]]
            _run(_load(url, warm, 4, 60))
            for endpoint, concurrency, n, limit in LOAD_CASES:
                picked = rng.choice(len(users), size=n)
                if endpoint == "recommend":
                    bodies = [("/v1/recommend", {"user_id": users[u], "k": 10}) for u in picked]
                elif endpoint == "history":
                    bodies = [("/v1/recommend", {"history": history(u), "k": 10}) for u in picked]
                else:
                    bodies = [
                        (
                            "/v1/events",
                            {"events": [{"user_id": users[u], "item_id": items[u % len(items)]}]},
                        )
                        for u in picked
                    ]
                lat, errors, seconds = _run(_load(url, bodies, concurrency, limit))
                metrics = {
                    "p50_ms": float(np.percentile(lat, 50)),
                    "p99_ms": float(np.percentile(lat, 99)),
                    "rps": len(lat) / seconds,
                    "requests": float(len(lat)),
                    "errors": float(errors),
                }
                label = f"load-c{concurrency}"
                name = "recommend (history)" if endpoint == "history" else endpoint
                print(name, label, json.dumps({k: round(v, 2) for k, v in metrics.items()}))
                records.append(
                    make_record(
                        dataset=run.data,
                        split="service on 127.0.0.1 (uvicorn, one process, DuckDB store)",
                        protocol=label,
                        model=f"transformer /v1/{name}",
                        metrics=metrics,
                        train_seconds=run.fit_seconds,
                        eval_seconds=seconds,
                        peak_mb=0.0,
                        extra={
                            "params": run.params,
                            "run": str(run_dir),
                            "concurrency": concurrency,
                            "time_limit_s": limit,
                            "seeds": [0],
                            "command": _command("load", run_dir),
                        },
                    )
                )
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return records


#: Generated requests per operation of the OpenAPI schema in ``--part fuzz``.
FUZZ_EXAMPLES = 100


def _fuzz_operation(operation, url: str, headers: dict, counts, failures: list[str]) -> None:
    """FUZZ_EXAMPLES generated requests of one operation against the live service."""
    from hypothesis import HealthCheck, given, settings

    @given(case=operation.as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call(base_url=url, headers=headers, timeout=60)
        counts[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            failures.append(f"{operation.label}: {response.status_code}")
        elif response.status_code >= 400:
            try:
                is_json_error = "error" in response.json()
            except ValueError:
                is_json_error = False
            if not is_json_error:
                counts["non_json_errors"] += 1
                failures.append(f"{operation.label}: {response.status_code}, not a JSON error")

    check()


def fuzz(run_dir: Path) -> list[dict]:
    """Schemathesis against the live service (API keys on, a write key): every operation of
    its OpenAPI schema, FUZZ_EXAMPLES generated requests each; counts answers by class. A
    5xx, or an error answer that is not JSON, is a defect."""
    from collections import Counter

    import schemathesis

    from lmrec.evaluate.report import make_record
    from lmrec.runs import load_run

    _, run = load_run(run_dir)
    counts: Counter[str] = Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.json"
        create = ["keys", "create", "--keys", str(keys), "--role", "write", "--rate", "10000000"]
        made = subprocess.run(
            [sys.executable, "-m", "lmrec", *create],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        headers = {"X-API-Key": made.stdout.strip()}
        proc, url = _start_server(run_dir, Path(tmp) / "events.duckdb", keys)
        start = time.perf_counter()
        try:
            schema = schemathesis.openapi.from_url(url + "/openapi.json")
            operations = [result.ok() for result in schema.get_all_operations()]
            for operation in operations:
                _fuzz_operation(operation, url, headers, counts, failures)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    seconds = time.perf_counter() - start
    metrics = {
        "operations": float(len(operations)),
        "requests": float(sum(counts[k] for k in ("2xx", "3xx", "4xx", "5xx"))),
        "server_errors": float(counts["5xx"]),
        "non_json_errors": float(counts["non_json_errors"]),
        "client_errors": float(counts["4xx"]),
        "ok_responses": float(counts["2xx"]),
    }
    print("fuzz", json.dumps(metrics), *failures[:10], sep="\n")
    return [
        make_record(
            dataset=run.data,
            split="service on 127.0.0.1 (uvicorn, one process, DuckDB store, API keys)",
            protocol="fuzz",
            model="transformer (OpenAPI schema, Schemathesis)",
            metrics=metrics,
            train_seconds=run.fit_seconds,
            eval_seconds=seconds,
            peak_mb=0.0,
            extra={
                "params": run.params,
                "run": str(run_dir),
                "examples_per_operation": FUZZ_EXAMPLES,
                "failures": failures[:50],
                "seeds": [0],
                "command": _command("fuzz", run_dir),
            },
        )
    ]


def main() -> None:
    from lmrec.evaluate.report import startup_code_version, write_records

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["compression", "load", "fuzz"], nargs="*")
    parser.add_argument("--run", default=RUN, help="run directory (relative to the repo)")
    args = parser.parse_args()
    startup_code_version()
    run_dir = Path(args.run)
    if not (ROOT / run_dir / "run.json").is_file():
        sys.exit(
            f"{run_dir}: no run; make it with lmrec train beauty --model transformer "
            "--param max_len=50 --param epochs=200 --param batch_size=256 --param lr=0.002 "
            f"--param patience=10 --param dropout=0.5 --seed 2 --out {RUN}"
        )
    os.chdir(ROOT)
    parts = args.part or ["compression", "load", "fuzz"]
    if "compression" in parts:
        write_records(RECORDS, compression(run_dir))
    if "load" in parts:
        write_records(RECORDS, load(run_dir))
    if "fuzz" in parts:
        write_records(RECORDS, fuzz(run_dir))
    render()


if __name__ == "__main__":
    main()
