"""``import lmrec.cli`` and ``lmrec --help`` load no heavy library (torch, transformers, …).

Each check runs in a fresh interpreter, since this test process has imported them already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "sentence_transformers", "implicit", "pandas", "matplotlib")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def test_importing_the_cli_loads_no_heavy_library():
    assert _loaded_after("import lmrec.cli") == []


def test_help_loads_no_heavy_library():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['lmrec', '--help']\n"
        "try:\n"
        "    runpy.run_module('lmrec', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )
    assert _loaded_after(code) == []


@pytest.mark.parametrize("command", ["train", "plot", "demo", "data"])
def test_command_help_loads_no_heavy_library(command):
    code = (
        "import sys\n"
        "from lmrec.cli import app\n"
        f"try:\n    app(['{command}', '--help'], prog_name='lmrec')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )
    assert _loaded_after(code) == []


def test_python_m_lmrec_help_answers():
    proc = subprocess.run(
        [sys.executable, "-m", "lmrec", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "demo" in proc.stdout and "plot" in proc.stdout
