"""Generated requests from the service's own OpenAPI schema (Schemathesis): whatever a client
sends, the answer is never a 5xx and errors are JSON."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from serve_helpers import _cli

from lmrec.serve.app import create_app
from lmrec.serve.engine import load_engine
from lmrec.serve.security import KeyRing, read_keys
from lmrec.serve.store import DuckDBStore

KEY: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    run = root / "knn"
    _cli("train", "synthetic", "--model", "itemknn", "--param", "k=20", "--out", run)
    keys = root / "keys.json"
    KEY["X-API-Key"] = _cli("keys", "create", "--keys", keys, "--role", "write").strip()
    store = DuckDBStore(root / "events.duckdb")
    app = create_app(load_engine(run, store), KeyRing(read_keys(keys)))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    store.close()


def test_generated_requests_never_fail_the_server(api_schema):
    """Every operation of the schema, 25 generated requests each (Schemathesis strategies
    driven by Hypothesis directly: its pytest plugin does not run under this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:
        _fuzz(operation)


def _fuzz(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(case):
        response = case.call(headers=KEY, timeout=60)
        assert response.status_code < 500, f"{operation.label}: {response.text}"
        if response.status_code >= 400:
            assert "error" in response.json(), f"{operation.label}: {response.text}"

    check()
