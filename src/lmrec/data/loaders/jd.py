"""JD.com multi-behaviour data as shipped with VCGAE: page views, favourites, buys.

Every file holds ``user item`` pairs (1-based integer ids, no timestamps, no duplicates):
``trn_pv`` → ``view``, ``trn_fav`` → ``fav``, ``trn_buy`` → ``buy`` form the training data;
``vld_buy`` / ``tst_buy`` are the shipped held-out purchases (:func:`load_jd_split`).
``union.txt`` is not read: it holds 1,332 pairs of unknown origin, some of them held-out
buys. ``auxiliary.txt`` is exactly views ∪ favourites, so it adds nothing.

Without time values the order is the file order, arranged so that each user's views come
first, then favourites, then buys: a sequence model then sees purchases last, as in a
shopping session.

The catalogue is every id from 1 to the largest item id in the training files (13,465,
VCGAE's ``--m``). Held-out buys may name items no training event touches (734 of 5,892 valid
and 950 of 5,013 test rows in the shipped files); they stay in the split, as in the
published protocol, unless ``cold_items="drop"``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from lmrec.data.loaders.tabular import data_file, read_delimited
from lmrec.data.schema import Dataset
from lmrec.data.split import Split, given_split
from lmrec.errors import ConfigError, DataError

#: Training files and their behaviour, in the order events are laid out per user.
JD_TRAIN_FILES: tuple[tuple[str, str], ...] = (
    ("trn_pv.txt.gz", "view"),
    ("trn_fav.txt.gz", "fav"),
    ("trn_buy.txt.gz", "buy"),
)
JD_PROTOCOL = "given (JD vld_buy / tst_buy)"


def _read_pairs(path: Path) -> pd.DataFrame:
    """``user item`` integer pairs; any other content raises a DataError naming the file."""
    df = read_delimited(path, sep=r"\s+", names=["user_id", "item_id"], header=None)
    for column in ("user_id", "item_id"):
        if not pd.api.types.is_integer_dtype(df[column]):
            numbers = pd.to_numeric(df[column], errors="coerce")
            bad = numbers.isna() | (numbers % 1 != 0)
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise DataError(
                f"{path}: line {line} has {column} {df[column].iloc[line - 1]!r}; expected "
                "'user_id item_id' integer pairs"
            )
    return df


def load_jd(folder: str | Path, name: str = "jd") -> Dataset:
    """JD training data: 217,977 views, 7,380 favourites, 60,967 buys by 10,690 users."""
    folder = Path(folder)
    parts, sources = [], []
    for file_name, behaviour in JD_TRAIN_FILES:
        path = data_file(folder, file_name)
        parts.append(_read_pairs(path).assign(behaviour=behaviour))
        sources.append(str(path))
    interactions = pd.concat(parts, ignore_index=True)
    source = ", ".join(sources)
    n_items = int(interactions["item_id"].max())
    n_users = int(interactions["user_id"].max())
    items = pd.DataFrame({"item_id": np.arange(1, n_items + 1).astype(str)})
    users = pd.DataFrame({"user_id": np.arange(1, n_users + 1).astype(str)})
    n_cold = n_items - interactions["item_id"].nunique()
    notes = {
        "source": source,
        "order": "no timestamps; per user: views, then favourites, then buys (file order)",
        "dedup": "none needed (no duplicate pairs within a file; a pair may be view, fav and buy)",
        "catalogue": f"item ids 1..{n_items} (VCGAE --m); {n_cold} have no training event",
    }
    return Dataset.from_frames(interactions, items, users, name=name, source=source, notes=notes)


def _held_out(path: Path, name: str) -> pd.DataFrame:
    """Held-out buys in schema form (str ids, NaN time, ``buy``, NaN rating, empty review)."""
    df = _read_pairs(path).assign(behaviour="buy")
    return Dataset.from_frames(df, name=name, source=str(path)).interactions


def load_jd_split(
    folder: str | Path,
    name: str = "jd",
    *,
    cold_items: Literal["keep", "drop"] = "keep",
) -> Split:
    """The shipped JD split: train = :func:`load_jd`, valid = ``vld_buy``, test = ``tst_buy``.

    Ranking excludes only a user's earlier *buys* (``exclude_behaviours=("buy",)``): a viewed
    item may well be bought. Held-out rows whose user or item is outside the catalogue are
    dropped and counted in ``train.notes["held_out"]`` (none in the shipped files).
    ``cold_items="drop"`` also drops held-out buys of items with no training event, for
    studies that only want reachable targets; the default keeps the published protocol.
    """
    if cold_items not in ("keep", "drop"):
        raise ConfigError(f"cold_items must be 'keep' or 'drop', got {cold_items!r}")
    folder = Path(folder)
    data = load_jd(folder, name=name)
    trained_items = set(data.interactions["item_id"])
    held: dict[str, pd.DataFrame] = {}
    counts: list[str] = []
    for part, file_name in (("valid", "vld_buy.txt.gz"), ("test", "tst_buy.txt.gz")):
        path = data_file(folder, file_name)
        df = _held_out(path, name)
        known = df["user_id"].map(data.idmap.has_user).to_numpy(dtype=bool) & df["item_id"].map(
            data.idmap.has_item
        ).to_numpy(dtype=bool)
        cold = ~df["item_id"].isin(trained_items).to_numpy() & known
        keep = known & ~cold if cold_items == "drop" else known
        action = "dropped" if cold_items == "drop" else "kept"
        counts.append(
            f"{part} ({path.name}): {len(df)} rows, {int((~known).sum())} with ids outside the "
            f"catalogue dropped, {int(cold.sum())} of items with no training event {action}"
        )
        held[part] = df[keep].reset_index(drop=True)
    data = replace(data, notes={**data.notes, "held_out": "; ".join(counts)})
    protocol = JD_PROTOCOL if cold_items == "keep" else JD_PROTOCOL + ", cold items dropped"
    return given_split(
        data,
        valid=held["valid"],
        test=held["test"],
        protocol=protocol,
        exclude_behaviours=("buy",),
    )
