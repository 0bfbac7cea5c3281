"""Repeat consumption: how often users come back to items they already had.

Evaluation has to know. Under the new-items rule a user's seen items are excluded from the
ranking, so a held-out target the user already had cannot be judged by it; under the repeats
rule nothing is excluded (see :mod:`lmrec.evaluate.ranking`). :func:`repeat_summary` measures,
for ``lmrec data info``, the share of repeat events, the share of repeat targets under each
split protocol, what the event order rests on, and whether events carry weights.

A *repeat event* is an event of an item its user already had, by any behaviour: the rule
the evaluator uses for what a user "had" (a second play, a re-purchase, and also a buy after a
view; on multi-behaviour data read the share with that in mind). A *repeat target* is a
held-out event whose item the ranking would exclude for its user: one in the user's fitting
data (:meth:`lmrec.data.split.Split.exclusion`, which for JD counts only earlier buys).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.idmap import IdMap
from lmrec.data.schema import Dataset
from lmrec.data.split import SPLIT_PROTOCOLS, Part, Split, split_dataset
from lmrec.errors import DataError


def repeat_event_share(data: Dataset) -> float:
    """Share of events whose (user, item) pair occurred in an earlier event of the data."""
    inter = data.interactions
    if len(inter) == 0:
        return 0.0
    return float(inter.duplicated(["user_id", "item_id"]).mean())


def seen_mask(seen: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Whether each (users[j], items[j]) pair is nonzero in ``seen`` (users × items)."""
    if len(users) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(seen.tocsr()[users, items]).ravel() != 0


def repeat_targets(seen: sp.csr_matrix, idmap: IdMap, targets: pd.DataFrame) -> np.ndarray:
    """Which held-out rows (``user_id``, ``item_id``) are items their user already had."""
    users = idmap.user_index(targets["user_id"])
    items = idmap.item_index(targets["item_id"])
    return seen_mask(seen, users, items)


def repeat_target_share(split: Split, on: Part = "test") -> float:
    """Share of ``split``'s ``on`` targets that their user already had (any split, including a
    shipped one such as JD's)."""
    targets = split.targets(on)
    if len(targets) == 0:
        return 0.0
    return float(repeat_targets(split.exclusion(on), split.train.idmap, targets).mean())


def repeat_summary(data: Dataset, seed: int = 0) -> dict[str, object]:
    """Repeat statistics of ``data`` for ``lmrec data info``.

    Keys: ``repeat_events`` (share of events), ``time_order`` ("timestamps", "file" or
    "none"), ``weights`` (whether events carry weights other than 1) and, for each split
    protocol of :data:`lmrec.data.split.SPLIT_PROTOCOLS`, ``repeat_targets.<split>``: the
    share of test targets the user already had in the fitting data (train + valid), or the
    reason the split does not apply (e.g. leave-one-out on data without time order).
    """
    unusable = {
        "loo": "n/a: no time order" if data.time_order == "none" else None,
        "temporal": None if data.has_timestamps else "n/a: no timestamps",
    }
    out: dict[str, object] = {
        "repeat_events": round(repeat_event_share(data), 4),
        "time_order": data.time_order,
        "weights": data.has_weights,
    }
    for protocol in SPLIT_PROTOCOLS:
        key = f"repeat_targets.{protocol}"
        if unusable.get(protocol):
            out[key] = unusable[protocol]
            continue
        try:
            split = split_dataset(data, protocol, seed=seed)
        except DataError as exc:  # e.g. no user with enough events for leave-one-out
            out[key] = f"n/a: {str(exc).split(': ', 1)[-1]}"
            continue
        out[key] = round(repeat_target_share(split), 4)
    return out
