"""Tiny data sets built in memory for the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmrec.data.schema import Dataset

N_USERS, N_ITEMS = 30, 24


def make_tiny(with_ratings: bool = True) -> Dataset:
    """30 users, 24 items with a popularity skew, ratings 1–5 and timestamps.

    The catalogue also holds an item nobody interacted with (``i_new``) and the user table
    a user without interactions (``u_cold``), so models meet both edge cases.
    """
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, N_ITEMS + 1)
    rows = []
    for u in range(N_USERS):
        n = int(rng.integers(4, 10))
        items = rng.choice(N_ITEMS, size=n, replace=False, p=p / p.sum())
        for t, i in enumerate(items):
            rows.append((f"u{u}", f"i{i}", float(rng.integers(1, 6)), 1000.0 * u + t))
    rows.append(("u0", rows[0][1], 5.0, 999.0))  # a repeated event (counts, not users)
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    if not with_ratings:
        frame = frame.drop(columns="rating")
    item_ids = [f"i{i}" for i in range(N_ITEMS)] + ["i_new"]
    items = pd.DataFrame({"item_id": item_ids, "title": [f"Item {i}" for i in item_ids]})
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(N_USERS)] + ["u_cold"]})
    return Dataset.from_frames(frame, items, users, name="tiny" if with_ratings else "tiny-clicks")


@pytest.fixture(scope="session")
def tiny() -> Dataset:
    return make_tiny()


@pytest.fixture(scope="session")
def tiny_clicks() -> Dataset:
    return make_tiny(with_ratings=False)
