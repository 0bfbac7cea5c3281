"""Train the behaviour Transformer, alone or data-parallel under ``torchrun``.

    torchrun --nproc_per_node 2 -m lmrec.train beauty --out runs/beauty --param epochs=50
    python -m lmrec.train synthetic --out runs/syn            # one process, same code path

Every process loads the data and builds the same split; each global batch is shared out
across processes (gloo on CPU, nccl on GPU). The first process validates, and writes the
same run directory as ``lmrec train --model transformer`` (:func:`lmrec.runs.save_run`:
model, run.json, curves.jsonl) plus ``history.json`` (world size, per-epoch loss and
validation NDCG@10, throughput).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lmrec.errors import LmrecError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lmrec.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("data", help="data set name or file")
    parser.add_argument("--out", required=True, type=Path, help="run directory to write")
    parser.add_argument("--split", default="loo", choices=["loo", "temporal", "random", "given"])
    parser.add_argument("--seed", type=int, default=0, help="seed for the split and the model")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--param", nargs="*", default=[], help="model parameters as key=value")
    args = parser.parse_args(argv)
    command = ["python", "-m", "lmrec.train", *(sys.argv[1:] if argv is None else argv)]

    from lmrec.models.params import parse_params
    from lmrec.models.registry import make_model
    from lmrec.runs import RunInfo, build_split, portable_command, save_run
    from lmrec.train.distributed import finish, init_from_env, rank_and_world

    try:
        init_from_env()
        rank, world = rank_and_world()
        params = parse_params("transformer", args.param, args.seed)
        if world > 1:
            params.setdefault("progress", False)
        data_dir = str(args.data_dir) if args.data_dir is not None else None
        _, split = build_split(args.data, data_dir, None, None, args.split, args.seed)
        start = time.perf_counter()
        model = make_model("transformer", **params).fit_split(split, "test")
        fit_seconds = time.perf_counter() - start
        if rank == 0:
            run = RunInfo(
                data=args.data,
                split=args.split,
                seed=args.seed,
                model="transformer",
                params=params,
                data_dir=data_dir,
                split_protocol=split.protocol,
                fit_seconds=fit_seconds,
                command=portable_command(command),
            )
            save_run(model, args.out, run)
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
