"""Deletion test of the Transformer's explanations (gradient × input, lmrec.models.explain).

For test users with at least 6 events in the window the model reads, the item explained is
the user's top-1 recommendation. The score drop when the 3 top-attributed events are
removed from the history is compared with the drop when 3 random events are removed (the
mean over 5 random draws per user), both through ``score_histories`` (the history
re-scored without those events, everything else unchanged). Target: the top-3 drop at least
twice the random one, on average over users; a paired test on per-user drops says whether
the difference is significant.

Run: ``.venv/bin/python benchmarks/explain.py [--run runs/bench/beauty-transformer]``
(the run ``benchmarks/transformer.py --save-run`` writes). Records go to
``benchmarks/results/explain.json``.
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


def main() -> None:
    import torch

    from lmrec.evaluate.report import (
        make_record,
        peak_memory_mb,
        startup_code_version,
        write_records,
    )
    from lmrec.evaluate.stats import paired_test
    from lmrec.runs import load_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=RUN, help="a transformer run directory")
    args = parser.parse_args()
    startup_code_version()
    torch.set_num_threads(1)
    model, run = load_run(ROOT / args.run)
    rng = np.random.default_rng(0)
    window = [s[-model.max_len :] for s in model.sequences_.items]
    eligible = np.flatnonzero([len(s) >= MIN_EVENTS for s in window])
    users = rng.choice(eligible, size=min(USERS, len(eligible)), replace=False)
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
    seconds = time.perf_counter() - start
    top, rand = np.array(top_drops), np.array(random_drops)
    test = paired_test(top, rand)
    metrics = {
        "drop_top3": float(top.mean()),
        "drop_random3": float(rand.mean()),
        "deletion_ratio": float(top.mean() / rand.mean()) if rand.mean() > 0 else float("inf"),
        "n_users": float(len(users)),
        "ms_per_user": 1000 * seconds / len(users),  # recommend, explain, 6 re-scorings
    }
    record = make_record(
        dataset=run.data,
        split=run.split_protocol or run.split,
        protocol="deletion-test",
        model="transformer-explain",
        metrics=metrics,
        train_seconds=run.fit_seconds,
        eval_seconds=seconds,
        peak_mb=peak_memory_mb(),
        extra={
            "params": run.params,
            "run": args.run,
            "seeds": [0],
            "vs_random": {
                "delta": test.difference,
                "ci95": [test.ci_low, test.ci_high],
                "p": test.p_value,
                "significant": test.significant(),
            },
            "command": command(__file__, *(["--run", args.run] if args.run != RUN else [])),
        },
    )
    write_records(RECORDS, [record])
    print(json.dumps(metrics, indent=1))
    render()


if __name__ == "__main__":
    main()
