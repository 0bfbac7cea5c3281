"""The service's web page in a real headless browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import shutil

import pytest
from serve_helpers import Server, _cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (make test installs Debian's when root)"
)


def test_page_recommends_shows_interests_and_posts_a_click(tmp_path):
    from playwright.sync_api import sync_playwright

    run = tmp_path / "knn"
    _cli("train", "synthetic", "--model", "itemknn", "--param", "k=50", "--out", run)
    keys = tmp_path / "keys.json"
    key = _cli("keys", "create", "--keys", keys, "--role", "write").strip()
    server = Server(run, keys, tmp_path / "events.duckdb")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(server.url + "/")
            page.fill("#key", key)
            page.fill("#user", "visitor-7")
            page.fill("#k", "5")
            page.click("#go")
            page.wait_for_selector("#recs tbody tr")
            assert page.locator("#recs tbody tr").count() == 5
            assert page.inner_text("#served") == "served by popularity"
            first = page.locator("#recs tbody tr").first.locator("td").nth(1).inner_text()
            page.locator("#recs tbody tr").first.locator("button").click()
            page.wait_for_function(
                "document.getElementById('served').textContent === 'served by history'"
            )
            items = [
                row.locator("td").nth(1).inner_text()
                for row in page.locator("#recs tbody tr").all()
            ]
            assert first not in items  # the clicked item is now seen, so excluded
            page.wait_for_selector("#interests tbody tr")
            assert "not available" in page.inner_text("#interests")  # itemknn has none
            page.select_option("#method", "mmr")
            page.fill("#knob", "0.9")
            page.click("#go")
            page.wait_for_function(
                "document.getElementById('served').textContent.includes('re-ranked mmr-0.9')"
            )
            assert page.locator("#recs tbody tr").count() == 5
            assert (
                page.locator("#knob").evaluate("k => { k.value = '7'; return k.checkValidity(); }")
                is False
            )  # the form refuses a knob outside [0, 1]
            page.fill("#knob", "0.3")
            page.select_option("#method", "")
            page.fill("#key", "wrong")
            page.click("#go")
            page.wait_for_function("document.getElementById('status').textContent.includes('401')")
            browser.close()
    finally:
        server.stop()
