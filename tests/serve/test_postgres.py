"""The PostgreSQL event store, against a real server (scripts/test-services.sh starts one).

Set LMREC_TEST_POSTGRES to use another server; where none answers, these tests skip and
say why.
"""

from __future__ import annotations

import os
import uuid

import pytest

from lmrec.errors import ConfigError
from lmrec.serve.store import Event, open_store

URL = os.environ.get("LMREC_TEST_POSTGRES", "postgresql://lmrec:lmrec@127.0.0.1:5432/lmrec_test")


def _reachable() -> str | None:
    try:
        import psycopg

        psycopg.connect(URL, connect_timeout=3).close()
        return None
    except Exception as exc:  # no server, no role: skip with the reason
        return f"no PostgreSQL at {URL} ({type(exc).__name__}); run scripts/test-services.sh"


SKIP = _reachable()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


@pytest.fixture()
def table_url():
    table = "events_" + uuid.uuid4().hex[:12]
    yield f"{URL}?table={table}"
    import psycopg

    with psycopg.connect(URL) as db:
        db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute(f"DROP TABLE IF EXISTS {table}_items")


def test_round_trip_and_a_second_connection_sees_commits(table_url):
    one, two = open_store(table_url), open_store(table_url)
    try:
        assert one.append([Event("u", "1"), Event("u", "2", "buy", 5.0)]) == 2
        seen = two.history("u")
        assert [(e.item_id, e.behaviour, e.timestamp) for e in seen][1] == ("2", "buy", 5.0)
        two.append([Event("u", "3")])
        assert [e.item_id for e in one.history("u")] == ["1", "2", "3"]
        assert one.count() == 3 and one.history("nobody") == []
    finally:
        one.close()
        two.close()


def test_bad_urls_and_tables_are_clear_errors():
    with pytest.raises(ConfigError, match=r"cannot connect to the event store .*:\*\*\*@"):
        open_store("postgresql://lmrec:secret@127.0.0.1:1/nowhere")
    with pytest.raises(ConfigError, match="table must be letters"):
        open_store(f"{URL}?table=events;drop")


def test_two_replicas_share_events_through_postgres(table_url, tmp_path):
    from serve_helpers import Server, _cli, _request

    run = tmp_path / "knn"
    _cli("train", "synthetic", "--model", "itemknn", "--param", "k=50", "--out", run)
    keys = tmp_path / "keys.json"
    key = {"X-API-Key": _cli("keys", "create", "--keys", keys, "--role", "write").strip()}
    a = Server(run, keys, store=table_url)
    b = Server(run, keys, store=table_url)
    try:
        before = _request("POST", b.url + "/v1/recommend", json={"user_id": "r1"}, headers=key)
        assert before.json()["served_by"] == "popularity"
        event = {"user_id": "r1", "item_id": "5"}
        assert (
            _request(
                "POST", a.url + "/v1/events", json={"events": [event]}, headers=key
            ).status_code
            == 200
        )
        after = _request("POST", b.url + "/v1/recommend", json={"user_id": "r1"}, headers=key)
        assert after.json()["served_by"] == "history"
        assert "5" not in [i["item_id"] for i in after.json()["items"]]
        # A new item registered through one replica is known to the other at once.
        item = {"item_id": "pg-new", "title": "a new item", "categories": ["Genre 1"]}
        assert _request("POST", a.url + "/v1/items", json=item, headers=key).status_code == 200
        similar = _request("GET", b.url + "/v1/items/pg-new/similar", headers=key)
        assert similar.status_code == 200 and similar.json()["by"] == "text"
        a.kill()  # SIGKILL right after acknowledged events: nothing is lost
        c = Server(run, keys, store=table_url)
        try:
            assert _request("GET", c.url + "/readyz").json()["events"] == 1
        finally:
            c.stop()
    finally:
        for server in (a, b):
            if server.proc.poll() is None:
                server.stop()
