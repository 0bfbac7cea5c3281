"""Deletion test of the Transformer's explanations (gradient × input, lmrec.models.explain).

For test users with at least 6 events in the window the model reads, the item explained is
the user's top-1 recommendation. The score drop when the 3 top-attributed events are
removed from the history is compared with the drop when 3 random events are removed (the
mean over 5 random draws per user), both through ``score_histories`` (the history
re-scored without those events, everything else unchanged). Target: the top-3 drop at least
twice the random one, on average over users; a paired test on per-user drops says whether
the difference is significant.

Run: ``.venv/bin/python benchmarks/explain.py [--run RUN [RUN ...]]`` (default
``runs/bench/beauty-transformer``, the run ``benchmarks/transformer.py --save-run`` writes).
Several runs of one data set are seeds: each is tested on the same users, the record gives
the mean and 95% interval over them, and the paired test takes each user's drops averaged
over the runs. Records go to ``benchmarks/results/explain.json``.

The ml-100k record's three runs are the demo's Transformer (text fused, ``lmrec demo``)
at seeds 0, 1, 2: ``lmrec train ml-100k --model transformer --param fusion=add --param
max_len=50 --param dim=64 --param epochs=15 --param warmup_steps=20 --param patience=5
--param batch_size=128 --param seed=K --out runs/bench/ml-100k-explain-K`` (each run's
``run.json`` keeps its command).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from workers import RESULTS, command, render  # noqa: E402

RECORDS = RESULTS / "explain.json"
RUN = "runs/bench/beauty-transformer"
USERS = 1000
MIN_EVENTS = 6
RANDOM_DRAWS = 5


def deletion_test(model, users: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per user of ``users`` (sequence rows): the score drop of their top-1 item when the 3
    top-attributed events are removed, the mean drop over :data:`RANDOM_DRAWS` removals of 3
    random events, and the seconds it took."""
    rng = np.random.default_rng(seed)
    window = [s[-model.max_len :] for s in model.sequences_.items]
    top_drops, random_drops = [], []
    start = time.perf_counter()
    for u in users:
        history = [str(model.idmap_.items[i - 1]) for i in window[u]]
        user_id = model.idmap_.users[u]
        (item,), _ = model.recommend(user_id, k=1)
        col = model.idmap_.item_index([item])[0]
        ranked = model.explain(history=history, item_id=item, top=len(history))
        removals = [{a.position for a in ranked[:3]}]
        removals += [
            set(rng.choice(len(history), size=3, replace=False).tolist())
            for _ in range(RANDOM_DRAWS)
        ]
        variants = [[h for j, h in enumerate(history) if j not in r] for r in removals]
        scores = model.score_histories([history, *variants])[:, col]
        drops = scores[0] - scores[1:]
        top_drops.append(drops[0])
        random_drops.append(drops[1:].mean())
    return np.array(top_drops), np.array(random_drops), time.perf_counter() - start


def main() -> None:
    import torch

    from lmrec.evaluate.report import (
        make_record,
        peak_memory_mb,
        startup_code_version,
        write_records,
    )
    from lmrec.evaluate.stats import mean_ci, paired_test
    from lmrec.runs import load_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run",
        nargs="+",
        default=[RUN],
        help="transformer run directories of one data set, one per seed",
    )
    args = parser.parse_args()
    startup_code_version()
    torch.set_num_threads(1)
    per_seed, tops, rands, seeds, infos = [], [], [], [], []
    users = None
    for run_dir in args.run:
        model, run = load_run(ROOT / run_dir)
        if users is None:  # the same users for every run (same data), so drops pair
            window = [s[-model.max_len :] for s in model.sequences_.items]
            eligible = np.flatnonzero([len(s) >= MIN_EVENTS for s in window])
            pick = np.random.default_rng(0)
            users = pick.choice(eligible, size=min(USERS, len(eligible)), replace=False)
        elif run.data != infos[0].data:
            raise SystemExit(f"{run_dir}: data {run.data}, the first run's {infos[0].data}")
        top, rand, seconds = deletion_test(model, users, seed=len(infos))
        tops.append(top)
        rands.append(rand)
        seeds.append(int(run.params.get("seed", run.seed)))
        infos.append(run)
        per_seed.append(
            {
                "drop_top3": float(top.mean()),
                "drop_random3": float(rand.mean()),
                "deletion_ratio": float(top.mean() / rand.mean()),
                "ms_per_user": 1000 * seconds / len(users),  # recommend, explain, 6 scorings
                "seconds": seconds,
            }
        )
        print(f"{run_dir}: {json.dumps(per_seed[-1])}")
    # each user's drops averaged over the runs, then paired: top-3 against random-3
    test = paired_test(np.mean(tops, axis=0), np.mean(rands, axis=0))
    names = ("drop_top3", "drop_random3", "deletion_ratio", "ms_per_user")
    intervals = {n: mean_ci([s[n] for s in per_seed]) for n in names}
    metrics = {n: intervals[n].mean for n in names} | {"n_users": float(len(users))}
    first = infos[0]
    record = make_record(
        dataset=first.data,
        split=first.split_protocol or first.split,
        protocol="deletion-test",
        model="transformer-explain",
        metrics=metrics,
        train_seconds=float(np.mean([r.fit_seconds for r in infos])),
        eval_seconds=float(np.mean([s["seconds"] for s in per_seed])),
        peak_mb=peak_memory_mb(),
        extra={
            "params": {k: v for k, v in first.params.items() if k != "seed"},
            "run": args.run,
            "seeds": seeds,
            "per_seed": [{k: v for k, v in s.items() if k != "seconds"} for s in per_seed],
            "metrics_ci95": {
                n: (None if intervals[n].single else intervals[n].half_width) for n in names
            },
            "vs_random": {
                "delta": test.difference,
                "ci95": [test.ci_low, test.ci_high],
                "p": test.p_value,
                "significant": test.significant(),
            },
            "command": command(__file__, *(["--run", *args.run] if args.run != [RUN] else [])),
        },
    )
    write_records(RECORDS, [record])
    print(json.dumps(metrics, indent=1))
    render()


if __name__ == "__main__":
    main()
