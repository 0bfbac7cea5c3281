"""The one place that turns external ids into internal indices and back.

External ids are whatever the user's data holds (``"A1B2"``, ``196``); they are kept as
strings, so ``196`` and ``"196"`` name the same user. Internal indices are contiguous
``0..n-1`` integers used by models and matrices; they never leave the library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.errors import ModelFileError, UnknownIdError


def _as_str_array(ids: Iterable[object]) -> np.ndarray:
    if isinstance(ids, pd.Series | pd.Index):  # a data frame's column: convert in bulk
        return ids.astype(str).to_numpy(dtype=object)
    return np.asarray([str(i) for i in ids], dtype=object)


@dataclass(frozen=True)
class IdMap:
    """A stable bijection between external user/item ids and ``0..n-1`` indices.

    ``users[i]`` is the external id of user index ``i``; likewise ``items``.
    """

    users: np.ndarray
    items: np.ndarray
    _user_pos: dict[str, int] = field(init=False, repr=False, compare=False)
    _item_pos: dict[str, int] = field(init=False, repr=False, compare=False)
    #: Hash indexes for bulk lookups (a column of 100k ids in milliseconds, not seconds).
    _user_lookup: pd.Index = field(init=False, repr=False, compare=False)
    _item_lookup: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        users = _as_str_array(self.users)
        items = _as_str_array(self.items)
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "_user_pos", {u: i for i, u in enumerate(users)})
        object.__setattr__(self, "_item_pos", {u: i for i, u in enumerate(items)})
        if len(self._user_pos) != len(users):
            raise ValueError("IdMap users contain duplicates")
        if len(self._item_pos) != len(items):
            raise ValueError("IdMap items contain duplicates")
        object.__setattr__(self, "_user_lookup", pd.Index(users, dtype=object))
        object.__setattr__(self, "_item_lookup", pd.Index(items, dtype=object))

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def same_as(self, other: IdMap) -> bool:
        """Whether ``other`` maps the same users and items to the same indices.

        The one check behind "this data was built for this model" (run directories,
        fine-tuning from a pretrained run, swapping a model's history).
        """
        return other is self or (
            np.array_equal(self.users, other.users) and np.array_equal(self.items, other.items)
        )

    def has_user(self, user_id: object) -> bool:
        return str(user_id) in self._user_pos

    def has_item(self, item_id: object) -> bool:
        return str(item_id) in self._item_pos

    def user_index(self, user_ids: Iterable[object]) -> np.ndarray:
        """Indices of external user ids; raises :class:`UnknownIdError` naming the first unknown."""
        return self._lookup(self._user_lookup, user_ids, "user")

    def item_index(self, item_ids: Iterable[object]) -> np.ndarray:
        """Indices of external item ids; raises :class:`UnknownIdError` naming the first unknown."""
        return self._lookup(self._item_lookup, item_ids, "item")

    def user_ids(self, index: np.ndarray) -> np.ndarray:
        return self.users[np.asarray(index, dtype=np.int64)]

    def item_ids(self, index: np.ndarray) -> np.ndarray:
        return self.items[np.asarray(index, dtype=np.int64)]

    @staticmethod
    def _lookup(index: pd.Index, ids: Iterable[object], what: str) -> np.ndarray:
        keys = _as_str_array(ids)
        out = index.get_indexer(keys) if len(keys) else np.empty(0, dtype=np.int64)
        missing = np.flatnonzero(out < 0)
        if len(missing):
            raise UnknownIdError(
                f"{what} id {keys[missing[0]]!r} is not known (the data has {len(index)} "
                f"{what}s); check the id or retrain with data that contains it"
            )
        return out.astype(np.int64, copy=False)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps({"users": self.users.tolist(), "items": self.items.tolist()}),
            encoding="utf-8",
        )

    @classmethod
    def from_json(cls, path: str | Path) -> IdMap:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(
                users=np.asarray(raw["users"], dtype=object),
                items=np.asarray(raw["items"], dtype=object),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(
                f"{path}: not a valid id map ({exc}); expected JSON with 'users' and 'items' lists"
            ) from None
