"""Behaviour prediction on held-out targets: AUC, GAUC, LogLoss and ECE of
``model.predict_behaviour`` on the same candidates for every model.

The candidates of a split's part (:func:`~lmrec.train.behaviour.held_out_examples`): each
target event of the model's task (a held-out buy; a held-out rating, positive when at least
the like threshold) with its negatives, drawn once with ``seed`` from the fitting data, so
two models with the same task are scored on identical candidates and pair example by
example. A model reads the user's whole fitting history (``fit_split(split, on)`` first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lmrec.data.split import Split
from lmrec.errors import DataError
from lmrec.evaluate.binary import binary_metrics
from lmrec.evaluate.ranking import EvalResult
from lmrec.models.base import Recommender


@dataclass(frozen=True)
class Candidates:
    """Every candidate of every held-out example, flat: example row, user, item (external
    ids), label, and the model's calibrated probability."""

    example: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    kind: str  # the task: "buy" or "like"


def behaviour_candidates(
    model: Recommender, split: Split, on: str = "test", seed: int = 0
) -> Candidates:
    """The held-out candidates of ``split``'s ``on`` part and ``model``'s probabilities."""
    from lmrec.train.behaviour import held_out_examples
    from lmrec.train.sequences import user_sequences

    model._require("predict_behaviour", "use transformer-behaviour or lightgbm")
    task = model.task_  # type: ignore[attr-defined]
    fit = split.fit_data(on)  # type: ignore[arg-type]
    examples = held_out_examples(task, fit, user_sequences(fit), split.targets(on), seed)
    if len(examples) == 0:
        raise DataError(f"no held-out {task.kind} events in the {on} part to predict")
    users, items, labels = examples.flat()
    user_ids = np.asarray(fit.idmap.users)[users]
    item_ids = np.asarray(fit.idmap.items)[items - 1]
    p = model.predict_behaviour(user_ids, item_ids)
    q = examples.queries.shape[1]
    rows = np.repeat(np.arange(len(examples)), q)
    return Candidates(rows, user_ids, item_ids, labels.astype(np.int8), p, task.kind)


def evaluate_behaviour(
    model: Recommender, split: Split, on: str = "test", seed: int = 0
) -> EvalResult:
    """AUC, GAUC, LogLoss, ECE (and the candidates' positive rate) on ``on``'s candidates.

    Per-example arrays for paired tests: ``logloss`` (mean over the example's candidates)
    and ``pair_auc`` (the share of the example's positive-negative pairs ranked right; NaN
    for an example without a positive, e.g. a held-out rating below the like threshold)."""
    start = time.perf_counter()
    c = behaviour_candidates(model, split, on, seed)
    p = np.clip(c.probabilities, 1e-7, 1 - 1e-7)
    logits = np.log(p) - np.log1p(-p)
    metrics = binary_metrics(c.user_ids, c.labels, logits)  # p is calibrated already
    metrics["positive_rate"] = float(c.labels.mean())
    n = int(c.example.max()) + 1
    q = len(c.example) // n
    y, z = c.labels.reshape(n, q), logits.reshape(n, q)
    pq = p.reshape(n, q)
    per_logloss = -(y * np.log(pq) + (1 - y) * np.log1p(-pq)).mean(1)
    pos, neg = y == 1, y == 0
    above = (z[:, :, None] > z[:, None, :]) + 0.5 * (z[:, :, None] == z[:, None, :])
    pairs = (pos[:, :, None] & neg[:, None, :]).sum((1, 2))
    right = (above * (pos[:, :, None] & neg[:, None, :])).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        pair_auc = np.where(pairs > 0, right / pairs, np.nan)
    first = np.arange(n) * q  # each example's target candidate
    ids = np.array([f"{u}:{i}" for u, i in zip(c.user_ids[first], c.item_ids[first], strict=True)])
    return EvalResult(
        metrics=metrics,
        protocol=f"behaviour-{c.kind}",
        split=split.protocol,
        part=on,
        n_users=len(np.unique(c.user_ids)),
        seconds=time.perf_counter() - start,
        per_user={"logloss": per_logloss, "pair_auc": pair_auc},
        n_targets=n,
        ids=ids,
    )


__all__ = ["Candidates", "behaviour_candidates", "evaluate_behaviour"]
