"""A 2-process torchrun (gloo, CPU) computes the same losses as one process on the same batches."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
PARAMS = [
    "epochs=2",
    "dim=16",
    "layers=1",
    "max_len=10",
    "dropout=0.0",
    "batch_size=64",
    "threads=1",
    "progress=false",
    "patience=5",
]


def _run(cmd: list[str], out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*cmd, "synthetic", "--out", str(out), "--param", *PARAMS],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "history.json").read_text())


@pytest.mark.skipif(not (VENV_BIN / "torchrun").exists(), reason="torchrun not installed")
def test_two_processes_match_one(tmp_path):
    one = _run([sys.executable, "-m", "lmrec.train"], tmp_path / "one")
    two = _run(
        [
            str(VENV_BIN / "torchrun"),
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            "-m",
            "lmrec.train",
        ],
        tmp_path / "two",
    )
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert len(one["losses"]) == len(two["losses"]) == 2
    for a, b in zip(one["losses"], two["losses"], strict=True):
        assert b == pytest.approx(a, rel=1e-4)
    assert two["valid_ndcg@10"] == pytest.approx(one["valid_ndcg@10"], rel=1e-3)
    assert (tmp_path / "two" / "model.safetensors").is_file()


def test_bad_parameter_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lmrec.train",
            "synthetic",
            "--out",
            str(tmp_path / "x"),
            "--param",
            "heads=3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
