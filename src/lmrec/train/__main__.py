"""Train the behaviour Transformer, alone or data-parallel under ``torchrun``.

    torchrun --nproc_per_node 2 -m lmrec.train beauty --out runs/beauty --param epochs=50
    python -m lmrec.train synthetic --out runs/syn            # one process, same code path

Every process loads the data and builds the same split; each global batch is shared out
across processes (gloo on CPU, nccl on GPU). The first process validates, and writes the run
directory plus ``history.json`` (per-epoch loss and validation NDCG@10).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lmrec.errors import LmrecError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lmrec.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("data", help="data set name or file")
    parser.add_argument("--out", required=True, type=Path, help="run directory to write")
    parser.add_argument("--split", default="loo", choices=["loo", "temporal", "random", "given"])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--param", nargs="*", default=[], help="model parameters as key=value")
    args = parser.parse_args(argv)

    from lmrec.cli import parse_params
    from lmrec.data.registry import load_split
    from lmrec.models.registry import make_model
    from lmrec.train.distributed import finish, init_from_env, rank_and_world

    try:
        init_from_env()
        rank, world = rank_and_world()
        params = parse_params("transformer", args.param, None)
        if world > 1:
            params.setdefault("progress", False)
        split = load_split(args.data, args.split, data_dir=args.data_dir)
        model = make_model("transformer", **params).fit_split(split, "test")
        if rank == 0:
            model.save(args.out)
            history = model.history_
            (args.out / "history.json").write_text(
                json.dumps(
                    {
                        "world_size": world,
                        "losses": history.losses,
                        "valid_ndcg@10": history.scores,
                        "best_epoch": history.best_epoch + 1,
                        "seconds": history.seconds,
                        "sequences_per_second": history.examples_per_second,
                    },
                    indent=2,
                ),
                encoding="utf-8",
            )
        finish()
    except LmrecError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
