"""``key=value`` model parameters: converted to the default's type, errors that name them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lmrec.errors import ConfigError
from lmrec.models.params import convert, parse_grouped_params, parse_params
from lmrec.models.registry import MODEL_TYPES, model_class, model_names


def test_values_take_the_type_of_the_default():
    assert parse_params("ease", ["l2=200"]) == {"l2": 200.0}
    assert convert("m", "flag", "yes", False) is True
    assert convert("m", "flag", "off", True) is False
    assert convert("m", "n", "7", 1) == 7
    assert convert("m", "sizes", "1,2", (3,)) == (1, 2)
    assert convert("m", "opt", "null", None) is None
    assert convert("m", "opt", "0.5", None) == 0.5
    assert convert("m", "opt", "runs/x", None) == "runs/x"


def test_seed_is_passed_to_models_that_take_one():
    assert parse_params("als", [], seed=5)["seed"] == 5
    assert parse_params("als", ["seed=9"], seed=5)["seed"] == 9
    assert "seed" not in parse_params("ease", [], seed=5)


@pytest.mark.parametrize(
    ("pairs", "needle"),
    [
        (["l2=abc"], "must be a number"),
        (["lambda=1"], "no parameter 'lambda'"),
        (["l2"], "key=value"),
    ],
)
def test_bad_pairs_name_the_problem(pairs, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_params("ease", pairs)


def test_grouped_params_per_model():
    params = parse_grouped_params(["ease", "itemknn"], ["ease.l2=10", "itemknn.k=5"])
    assert params == {"ease": {"l2": 10.0}, "itemknn": {"k": 5}}
    with pytest.raises(ConfigError, match=r"MODEL\.KEY=VALUE"):
        parse_grouped_params(["ease"], ["als.factors=3"])


def test_registry_lists_names_and_resolves_classes_on_use():
    assert model_names()[:3] == ["popular", "random", "itemknn"]
    assert list(MODEL_TYPES) == model_names()
    assert model_class("ease").model_type == "ease"
    with pytest.raises(ConfigError, match="known models: popular"):
        model_class("knn")


def test_parsing_baseline_params_imports_no_torch():
    code = (
        "import json, sys\n"
        "from lmrec.models.params import parse_params\n"
        "parse_params('ease', ['l2=5']); parse_params('als', ['factors=8'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
