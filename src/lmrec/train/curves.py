"""Training curves in a run directory: what each epoch's loss, learning rate and validation
score were, so a run can be judged (over-fitting, a bad learning rate) after the fact.

Files written by :func:`write_curves`:

- ``curves.jsonl``: one JSON object per epoch (``epoch``, ``loss``, ``lr``, ``seconds``
  and, on validated epochs, ``valid_ndcg@10``), read back by :func:`read_curves` and drawn
  by ``lmrec plot RUN``;
- ``tensorboard/``: the same scalars as TensorBoard event files, when the ``tensorboard``
  package is installed (``tensorboard --logdir RUN/tensorboard``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from lmrec.errors import ModelFileError

CURVES_FILE = "curves.jsonl"
TENSORBOARD_DIR = "tensorboard"


def write_curves(rows: Sequence[dict[str, float]], run_dir: str | Path) -> Path:
    """Write per-epoch ``rows`` (see :class:`lmrec.train.loop.TrainHistory`) to ``run_dir``."""
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CURVES_FILE
    lines = [json.dumps({k: _finite(v) for k, v in row.items()}) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    _write_tensorboard(rows, out / TENSORBOARD_DIR)
    return path


def read_curves(run_dir: str | Path) -> list[dict[str, float]]:
    """The per-epoch rows of a run directory; a clear error when there are none."""
    path = Path(run_dir) / CURVES_FILE
    if not path.is_file():
        raise ModelFileError(
            f"{run_dir}: no {CURVES_FILE}; only runs of models trained epoch by epoch "
            "(transformer, multi-interest) have training curves"
        )
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ModelFileError(f"{path}, line {n}: not valid JSON ({exc})") from None
        if not isinstance(row, dict) or "epoch" not in row:
            raise ModelFileError(f"{path}, line {n}: expected an object with an 'epoch' key")
        rows.append(row)
    if not rows:
        raise ModelFileError(f"{path}: is empty; the run recorded no epoch")
    return rows


def _finite(value: float) -> float | None:
    return value if isinstance(value, int) or math.isfinite(value) else None


def _write_tensorboard(rows: Sequence[dict[str, float]], log_dir: Path) -> None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: curves.jsonl holds the same numbers
        return
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for row in rows:
            for key, value in row.items():
                if key != "epoch" and value is not None and math.isfinite(value):
                    writer.add_scalar(key.replace("@", "_at_"), value, int(row["epoch"]))
    finally:
        writer.close()
