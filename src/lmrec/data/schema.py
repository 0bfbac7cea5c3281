"""One schema for every data source.

A :class:`Dataset` holds three frames and an :class:`~lmrec.data.idmap.IdMap`:

``interactions``
    one row per event: ``user_id`` (str), ``item_id`` (str), ``timestamp`` (float seconds,
    NaN when unknown), ``behaviour`` (one of :data:`BEHAVIOURS`), ``rating`` (float, NaN when
    unknown), ``review`` (str, "" when unknown), ``weight`` (float >= 0, 1 when the source has
    no weight column: play counts, quantities). Rows are in chronological order per user;
    ties and sources without timestamps keep the order of the file (a stable sort).
    :attr:`Dataset.time_order` says whether that order means anything: ``"timestamps"``,
    ``"file"`` (the loader knows the file lists each user's events in time order, e.g. the
    S3-Rec sequences) or ``"none"`` (a table without timestamps: its row order is arbitrary,
    so leave-one-out and temporal splits refuse it).
``items``
    one row per catalogue item: ``item_id``, ``title``, ``text``, ``categories`` (list of str).
``users``
    one row per user: ``user_id`` plus any attribute columns the source has.

Loaders build datasets with :meth:`Dataset.from_frames`, which validates once, at the
boundary, so models and evaluators can trust the frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmrec.data.idmap import IdMap
from lmrec.errors import ConfigError, DataError

#: Behaviour types, from weakest to strongest signal. ``rate`` marks explicit ratings.
BEHAVIOURS: tuple[str, ...] = ("view", "click", "fav", "cart", "buy", "rate")

INTERACTION_COLUMNS: tuple[str, ...] = (
    "user_id",
    "item_id",
    "timestamp",
    "behaviour",
    "rating",
    "review",
    "weight",
)
#: What the order of a dataset's events rests on (see :attr:`Dataset.time_order`).
TIME_ORDERS: tuple[str, ...] = ("timestamps", "file", "none")
ITEM_COLUMNS: tuple[str, ...] = ("item_id", "title", "text", "categories")


def _normalise_interactions(df: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in ("user_id", "item_id") if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; interactions need 'user_id' and 'item_id' "
            f"(found {list(df.columns)})"
        )
    if len(df) == 0:
        raise DataError(f"{source}: no interactions; the file or frame is empty")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col in ("user_id", "item_id"):
        values = df[col].to_numpy()
        if pd.isna(values).any():
            row = int(np.flatnonzero(pd.isna(values))[0])
            raise DataError(f"{source}: row {row + 1} has an empty '{col}'")
        out[col] = pd.array([str(v) for v in values], dtype=object)
    out["timestamp"] = _numeric(df, "timestamp", source) if "timestamp" in df else np.nan
    if "behaviour" in df:
        beh = df["behaviour"].astype(str).str.lower().to_numpy()
        bad = ~np.isin(beh, BEHAVIOURS)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{source}: row {row + 1} has behaviour {beh[row]!r}; expected one of {BEHAVIOURS}"
            )
        out["behaviour"] = beh
    else:
        out["behaviour"] = "rate" if "rating" in df else "click"
    out["behaviour"] = pd.Categorical(out["behaviour"], categories=BEHAVIOURS)
    out["rating"] = _numeric(df, "rating", source) if "rating" in df else np.nan
    if "review" in df:
        out["review"] = df["review"].fillna("").astype(str).to_numpy()
    else:
        out["review"] = ""
    out["weight"] = _weights(df, source) if "weight" in df else 1.0
    if out["timestamp"].notna().all():
        # A stable sort keeps file order among equal timestamps: the tie rule every
        # leave-one-out number in lmrec states.
        out = out.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return out


def _numeric(df: pd.DataFrame, col: str, source: str) -> np.ndarray:
    converted = pd.to_numeric(df[col], errors="coerce")
    bad = converted.isna() & df[col].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: row {row + 1}, column '{col}' has {df[col].iloc[row]!r}; expected a number"
        )
    return converted.to_numpy(dtype=np.float64)


def _weights(df: pd.DataFrame, source: str) -> np.ndarray:
    weights = _numeric(df, "weight", source)
    bad = ~(weights >= 0)  # negative, NaN (empty) or -inf
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raw = df["weight"].iloc[row]
        raw = raw.item() if isinstance(raw, np.generic) else raw
        raise DataError(
            f"{source}: row {row + 1}, column 'weight' has {raw!r}; "
            "expected a number >= 0 (a play count, a quantity)"
        )
    return weights


def log_weight(w: np.ndarray) -> np.ndarray:
    r"""The log scale models apply to interaction weights: :math:`\log_2(1 + w)`.

    A weight of 1 stays 1 (so data without a weight column keeps its binary matrix), 0 stays
    0, and a play count of 100 becomes 6.7 instead of dominating a user's row. Chosen over
    :math:`1 + \log w` because it is defined for weights in [0, 1) too.
    """
    return np.log2(1.0 + np.asarray(w, dtype=np.float64)).astype(np.float32)


def _normalise_items(items: pd.DataFrame | None, source: str) -> pd.DataFrame:
    if items is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ITEM_COLUMNS})
    if "item_id" not in items.columns:
        raise DataError(
            f"{source}: item table needs an 'item_id' column (found {list(items.columns)})"
        )
    out = pd.DataFrame({"item_id": [str(v) for v in items["item_id"]]})
    for col in ("title", "text"):
        out[col] = items[col].fillna("").astype(str).to_numpy() if col in items else ""
    if "categories" in items:
        out["categories"] = [
            list(c) if isinstance(c, list | tuple | np.ndarray) else [] for c in items["categories"]
        ]
    else:
        out["categories"] = [[] for _ in range(len(out))]
    extra = [c for c in items.columns if c not in ITEM_COLUMNS]
    for col in extra:
        out[col] = items[col].to_numpy()
    return out.drop_duplicates("item_id", keep="first").reset_index(drop=True)


def _normalise_users(users: pd.DataFrame | None, source: str) -> pd.DataFrame:
    if users is None:
        return pd.DataFrame({"user_id": pd.Series(dtype=object)})
    if "user_id" not in users.columns:
        raise DataError(
            f"{source}: user table needs a 'user_id' column (found {list(users.columns)})"
        )
    out = users.copy()
    out["user_id"] = [str(v) for v in users["user_id"]]
    return out.drop_duplicates("user_id", keep="first").reset_index(drop=True)


@dataclass(frozen=True)
class Dataset:
    """Interactions, item and user tables, and the id map shared by every split of them.

    Build with :meth:`from_frames`; derive subsets (splits) with :meth:`with_interactions`,
    which keeps the id map, so indices agree across train, validation and test.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    idmap: IdMap
    #: Free-form provenance: source files, dedup policy, tie rule, split protocol.
    notes: dict[str, str] = field(default_factory=dict)
    #: What the event order rests on: "timestamps", "file" (a loader that knows its file is
    #: in time order) or "none" (order-dependent splits refuse the data).
    time_order: str = "timestamps"

    @classmethod
    def from_frames(
        cls,
        interactions: pd.DataFrame,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        *,
        name: str = "custom",
        source: str | None = None,
        notes: dict[str, str] | None = None,
        time_order: str | None = None,
    ) -> Dataset:
        """Validate and normalise raw frames into the lmrec schema.

        ``source`` names the file(s) in error messages. ``time_order`` (one of
        :data:`TIME_ORDERS`) defaults to ``"timestamps"`` when every event has one, else
        ``"none"``; a loader whose file is in time order without timestamps passes ``"file"``.
        Items that occur only in
        ``interactions`` are added to the catalogue with empty text; catalogue items
        without interactions are kept (they can still be recommended).
        """
        source = source or name
        if time_order is not None and time_order not in TIME_ORDERS:
            raise ConfigError(f"time_order must be one of {TIME_ORDERS}, got {time_order!r}")
        inter = _normalise_interactions(interactions, source)
        if time_order is None:
            time_order = "timestamps" if inter["timestamp"].notna().all() else "none"
        item_table = _normalise_items(items, source)
        user_table = _normalise_users(users, source)
        item_order = pd.unique(
            np.concatenate(
                [
                    item_table["item_id"].to_numpy(dtype=object),
                    inter["item_id"].to_numpy(dtype=object),
                ]
            )
        )
        known = set(item_table["item_id"])
        new_items = [i for i in item_order if i not in known]
        if new_items:
            extra = pd.DataFrame(
                {
                    "item_id": new_items,
                    "title": "",
                    "text": "",
                    "categories": [[] for _ in new_items],
                }
            )
            item_table = pd.concat([item_table, extra], ignore_index=True)
        item_table = item_table.set_index("item_id").loc[item_order].reset_index()
        user_order = pd.unique(
            np.concatenate(
                [
                    inter["user_id"].to_numpy(dtype=object),
                    user_table["user_id"].to_numpy(dtype=object),
                ]
            )
        )
        idmap = IdMap(users=user_order, items=item_order)
        return cls(
            name=name,
            interactions=inter,
            items=item_table,
            users=user_table,
            idmap=idmap,
            notes=dict(notes or {}),
            time_order=time_order,
        )

    # ----------------------------------------------------------------- derived views
    def with_interactions(self, interactions: pd.DataFrame, name: str | None = None) -> Dataset:
        """The same catalogue and id map with another set of interactions (a split part)."""
        return replace(
            self, interactions=interactions.reset_index(drop=True), name=name or self.name
        )

    def on_idmap(
        self,
        idmap: IdMap,
        interactions: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
    ) -> Dataset:
        """This data on another id map (a model's, grown by an update): the item table is
        reindexed to ``idmap.items`` (``items`` rows fill items this one lacks; the rest get
        empty text), ``interactions`` replace these if given. Every user and item of the
        interactions must be in ``idmap``."""
        table = (
            pd.concat([self.items, items], ignore_index=True) if items is not None else self.items
        )
        table = table.drop_duplicates("item_id", keep="first").set_index("item_id")
        table = table.reindex(idmap.items)
        table["title"] = table["title"].fillna("")
        table["text"] = table["text"].fillna("")
        table["categories"] = [c if isinstance(c, list) else [] for c in table["categories"]]
        inter = self.interactions if interactions is None else interactions
        for col, known in (("user_id", idmap.users), ("item_id", idmap.items)):
            unknown = set(inter[col]) - set(known)
            if unknown:
                raise DataError(
                    f"{self.name}: {len(unknown)} {col} value(s) are not in the id map, e.g. "
                    f"{sorted(unknown)[0]!r}"
                )
        return replace(
            self,
            interactions=inter.reset_index(drop=True),
            items=table.rename_axis("item_id").reset_index(),
            idmap=idmap,
        )

    @property
    def n_users(self) -> int:
        return self.idmap.n_users

    @property
    def n_items(self) -> int:
        return self.idmap.n_items

    @property
    def has_timestamps(self) -> bool:
        return bool(self.interactions["timestamp"].notna().all())

    @property
    def has_weights(self) -> bool:
        """Whether any event carries a weight other than 1 (a play count, a quantity)."""
        return bool((self.interactions["weight"] != 1.0).any())

    @property
    def has_ratings(self) -> bool:
        return bool(self.interactions["rating"].notna().any())

    @property
    def has_titles(self) -> bool:
        return bool((self.items["title"] != "").any())

    def user_index(self) -> np.ndarray:
        """Internal user index of every interaction row."""
        return self.idmap.user_index(self.interactions["user_id"])

    def item_index(self) -> np.ndarray:
        """Internal item index of every interaction row."""
        return self.idmap.item_index(self.interactions["item_id"])

    def matrix(
        self, value: str = "count", behaviours: Sequence[str] | None = None
    ) -> sp.csr_matrix:
        """User × item CSR matrix over the whole id map (float32).

        ``value``: ``"count"`` sums repeated events, ``"binary"`` sets 1 for any event,
        ``"rating"`` holds the last rating (NaN ratings are skipped), ``"weight"`` holds
        :func:`log_weight` of the summed event weights of each pair (equal to ``"binary"``
        for events of weight 1 that are not repeated).
        ``behaviours`` keeps only those behaviour types.
        """
        df = self.interactions
        if behaviours is not None:
            df = df[df["behaviour"].isin(list(behaviours))]
        if value == "rating":
            df = df[df["rating"].notna()].drop_duplicates(["user_id", "item_id"], keep="last")
        rows = self.idmap.user_index(df["user_id"])
        cols = self.idmap.item_index(df["item_id"])
        if value == "rating":
            data = df["rating"].to_numpy(dtype=np.float32)
        elif value in ("count", "binary"):
            data = np.ones(len(df), dtype=np.float32)
        elif value == "weight":
            data = df["weight"].to_numpy(dtype=np.float32)
        else:
            raise ValueError(
                f"value must be 'count', 'binary', 'weight' or 'rating', got {value!r}"
            )
        m = sp.csr_matrix(
            (data, (rows, cols)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sum_duplicates()
        if value == "binary":
            m.data[:] = 1.0
        elif value == "weight":
            m.data[:] = log_weight(m.data)
        return m

    def sequences(self) -> list[np.ndarray]:
        """Each user's item indices in chronological order (index ``u`` = user index ``u``)."""
        users = self.user_index()
        items = self.item_index()
        order = np.argsort(users, kind="stable")
        counts = np.bincount(users, minlength=self.n_users)
        return np.split(items[order], np.cumsum(counts)[:-1])

    def titles(self, item_ids: Sequence[object]) -> list[str]:
        """Titles of external item ids ("" when the data has none)."""
        lookup = dict(zip(self.items["item_id"], self.items["title"], strict=True))
        return [lookup.get(str(i), "") for i in item_ids]

    def summary(self) -> dict[str, object]:
        """Counts and properties shown by ``lmrec data info``."""
        from lmrec.data.repeats import repeat_event_share  # repeats imports this module

        inter = self.interactions
        n_active_users = inter["user_id"].nunique()
        n_active_items = inter["item_id"].nunique()
        behaviour_counts = inter["behaviour"].value_counts()
        out: dict[str, object] = {
            "name": self.name,
            "interactions": len(inter),
            "users": n_active_users,
            "items": self.n_items,
            "items_with_interactions": n_active_items,
            "density": len(inter) / max(1, n_active_users * n_active_items),
            "behaviours": {str(b): int(c) for b, c in behaviour_counts.items() if c > 0},
            "timestamps": self.has_timestamps,
            "time_order": self.time_order,
            "weights": self.has_weights,
            # Per-split repeat targets: lmrec.data.repeats.repeat_summary (it splits the data).
            "repeat_events": round(repeat_event_share(self), 4),
            "ratings": self.has_ratings,
            "reviews": bool((inter["review"] != "").any()),
            "item_titles": self.has_titles,
            "item_categories": bool(self.items["categories"].map(len).gt(0).any()),
            "user_attributes": [c for c in self.users.columns if c != "user_id"],
        }
        if self.has_timestamps:
            ts = pd.to_datetime(inter["timestamp"], unit="s")
            out["time_range"] = f"{ts.min():%Y-%m-%d} .. {ts.max():%Y-%m-%d}"
        out.update({f"note.{k}": v for k, v in self.notes.items()})
        return out
