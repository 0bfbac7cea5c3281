"""Training curves: written per epoch, read back, and bad files named."""

from __future__ import annotations

import math

import pytest

from lmrec.errors import ModelFileError
from lmrec.train.curves import CURVES_FILE, TENSORBOARD_DIR, read_curves, write_curves


def test_curves_round_trip_with_tensorboard(tmp_path):
    rows = [
        {"epoch": 1, "loss": 3.5, "lr": 1e-4, "seconds": 1.0, "valid_ndcg@10": 0.1},
        {"epoch": 2, "loss": 3.1, "lr": 2e-4, "seconds": 2.0},
        {"epoch": 3, "loss": math.nan, "lr": 2e-4, "seconds": 3.0},
    ]
    write_curves(rows, tmp_path)
    back = read_curves(tmp_path)
    assert [r["epoch"] for r in back] == [1, 2, 3]
    assert back[0]["valid_ndcg@10"] == 0.1 and "valid_ndcg@10" not in back[1]
    assert back[2]["loss"] is None  # NaN is written as null, the file stays valid JSON
    events = list((tmp_path / TENSORBOARD_DIR).glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_missing_or_broken_curves_are_named(tmp_path):
    with pytest.raises(ModelFileError, match=CURVES_FILE):
        read_curves(tmp_path)
    (tmp_path / CURVES_FILE).write_text('{"epoch": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(ModelFileError, match="line 2"):
        read_curves(tmp_path)
