"""The HTTP service (FastAPI): endpoints, auth, limits, errors and metrics.

Endpoints (OpenAPI docs at ``/docs``):

======================================  ======  =============================================
``POST /v1/recommend``                  read    top-k for a user id or a raw history (re-ranked
                                                for diversity with ``diversity``)
``POST /v1/predict``                    read    p(item | history) (and ratings) for items
``GET /v1/users/{user_id}/interests``   read    the user's interest distribution (``?multi=true``)
``GET /v1/items/{item_id}/similar``     read    nearest items
``POST /v1/events``                     write   append events; 200 once committed
``POST /v1/items``                      write   register a new item by its text (no retraining)
``POST /v1/admin/reload``               admin   swap in a run (the same or another directory)
``GET /``                               none    a web page (asks for a key, then calls the API)
``GET /healthz``, ``/readyz``           none    liveness; readiness (model and store)
``GET /metrics``                        none    Prometheus metrics
======================================  ======  =============================================

Every error is JSON ``{"error": message}``: 400 bad input, 401 missing/unknown key, 403 role,
404 unknown user/item, 409 item exists, 413 body too large, 422 malformed body, 429 rate
limit.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lmrec.errors import CapabilityError, LmrecError, UnknownIdError
from lmrec.rerank import ListDiversity
from lmrec.serve.engine import Engine
from lmrec.serve.new_items import NewItem
from lmrec.serve.security import ApiKey, KeyRing, pseudonym
from lmrec.serve.store import Event

log = logging.getLogger("lmrec.serve")

MAX_BODY_BYTES = 1 << 20  # 1 MiB
MAX_K = 1000
#: The most candidates one re-ranked list may be chosen from (a DPP is cubic in them).
MAX_CANDIDATES = 1000
MAX_EVENTS = 10_000


# ------------------------------------------------------------------ request bodies
class EventIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    item_id: str = Field(min_length=1, max_length=256)
    behaviour: str = "click"
    timestamp: float | None = None


class HistoryEvent(BaseModel):
    item_id: str = Field(min_length=1, max_length=256)
    behaviour: str = "click"
    timestamp: float | None = None


class DiversityIn(BaseModel):
    """A re-ranked list (lmrec.rerank): ``method`` at ``knob`` over the top ``candidates``."""

    method: Literal["mmr", "dpp", "calibrated"]
    knob: float = Field(ge=0.0, le=1.0)
    relevance: Literal["scores", "probabilities"] = "scores"
    candidates: int = Field(default=100, ge=1, le=MAX_CANDIDATES)
    space: Literal["categories", "text"] = "categories"


class RecommendIn(BaseModel):
    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    history: list[HistoryEvent] | None = Field(default=None, max_length=MAX_EVENTS)
    k: int = Field(default=10, ge=1, le=MAX_K)
    exclude_seen: bool = True
    categories: list[str] | None = None
    explain: bool = False
    diversity: DiversityIn | None = None


class PredictIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    item_ids: list[str] = Field(min_length=1, max_length=MAX_K)


class EventsIn(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class ItemIn(BaseModel):
    item_id: str = Field(min_length=1, max_length=256)
    title: str = Field(default="", max_length=1000)
    text: str = Field(default="", max_length=20_000)
    categories: list[str] = Field(default_factory=list, max_length=100)


class ReloadIn(BaseModel):
    run_dir: str | None = Field(default=None, min_length=1, max_length=4096)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def _event(e: EventIn | HistoryEvent, user_id: str) -> Event:
    stamp = math.nan if e.timestamp is None else float(e.timestamp)
    return Event(user_id, e.item_id, e.behaviour, stamp)


# ------------------------------------------------------------------ the app
def create_app(
    engine: Engine,
    keys: KeyRing | None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    log_secret: bytes | None = None,
    loader: Callable[[str], Engine] | None = None,
) -> FastAPI:
    """The service for ``engine``; ``keys=None`` turns authentication off (local use only).

    ``loader(run_dir)`` builds the engine of another run for ``/v1/admin/reload``: the new
    engine is loaded while requests go on, then swapped in by one assignment, so a request
    is served wholly by the old engine or wholly by the new one and none is dropped.
    """
    current = {"engine": engine}

    def eng() -> Engine:
        return current["engine"]

    secret = (
        log_secret or os.environ.get("LMREC_LOG_SECRET", "").encode() or secrets.token_bytes(32)
    )
    registry = CollectorRegistry()
    requests = Counter(
        "lmrec_requests",
        "Requests by endpoint and status",
        ["endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "lmrec_request_seconds", "Request latency by endpoint", ["endpoint"], registry=registry
    )
    errors = Counter("lmrec_errors", "Error responses by status", ["status"], registry=registry)
    info = Gauge("lmrec_model_info", "The model being served", ["version"], registry=registry)
    stored = Gauge("lmrec_events_stored", "Events in the event store", registry=registry)
    lag = Gauge(
        "lmrec_event_store_lag_seconds",
        "Time the last event write took to commit",
        registry=registry,
    )
    info.labels(version=engine.version).set(1)

    app = FastAPI(
        title="lmrec",
        version="1",
        description="Recommendations, predictions and interests from an lmrec run.",
    )

    class LimitsAndMetrics:
        """Body-size limit and Prometheus metrics, as plain ASGI middleware: Starlette's
        ``BaseHTTPMiddleware`` (``@app.middleware``) cost about a millisecond a request."""

        def __init__(self, inner: Callable) -> None:
            self.inner = inner

        async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return
            await limits_and_metrics(self.inner, scope, receive, send)

    app.add_middleware(LimitsAndMetrics)

    async def limits_and_metrics(
        inner: Callable, scope: dict, receive: Callable, send: Callable
    ) -> None:
        start = time.perf_counter()
        status = 500
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > max_body_bytes:
            status = 413
            message = {"error": f"request body of {int(length)} bytes exceeds {max_body_bytes}"}
            await JSONResponse(message, status_code=413)(scope, receive, send)
        else:

            async def send_and_see(message: dict) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await inner(scope, receive, send_and_see)
        route = scope.get("route")
        endpoint = route.path if route is not None else scope["path"]
        requests.labels(endpoint=endpoint, status=str(status)).inc()
        latency.labels(endpoint=endpoint).observe(time.perf_counter() - start)
        if status >= 400:
            errors.labels(status=str(status)).inc()

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(UnknownIdError)
    async def unknown(_: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(LmrecError)
    async def bad_input(_: Request, exc: LmrecError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse({"error": message, "details": exc.errors()}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    def require(role: str) -> Callable[..., ApiKey | None]:
        def check(
            authorization: Annotated[str | None, Header()] = None,
            x_api_key: Annotated[str | None, Header()] = None,
        ) -> ApiKey | None:
            if keys is None:
                return None
            token = x_api_key or (
                authorization.removeprefix("Bearer ").strip()
                if authorization and authorization.startswith("Bearer ")
                else None
            )
            if not token:
                raise ApiError(401, "missing API key (Authorization: Bearer KEY or X-API-Key)")
            key = keys.find(token)
            if key is None:
                raise ApiError(401, "unknown API key")
            if not key.allows(role):
                raise ApiError(403, f"this key's role ({key.role}) may not {role}")
            if not keys.take(key):
                raise ApiError(
                    429, f"rate limit of {key.rate_per_minute}/minute", {"Retry-After": "1"}
                )
            return key

        return check

    read = Depends(require("read"))
    write = Depends(require("write"))

    @app.post("/v1/recommend", dependencies=[read])
    def recommend(body: RecommendIn) -> JSONResponse:
        """Top-k items for a user id, or for a raw history (a visitor)."""
        if (body.user_id is None) == (body.history is None):
            raise ApiError(400, "give exactly one of user_id or history")
        history = None
        if body.history is not None:
            if not body.history:
                raise ApiError(400, "history is empty: give at least one event")
            history = [_event(e, "(history)") for e in body.history]
        diversity = None
        if body.diversity is not None:
            d = body.diversity
            diversity = ListDiversity(d.method, d.knob, d.relevance, d.candidates, d.space)
        try:
            out = eng().recommend(
                body.user_id,
                history,
                body.k,
                body.exclude_seen,
                body.categories,
                body.explain,
                diversity,
            )
        except CapabilityError as exc:
            raise ApiError(400, str(exc)) from None
        if body.user_id is not None:
            log.info(
                "recommend user=%s served_by=%s", pseudonym(body.user_id, secret), out["served_by"]
            )
        # Plain JSON: the rows are already JSON types, so FastAPI's encoder walk is skipped.
        return JSONResponse({"k": body.k, **out})

    @app.post("/v1/predict", dependencies=[read])
    def predict(body: PredictIn) -> JSONResponse:
        """p(item | history) for the user's candidate items (and ratings where the model
        predicts them)."""
        return JSONResponse(eng().predict(body.user_id, body.item_ids))

    @app.get("/v1/users/{user_id}/interests", dependencies=[read])
    def interests(user_id: str, top: int = 10, multi: bool = False) -> dict[str, Any]:
        """The user's interest distribution: top categories and items with probabilities;
        with ``multi=true`` the user's several interests, each with its own items."""
        if not 1 <= top <= MAX_K:
            raise ApiError(400, f"top must be between 1 and {MAX_K}")
        try:
            if multi:
                return eng().multi_interests(user_id, top)
            return eng().interests(user_id, top)
        except CapabilityError as exc:
            raise ApiError(400, str(exc)) from None

    @app.get("/v1/items/{item_id}/similar", dependencies=[read])
    def similar(item_id: str, k: int = 10) -> dict[str, Any]:
        """The items nearest to ``item_id``."""
        if not 1 <= k <= MAX_K:
            raise ApiError(400, f"k must be between 1 and {MAX_K}")
        return eng().similar(item_id, k)

    @app.post("/v1/events", dependencies=[write])
    def events(body: EventsIn) -> dict[str, Any]:
        """Append events; answered once they are committed (durable)."""
        start = time.perf_counter()
        n = eng().add_events([_event(e, e.user_id) for e in body.events])
        lag.set(time.perf_counter() - start)
        total = eng().store.count()
        stored.set(total)
        return {"stored": n, "events_total": total}

    @app.post("/v1/items", dependencies=[write])
    def items(body: ItemIn) -> dict[str, Any]:
        """Register a new item by its text (title, text, categories): from now on it is
        ranked with every other item, through its text neighbours, without retraining."""
        engine = eng()
        engine.sync_new_items()
        if engine.known_item(body.item_id):
            raise ApiError(409, f"item {body.item_id!r} already exists")
        item = NewItem(body.item_id, body.title, body.text, tuple(body.categories))
        return engine.register_item(item)

    admin = Depends(require("admin"))

    @app.post("/v1/admin/reload", dependencies=[admin])
    def reload(body: ReloadIn) -> dict[str, Any]:
        """Load a run (default: the one being served, e.g. retrained in place) and swap it in."""
        if loader is None:
            raise ApiError(400, "this service was started without a way to load runs")
        old = eng()
        new = loader(body.run_dir or old.run_dir)
        current["engine"] = new
        if old.version != new.version:
            info.remove(old.version)
        info.labels(version=new.version).set(1)
        log.info("reloaded %s -> %s", old.version, new.version)
        return {"previous": old.version, "model": new.version}

    page = (Path(__file__).parent / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        """A page to try the service: recommendations, interests, posting a click."""
        return HTMLResponse(page)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            total = eng().store.count()
        except Exception as exc:  # the store is down: not ready, say why
            return JSONResponse({"status": "not ready", "error": str(exc)}, status_code=503)
        stored.set(total)
        return JSONResponse({"status": "ready", "model": eng().version, "events": total})

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


__all__ = ["create_app"]
