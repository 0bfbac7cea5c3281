"""The HTTP service, run for real: `lmrec serve` in its own process on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from serve_helpers import RUNNER, Server, _cli, _request

from lmrec.cli import app


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    run = root / "knn"
    _cli("train", "synthetic", "--model", "itemknn", "--param", "k=50", "--out", run)
    keys = root / "keys.json"
    read_key = _cli("keys", "create", "--keys", keys, "--role", "read").strip()
    write_key = _cli("keys", "create", "--keys", keys, "--role", "write").strip()
    slow_key = _cli("keys", "create", "--keys", keys, "--role", "read", "--rate", "2").strip()
    server = Server(run, keys, root / "events.duckdb")
    yield {
        "server": server,
        "run": run,
        "keys": keys,
        "root": root,
        "read": {"X-API-Key": read_key},
        "write": {"Authorization": f"Bearer {write_key}"},
        "slow": {"X-API-Key": slow_key},
    }
    server.stop()


def test_keys_are_stored_hashed(setup):
    stored = json.loads(setup["keys"].read_text())["keys"]
    assert len(stored) == 3 and all(k["hash"].startswith("sha256:") for k in stored)
    raw = setup["keys"].read_text()
    assert setup["read"]["X-API-Key"] not in raw


def test_recommend_paths_and_events_take_effect_at_once(setup):
    url, read, write = setup["server"].url, setup["read"], setup["write"]
    known = _request(
        "POST", url + "/v1/recommend", json={"user_id": "1", "k": 5}, headers=read
    ).json()
    assert known["served_by"] == "model" and len(known["items"]) == 5
    assert all({"item_id", "score", "title"} <= set(i) for i in known["items"])
    new = _request(
        "POST", url + "/v1/recommend", json={"user_id": "visitor-1"}, headers=read
    ).json()
    assert new["served_by"] == "popularity"
    posted = _request(
        "POST",
        url + "/v1/events",
        json={"events": [{"user_id": "visitor-1", "item_id": "5", "behaviour": "click"}]},
        headers=write,
    )
    assert posted.status_code == 200 and posted.json()["stored"] == 1
    after = _request(
        "POST", url + "/v1/recommend", json={"user_id": "visitor-1"}, headers=read
    ).json()
    assert after["served_by"] == "history"
    assert "5" not in [i["item_id"] for i in after["items"]]  # seen items are excluded
    raw = _request(
        "POST", url + "/v1/recommend", json={"history": [{"item_id": "5"}], "k": 10}, headers=read
    ).json()
    assert [i["item_id"] for i in raw["items"]] == [i["item_id"] for i in after["items"]]


def test_predict_similar_and_interests(setup):
    url, read = setup["server"].url, setup["read"]
    pred = _request(
        "POST", url + "/v1/predict", json={"user_id": "1", "item_ids": ["5", "7"]}, headers=read
    ).json()
    assert [p["item_id"] for p in pred["predictions"]] == ["5", "7"]
    assert all(0 <= p["p_item"] <= 1 for p in pred["predictions"])
    similar = _request("GET", url + "/v1/items/5/similar?k=3", headers=read).json()
    assert len(similar["items"]) == 3
    no = _request("GET", url + "/v1/users/1/interests", headers=read)
    assert no.status_code == 400 and "does not support 'interests'" in no.json()["error"]
    # Several interests work for any model that scores histories (here ItemKNN).
    multi = _request("GET", url + "/v1/users/1/interests?multi=true&top=3", headers=read)
    assert multi.status_code == 200, multi.text
    found = multi.json()["interests"]
    assert found and abs(sum(i["weight"] for i in found) - 1) < 1e-6
    assert all(i["categories"] and len(i["items"]) == 3 and i["history"] for i in found)
    assert {"item_id", "p", "title"} <= set(found[0]["items"][0])
    unknown = _request("GET", url + "/v1/users/nobody/interests?multi=true", headers=read)
    assert unknown.status_code == 404 and "fitted" in unknown.json()["error"]


def test_diverse_lists_are_the_offline_re_ranking(setup):
    """A re-ranked list served over HTTP is the list lmrec.rerank.Reranked makes offline
    from the same run; knob 0 is the model's order; bad settings get 4xx JSON."""
    from lmrec.evaluate.diversity import item_space
    from lmrec.rerank import Reranked
    from lmrec.runs import fitted_data, load_run

    url, read = setup["server"].url, setup["read"]

    def served(body: dict) -> dict:
        r = _request("POST", url + "/v1/recommend", json=body, headers=read)
        assert r.status_code == 200, r.text
        return r.json()

    plain = served({"user_id": "2", "k": 10})
    same = served({"user_id": "2", "k": 10, "diversity": {"method": "mmr", "knob": 0}})
    assert [i["item_id"] for i in same["items"]] == [i["item_id"] for i in plain["items"]]
    assert same["reranked"] == "mmr-0" and "reranked" not in plain
    model, run = load_run(setup["run"])
    data = fitted_data(model, run, setup["run"])
    space = item_space(data)
    for method, knob in (("mmr", 0.9), ("dpp", 0.5), ("calibrated", 0.7)):
        body = {"user_id": "2", "k": 10, "diversity": {"method": method, "knob": knob}}
        got = [i["item_id"] for i in served(body)["items"]]
        offline = Reranked(model, data, space, method, knob, list_size=10)
        (want,), _ = offline.recommend(["2"], k=10)
        assert got == list(want), method
        assert got != [i["item_id"] for i in plain["items"]], method
    raw = served(
        {
            "history": [{"item_id": "5"}, {"item_id": "9"}],
            "k": 5,
            "diversity": {"method": "calibrated", "knob": 0.5, "candidates": 20},
        }
    )
    assert raw["served_by"] == "history" and len(raw["items"]) == 5
    assert not {"5", "9"} & {i["item_id"] for i in raw["items"]}
    for bad, status, message in (
        ({"method": "zigzag", "knob": 0.3}, 422, "body.diversity.method"),
        ({"method": "mmr", "knob": 1.5}, 422, "body.diversity.knob"),
        ({"method": "mmr", "knob": 0.3, "candidates": 5}, 400, "longer than the 5 candidates"),
    ):
        r = _request(
            "POST",
            url + "/v1/recommend",
            json={"user_id": "2", "k": 10, "diversity": bad},
            headers=read,
        )
        assert r.status_code == status and message in r.json()["error"], r.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("post", "/v1/recommend", {"user_id": "1", "k": 0}, 422, "body.k"),
        ("post", "/v1/recommend", {"k": 3}, 400, "exactly one of user_id or history"),
        ("post", "/v1/recommend", {"history": [{"item_id": "nope"}]}, 404, "'nope'"),
        ("post", "/v1/recommend", {"history": []}, 400, "history is empty"),
        ("post", "/v1/predict", {"user_id": "1", "item_ids": ["nope"]}, 404, "'nope'"),
        ("get", "/v1/items/nope/similar", None, 404, "'nope'"),
        ("post", "/v1/events", {"events": []}, 403, "role (read) may not write"),
    ],
)
def test_bad_requests_get_4xx_json(setup, method, path, body, status, message):
    url, read = setup["server"].url, setup["read"]
    r = _request(method, url + path, json=body, headers=read)
    assert r.status_code == status and message in r.json()["error"], r.text


def test_auth_limits_and_sizes(setup):
    url, write = setup["server"].url, setup["write"]
    assert _request("POST", url + "/v1/recommend", json={"user_id": "1"}).status_code == 401
    bad = _request("POST", url + "/v1/recommend", json={"user_id": "1"}, headers={"X-API-Key": "x"})
    assert bad.status_code == 401 and bad.json()["error"] == "unknown API key"
    bad_event = _request(
        "POST",
        url + "/v1/events",
        json={"events": [{"user_id": "u", "item_id": "5", "behaviour": "teleport"}]},
        headers=write,
    )
    assert bad_event.status_code == 400 and "unknown behaviour 'teleport'" in bad_event.text
    big = _request("POST", url + "/v1/events", content=b"x" * (2 << 20), headers=write)
    assert big.status_code == 413
    statuses = [
        _request(
            "POST", url + "/v1/recommend", json={"user_id": "1"}, headers=setup["slow"]
        ).status_code
        for _ in range(4)
    ]
    assert statuses[:2] == [200, 200] and 429 in statuses[2:]


def test_metrics_count_requests(setup):
    text = _request("GET", setup["server"].url + "/metrics").text
    assert 'lmrec_requests_total{endpoint="/v1/recommend",status="200"}' in text
    assert "lmrec_request_seconds_bucket" in text and "lmrec_model_info" in text
    assert "lmrec_events_stored" in text


def test_acknowledged_events_survive_sigkill(setup, tmp_path):
    store = tmp_path / "kill.duckdb"
    server = Server(setup["run"], setup["keys"], store)
    events = [{"user_id": f"k{j}", "item_id": str(j % 50 + 1)} for j in range(20)]
    r = _request("POST", server.url + "/v1/events", json={"events": events}, headers=setup["write"])
    assert r.status_code == 200
    item = {"item_id": "kept", "title": "an item registered before the crash"}
    r = _request("POST", server.url + "/v1/items", json=item, headers=setup["write"])
    assert r.status_code == 200
    server.kill()  # right after the acknowledgement, no graceful shutdown
    again = Server(setup["run"], setup["keys"], store)
    try:
        ready = _request("GET", again.url + "/readyz").json()
        assert ready["events"] == 20
        kept = _request("GET", again.url + "/v1/items/kept/similar", headers=setup["read"])
        assert kept.status_code == 200 and kept.json()["by"] == "text"
        rec = _request(
            "POST", again.url + "/v1/recommend", json={"user_id": "k3"}, headers=setup["read"]
        ).json()
        assert rec["served_by"] == "history"
    finally:
        again.stop()


def test_serve_refuses_to_start_without_keys(setup):
    result = RUNNER.invoke(app, ["serve", str(setup["run"])])
    assert result.exit_code == 2 and "give --keys FILE" in result.stderr
    bad = RUNNER.invoke(
        app, ["keys", "create", "--keys", str(setup["root"] / "k.json"), "--role", "god"]
    )
    assert bad.exit_code == 2 and "role must be one of read, write, admin" in bad.stderr
    threads = RUNNER.invoke(app, ["serve", str(setup["run"]), "--no-auth", "--threads", "0"])
    assert threads.exit_code == 2 and "--threads must be at least 1" in threads.stderr


def test_admin_reload_swaps_the_model(setup):
    url = setup["server"].url
    other = setup["root"] / "ease"
    _cli("train", "synthetic", "--model", "ease", "--param", "l2=50", "--out", other)
    admin = {
        "X-API-Key": _cli("keys", "create", "--keys", setup["keys"], "--role", "admin").strip()
    }
    # keys are read at start-up: the new admin key is unknown to the running service
    assert _request("POST", url + "/v1/admin/reload", json={}, headers=admin).status_code == 401
    denied = _request("POST", url + "/v1/admin/reload", json={}, headers=setup["write"])
    assert denied.status_code == 403
    server = Server(setup["run"], setup["keys"], setup["root"] / "reload.duckdb")
    try:
        assert _request("GET", server.url + "/readyz").json()["model"].startswith("itemknn@")
        swapped = _request(
            "POST", server.url + "/v1/admin/reload", json={"run_dir": str(other)}, headers=admin
        )
        assert swapped.status_code == 200 and swapped.json()["model"].startswith("ease@")
        assert _request("GET", server.url + "/readyz").json()["model"].startswith("ease@")
        rec = _request("POST", server.url + "/v1/recommend", json={"user_id": "1"}, headers=admin)
        assert rec.status_code == 200 and rec.json()["served_by"] == "model"
        bad = _request(
            "POST", server.url + "/v1/admin/reload", json={"run_dir": "/nowhere"}, headers=admin
        )
        assert bad.status_code == 400 and "/nowhere" in bad.json()["error"]
        assert "ease@" in _request("GET", server.url + "/readyz").json()["model"]  # unchanged
    finally:
        server.stop()


def test_new_items_join_the_catalogue_through_their_text(setup):
    url, read, write = setup["server"].url, setup["read"], setup["write"]
    twin = _request("GET", url + "/v1/items/7/similar?k=1", headers=read).json()["items"][0]
    title = twin["title"]  # a catalogue item's title: the new item's text twin
    body = {"item_id": "fresh-1", "title": title, "categories": []}
    placed = _request("POST", url + "/v1/items", json=body, headers=write)
    assert placed.status_code == 200, placed.text
    assert placed.json()["placed_near"][0]["item_id"] == twin["item_id"]

    # It is ranked with every item, on the model's scale, next to its text twin.
    history = {"history": [{"item_id": "3"}, {"item_id": "9"}], "k": 200}
    rec = _request("POST", url + "/v1/recommend", json=history, headers=read).json()
    ranked = {i["item_id"]: i["score"] for i in rec["items"]}
    assert "fresh-1" in ranked
    if twin["item_id"] in ranked:
        assert abs(ranked["fresh-1"] - ranked[twin["item_id"]]) <= abs(ranked[twin["item_id"]])
    similar = _request("GET", url + "/v1/items/fresh-1/similar?k=3", headers=read).json()
    assert similar["by"] == "text" and similar["items"][0]["item_id"] == twin["item_id"]
    p = _request(
        "POST", url + "/v1/predict", json={"user_id": "2", "item_ids": ["fresh-1"]}, headers=read
    ).json()
    assert 0 < p["predictions"][0]["p_item"] < 1

    # Events may name it; it then counts as seen, and a history with it can be scored.
    event = {"user_id": "visitor-new", "item_id": "fresh-1"}
    r = _request("POST", url + "/v1/events", json={"events": [event]}, headers=write)
    assert r.status_code == 200
    after = _request(
        "POST", url + "/v1/recommend", json={"user_id": "visitor-new", "k": 200}, headers=read
    ).json()
    assert after["served_by"] == "history"
    assert "fresh-1" not in [i["item_id"] for i in after["items"]]

    # Bad input: a duplicate, a catalogue id, no text, a read-only key.
    again = _request("POST", url + "/v1/items", json=body, headers=write)
    assert again.status_code == 409 and "already exists" in again.json()["error"]
    old = _request("POST", url + "/v1/items", json={**body, "item_id": "7"}, headers=write)
    assert old.status_code == 409
    empty = _request("POST", url + "/v1/items", json={"item_id": "blank"}, headers=write)
    assert empty.status_code == 400 and "no title, text or categories" in empty.json()["error"]
    denied = _request("POST", url + "/v1/items", json={**body, "item_id": "x"}, headers=read)
    assert denied.status_code == 403


def test_recommendations_say_why_with_a_transformer(setup, tmp_path):
    url, read = setup["server"].url, setup["read"]
    knn = _request(
        "POST", url + "/v1/recommend", json={"user_id": "1", "explain": True}, headers=read
    )
    assert knn.status_code == 400 and "does not support 'explain'" in knn.json()["error"]
    run = tmp_path / "tf"
    small = ["--param", "epochs=2", "--param", "dim=16", "--param", "max_len=10"]
    _cli("train", "synthetic", "--model", "transformer", "--out", run, *small)
    server = Server(run, setup["keys"], tmp_path / "tf.duckdb")
    try:
        for body in ({"user_id": "1"}, {"history": [{"item_id": "3"}, {"item_id": "9"}]}):
            out = _request(
                "POST",
                server.url + "/v1/recommend",
                json={**body, "k": 3, "explain": True},
                headers=read,
            ).json()
            for item in out["items"]:
                assert 1 <= len(item["because"]) <= 3
                assert {"item_id", "title", "share", "sources"} <= set(item["because"][0])
                assert {"item", "behaviour"} <= set(item["because"][0]["sources"])
        raw = out["items"][0]["because"]
        assert {b["item_id"] for b in raw} <= {"3", "9"}
    finally:
        server.stop()
