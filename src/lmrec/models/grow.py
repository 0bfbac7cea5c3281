"""Growing a fitted model's catalogue and users: the mechanics of an incremental update.

Why here: an update (``SequenceTransformer.update``) must add users and items to a model
without moving the ones it has, so every index the model already uses keeps its meaning.
New users and items are appended after the old ones (the id map grows at its end), and a
network's item rows are copied over with the new rows inserted before ``[MASK]``.

New items start from their text: their ID embedding is the text-neighbour average of the
catalogue's embeddings (:func:`lmrec.text.neighbours.text_neighbours`, the same placement as
the service's registered items), so a new lipstick starts where the lipsticks are, and the
update's training then moves it by its own events. An item without any text starts at the
mean embedding (a documented fallback: "a typical item").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from lmrec.data.idmap import IdMap
from lmrec.train.sequences import UserSequences


def new_ids(known: np.ndarray, ids: Sequence[object] | np.ndarray) -> list[str]:
    """The ids of ``ids`` not in ``known``, in first-appearance order, as strings."""
    have = set(map(str, known))
    return [i for i in pd.unique(np.asarray([str(v) for v in ids], dtype=object)) if i not in have]


def grown_idmap(idmap: IdMap, users: Sequence[str], items: Sequence[str]) -> IdMap:
    """``idmap`` with new ``users`` and ``items`` appended: old indices keep their meaning."""
    return IdMap(
        users=np.concatenate([idmap.users, np.asarray(users, dtype=object)]),
        items=np.concatenate([idmap.items, np.asarray(items, dtype=object)]),
    )


def append_events(
    seqs: UserSequences,
    n_users: int,
    users: np.ndarray,
    items: np.ndarray,
    behaviours: np.ndarray,
    timestamps: np.ndarray,
    ratings: np.ndarray | None = None,
    reviews: np.ndarray | None = None,
) -> UserSequences:
    """``seqs`` (users 0..len-1) grown to ``n_users`` users, with events appended to their
    users' sequences in the given order (pass them in time order). ``items`` and
    ``behaviours`` are in the net's index space (catalogue index + 1, behaviour code + 1).
    Each event's rating and review vector are carried when both ``seqs`` and the call
    have them (a model that reads them as sources), dropped otherwise."""
    grow = n_users - len(seqs)
    out_items = list(seqs.items) + [np.zeros(0, np.int64)] * grow
    out_kinds = list(seqs.behaviours) + [np.zeros(0, np.int64)] * grow
    out_times = list(seqs.timestamps) + [np.zeros(0, np.float64)] * grow
    columns = [(out_items, items, np.int64), (out_kinds, behaviours, np.int64)]
    columns.append((out_times, timestamps, np.float64))
    out_ratings = out_reviews = None
    if ratings is not None and seqs.ratings is not None:
        out_ratings = list(seqs.ratings) + [np.zeros(0, np.float64)] * grow
        columns.append((out_ratings, ratings, np.float64))
    if reviews is not None and seqs.reviews is not None:
        empty = np.zeros((0, reviews.shape[1]), np.float32)
        out_reviews = list(seqs.reviews) + [empty] * grow
        columns.append((out_reviews, reviews, np.float32))
    order = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(np.diff(users[order])) + 1
    for part in np.split(order, bounds):
        if not len(part):
            continue
        u = int(users[part[0]])
        for out, new, dtype in columns:
            out[u] = np.concatenate([out[u], new[part]]).astype(dtype)
    return UserSequences(out_items, out_kinds, out_times, out_ratings, out_reviews)


def grow_item_rows(
    old: dict[str, torch.Tensor], new: dict[str, torch.Tensor], n_old: int
) -> dict[str, torch.Tensor]:
    """A state dict for a net with a larger catalogue: every tensor with one row per item
    row (``n_old + 2``: padding, items, ``[MASK]``) keeps its old rows and its ``[MASK]``
    row, and takes the new rows from ``new`` (the larger net's fresh state); every other
    tensor is copied as is."""
    out = {}
    for key, value in old.items():
        fresh = new[key]
        if value.shape == fresh.shape:
            out[key] = value.clone()
            continue
        if value.shape[0] != n_old + 2 or value.shape[1:] != fresh.shape[1:]:
            raise ValueError(f"{key}: cannot grow {tuple(value.shape)} to {tuple(fresh.shape)}")
        grown = fresh.clone()
        grown[: n_old + 1] = value[: n_old + 1]
        grown[-1] = value[-1]  # [MASK]
        out[key] = grown
    return out


__all__ = [
    "append_events",
    "grow_item_rows",
    "grown_idmap",
    "new_ids",
]
