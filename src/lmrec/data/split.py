"""Train / validation / test splits, k-core filtering and de-duplication.

Every split returns a :class:`Split` whose ``protocol`` string is recorded beside every
number computed on it, so a reader always knows how a figure was made.

Evaluation convention (the one the reference figures in ``shared/datasets/README.md`` use):
validation metrics come from a model fitted on ``train``; test metrics from a model fitted on
``train + valid`` (:meth:`Split.fit_data`). Items a user interacted with in the fitting data
are excluded from their ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError, DataError

Part = Literal["valid", "test"]


@dataclass(frozen=True)
class Split:
    """Train, validation and test interactions over one shared catalogue and id map."""

    train: Dataset
    valid: pd.DataFrame
    test: pd.DataFrame
    protocol: str
    #: Behaviours whose items are excluded from a user's ranking; None = every behaviour.
    #: JD ranks buys, so only earlier buys are excluded, not merely viewed items.
    exclude_behaviours: tuple[str, ...] | None = None

    def exclusion(self, on: Part) -> sp.csr_matrix:
        """Users × items matrix of what is excluded when ranking ``on``."""
        return self.fit_data(on).matrix("binary", behaviours=self.exclude_behaviours)

    def fit_data(self, on: Part) -> Dataset:
        """Data to fit on before scoring ``on``: train for ``valid``, train + valid for ``test``."""
        if on == "valid":
            return self.train
        if on == "test":
            both = pd.concat([self.train.interactions, self.valid], ignore_index=True)
            if self.train.has_timestamps and both["timestamp"].notna().all():
                both = both.sort_values("timestamp", kind="stable")
            return self.train.with_interactions(both)
        raise ConfigError(f"on must be 'valid' or 'test', got {on!r}")

    def targets(self, on: Part) -> pd.DataFrame:
        """Held-out interactions of ``on``."""
        if on == "valid":
            return self.valid
        if on == "test":
            return self.test
        raise ConfigError(f"on must be 'valid' or 'test', got {on!r}")

    def summary(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "train": len(self.train.interactions),
            "valid": len(self.valid),
            "test": len(self.test),
            "valid_users": int(self.valid["user_id"].nunique()),
            "test_users": int(self.test["user_id"].nunique()),
        }


def deduplicate(data: Dataset, keep: Literal["first", "last"] = "last") -> Dataset:
    """Keep one event per (user, item, behaviour); ``keep`` chooses which by time order.

    Sequence models may want repeats (re-purchases), so loaders keep them and leave this
    to the caller; a dataset's ``notes["dedup"]`` says what its loader did.
    """
    df = data.interactions.drop_duplicates(["user_id", "item_id", "behaviour"], keep=keep)
    notes = {**data.notes, "dedup": f"one event per (user, item, behaviour), kept {keep}"}
    return Dataset(
        name=data.name,
        interactions=df.reset_index(drop=True),
        items=data.items,
        users=data.users,
        idmap=data.idmap,
        notes=notes,
        time_order=data.time_order,
    )


def kcore(data: Dataset, user_k: int = 5, item_k: int = 5) -> Dataset:
    """Drop users with < ``user_k`` and items with < ``item_k`` interactions, until stable.

    Returns a new dataset whose id map covers only the surviving users and items.
    """
    df = data.interactions
    while True:
        user_counts = df["user_id"].map(df["user_id"].value_counts())
        item_counts = df["item_id"].map(df["item_id"].value_counts())
        keep = (user_counts >= user_k) & (item_counts >= item_k)
        if keep.all():
            break
        df = df[keep]
    if len(df) == 0:
        raise DataError(f"{data.name}: no interactions survive a ({user_k}, {item_k})-core filter")
    items = data.items[data.items["item_id"].isin(set(df["item_id"]))]
    users = data.users[data.users["user_id"].isin(set(df["user_id"]))]
    notes = {**data.notes, "kcore": f"users >= {user_k}, items >= {item_k} interactions"}
    return Dataset.from_frames(
        df, items, users, name=data.name, notes=notes, time_order=data.time_order
    )


def leave_one_out(data: Dataset, min_history: int = 3) -> Split:
    """Each user's last interaction is the test target, the one before it the validation target.

    Order is the dataset's: chronological per user with ties in file order (stable sort), or
    the file's order where the loader knows it is time order (``time_order == "file"``).
    Data whose order means nothing (``time_order == "none"``: a table without timestamps)
    raises :class:`DataError`, since the "last" event would be whichever row the file lists
    last. Users with fewer than ``min_history`` interactions stay whole in train and are not
    evaluated.
    """
    require_time_order(data, "leave-one-out")
    df = data.interactions
    position_from_end = df.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    length = df.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    eligible = length >= min_history
    test_mask = eligible & (position_from_end == 0)
    valid_mask = eligible & (position_from_end == 1)
    train = df[~(test_mask | valid_mask)]
    if not test_mask.any():
        raise DataError(
            f"{data.name}: no user has {min_history} or more interactions; leave-one-out needs them"
        )
    tie = "stable sort by timestamp, file order on ties" if data.has_timestamps else "file order"
    return Split(
        train=data.with_interactions(train),
        valid=df[valid_mask].reset_index(drop=True),
        test=df[test_mask].reset_index(drop=True),
        protocol=f"leave-one-out ({tie})",
    )


def temporal_split(data: Dataset, valid: float = 0.1, test: float = 0.1) -> Split:
    """Global time split: the latest ``test`` share of events is test, the ``valid`` share
    before it is validation.

    Held-out events of users with no training event are dropped (nothing to personalise from).
    """
    if not data.has_timestamps:
        raise DataError(
            f"{data.name}: a temporal split needs timestamps and this data set has none; "
            "use --split random, or load the file with a timestamp column"
        )
    _check_fractions(valid, test)
    df = data.interactions  # already stably sorted by timestamp
    n = len(df)
    n_test, n_valid = round(n * test), round(n * valid)
    train = df.iloc[: n - n_test - n_valid]
    val = df.iloc[n - n_test - n_valid : n - n_test]
    tst = df.iloc[n - n_test :]
    seen = set(train["user_id"])
    val = val[val["user_id"].isin(seen)]
    tst = tst[tst["user_id"].isin(seen | set(val["user_id"]))]
    return Split(
        train=data.with_interactions(train),
        valid=val.reset_index(drop=True),
        test=tst.reset_index(drop=True),
        protocol=f"temporal (last {test:.0%} test, {valid:.0%} valid by global time)",
    )


def random_split(data: Dataset, valid: float = 0.1, test: float = 0.1, seed: int = 0) -> Split:
    """Random split of individual events (the usual protocol for rating prediction)."""
    _check_fractions(valid, test)
    df = data.interactions
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    n_test, n_valid = round(len(df) * test), round(len(df) * valid)
    test_rows = np.sort(order[:n_test])
    valid_rows = np.sort(order[n_test : n_test + n_valid])
    train_rows = np.sort(order[n_test + n_valid :])
    return Split(
        train=data.with_interactions(df.iloc[train_rows]),
        valid=df.iloc[valid_rows].reset_index(drop=True),
        test=df.iloc[test_rows].reset_index(drop=True),
        protocol=f"random ({1 - valid - test:.0%}/{valid:.0%}/{test:.0%}, seed={seed})",
    )


def given_split(
    data: Dataset,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    protocol: str,
    exclude_behaviours: tuple[str, ...] | None = None,
) -> Split:
    """A split shipped with the data (e.g. JD's vld/tst buy files).

    ``data`` holds the training interactions. Held-out rows whose user or item is unknown
    to the catalogue raise :class:`DataError` naming the first one.
    """
    for part_name, part in (("valid", valid), ("test", test)):
        for col, has in (("user_id", data.idmap.has_user), ("item_id", data.idmap.has_item)):
            unknown = ~part[col].map(has).to_numpy(dtype=bool)
            if unknown.any():
                row = int(np.flatnonzero(unknown)[0])
                raise DataError(
                    f"{data.name}: {part_name} row {row + 1} has {col} {part[col].iloc[row]!r} "
                    f"that never occurs in training; drop it or add it to the training data"
                )
    return Split(
        train=data,
        valid=valid.reset_index(drop=True),
        test=test.reset_index(drop=True),
        protocol=protocol,
        exclude_behaviours=exclude_behaviours,
    )


def require_time_order(data: Dataset, what: str) -> None:
    """Raise :class:`DataError` when ``data``'s event order is not known to be time order."""
    if data.time_order == "none":
        raise DataError(
            f"{data.name}: {what} needs events in time order, and this data has no timestamps "
            "(its row order is the file's, which may be sorted by id); use --split random, "
            "or add a timestamp column (--columns timestamp=<column>)"
        )


def _check_fractions(valid: float, test: float) -> None:
    if not (0 <= valid < 1 and 0 < test < 1 and valid + test < 1):
        raise ConfigError(
            "valid and test must be fractions with valid + test < 1, "
            f"got valid={valid}, test={test}"
        )


#: Split protocols by their CLI name.
SPLIT_PROTOCOLS: tuple[str, ...] = ("loo", "temporal", "random")


def split_dataset(
    data: Dataset,
    protocol: str = "loo",
    *,
    valid: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
) -> Split:
    """Split by protocol name: ``loo`` (leave-one-out), ``temporal`` or ``random``.

    Shipped splits (JD's held-out buys) come from :func:`lmrec.data.registry.load_given_split`.
    """
    if protocol == "loo":
        return leave_one_out(data)
    if protocol == "temporal":
        return temporal_split(data, valid=valid, test=test)
    if protocol == "random":
        return random_split(data, valid=valid, test=test, seed=seed)
    raise ConfigError(
        f"split protocol must be one of {SPLIT_PROTOCOLS} (or 'given'), got {protocol!r}"
    )


def rated_events(frame: pd.DataFrame) -> pd.DataFrame:
    """The events of ``frame`` that carry a rating, re-indexed."""
    return frame[frame["rating"].notna()].reset_index(drop=True)


def hold_out_ratings(data: Dataset, share: float, seed: int) -> tuple[Dataset, pd.DataFrame]:
    """``share`` of the rated events, drawn at random (seeded) from users with at least two
    ratings (so each keeps one), removed from ``data``: a rating model's early-stopping set,
    and where k-fold cross-validation chooses a grid without touching a fold's test part."""
    frame = data.interactions
    rng = np.random.default_rng([seed, 17])
    rated = frame["rating"].notna().to_numpy()
    counts = frame.loc[rated, "user_id"].map(frame.loc[rated, "user_id"].value_counts())
    eligible = np.flatnonzero(rated)[counts.to_numpy() >= 2]
    n = max(1, round(share * int(rated.sum())))
    chosen = rng.choice(eligible, min(n, len(eligible)), replace=False)
    keep = np.ones(len(frame), dtype=bool)
    keep[chosen] = False
    return data.with_interactions(frame[keep]), rated_events(frame.iloc[np.sort(chosen)])


def kfold(data: Dataset, n_splits: int = 5, seed: int = 0) -> list[Split]:
    """K-fold cross-validation over individual events, the way Surprise's ``KFold`` does it.

    The events are shuffled with ``numpy.random.RandomState(seed)`` and cut into ``n_splits``
    contiguous folds (the first ``n % n_splits`` folds one event larger), as
    ``surprise.model_selection.KFold(n_splits, random_state=seed, shuffle=True)`` does; the
    folds equal Surprise's when both see the events in the same order (lmrec sorts events by
    time, Surprise keeps file order). Each fold is a :class:`Split` with an empty validation
    part.
    """
    if n_splits < 2:
        raise ConfigError(f"n_splits must be >= 2, got {n_splits}")
    df = data.interactions
    order = list(range(len(df)))
    np.random.RandomState(seed).shuffle(order)
    order_arr = np.asarray(order)
    sizes = np.full(n_splits, len(df) // n_splits)
    sizes[: len(df) % n_splits] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    splits = []
    for f in range(n_splits):
        test_rows = np.sort(order_arr[bounds[f] : bounds[f + 1]])
        train_rows = np.sort(np.concatenate([order_arr[: bounds[f]], order_arr[bounds[f + 1] :]]))
        splits.append(
            Split(
                train=data.with_interactions(df.iloc[train_rows]),
                valid=df.iloc[[]].reset_index(drop=True),
                test=df.iloc[test_rows].reset_index(drop=True),
                protocol=f"{n_splits}-fold (fold {f + 1}, seed={seed})",
            )
        )
    return splits
