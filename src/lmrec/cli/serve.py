"""``lmrec serve`` (the HTTP service) and ``lmrec keys create`` (API keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmrec.cli.options import JsonOpt, RunDirArg, err_console, out_console, print_json

KeysOpt = Annotated[
    Path,
    typer.Option("--keys", help="Keys file (JSON; only hashes of the keys are stored)."),
]


def serve(
    run_dir: RunDirArg,
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Event store: duckdb:PATH (default: RUN/events.duckdb), or "
            "postgresql://user:password@host/db shared by several replicas.",
            show_default=False,
        ),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option("--keys", help="Keys file from `lmrec keys create`.", show_default=False),
    ] = None,
    index: Annotated[
        str,
        typer.Option(
            "--index",
            help="Retrieval for inner-product models (als, bpr): auto (exact up to 100k "
            "items, else a faiss HNSW index), exact or faiss.",
        ),
    ] = "auto",
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Serve without API keys (local experiments only)."),
    ] = False,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            help="Torch threads per request. 1 suits a service: one request is too small "
            "to split, and requests run side by side.",
        ),
    ] = 1,
) -> None:
    """Serve a run over HTTP: recommendations, predictions, interests, events, metrics.

    OpenAPI docs at /docs. Every endpoint under /v1 needs an API key unless --no-auth."""
    import torch
    import uvicorn

    from lmrec.errors import ConfigError
    from lmrec.serve.app import create_app
    from lmrec.serve.engine import load_engine
    from lmrec.serve.security import KeyRing, read_keys
    from lmrec.serve.store import open_store

    if keys is None and not no_auth:
        raise ConfigError(
            "give --keys FILE (create one with lmrec keys create --keys FILE --role read), "
            "or --no-auth for a local experiment"
        )
    if threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    ring = None if no_auth else KeyRing(read_keys(keys))  # type: ignore[arg-type]
    event_store = open_store(store or f"duckdb:{Path(run_dir) / 'events.duckdb'}")
    engine = load_engine(run_dir, event_store, index)
    app = create_app(engine, ring, loader=lambda path: load_engine(path, event_store, index))
    err_console().print(
        f"serving {engine.version} on http://{host}:{port} (docs: /docs; "
        f"retrieval: {engine.retrieval})"
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=10)
    finally:
        event_store.close()


def keys_create(
    keys: KeysOpt,
    role: Annotated[str, typer.Option("--role", help="read, write or admin.")] = "read",
    rate: Annotated[
        int, typer.Option("--rate", help="Requests per minute allowed for this key.")
    ] = 600,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; it is printed once, only its hash is stored."""
    from lmrec.serve.security import create_key

    key, record = create_key(keys, role, rate)
    if as_json:
        print_json({"key": key, "id": record.id, "role": record.role, "keys_file": str(keys)})
        return
    out_console().print(key)
    err_console().print(
        f"key {record.id} ({record.role}, {record.rate_per_minute}/min) added to {keys}; "
        "it is shown only now"
    )
