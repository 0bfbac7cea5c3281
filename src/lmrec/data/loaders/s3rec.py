"""The S3-Rec benchmark sequences (Zhou et al., CIKM 2020): Beauty, Toys_and_Games, LastFM.

``<Name>.txt`` holds one user per line, ``user item_1 item_2 …``, items in chronological order
(the last one is the usual leave-one-out test item). There are no time values, so
``timestamp`` is NaN and the file order *is* the order. Every event is a ``click`` (the
Amazon sets were reviews, LastFM listens; the files keep no rating).

``<Name>_item2attributes.json`` maps item id → attribute ids (category and brand ids without
names); they become item ``categories`` as ``"attr:12"``. Items have no titles or text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.loaders.tabular import data_file, open_text
from lmrec.data.schema import Dataset
from lmrec.errors import DataError

#: File stem of each S3-Rec data set.
S3REC_NAMES: tuple[str, ...] = ("Beauty", "Toys_and_Games", "LastFM")


def read_sequences(path: str | Path) -> pd.DataFrame:
    """``user item item …`` lines as a (user_id, item_id) frame in file order.

    The per-line split is plain Python (22k lines for Beauty); the expansion to one row per
    event is vectorised.
    """
    path = Path(path)
    try:
        with open_text(path) as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid utf-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    users: list[str] = []
    lengths: list[int] = []
    items: list[str] = []
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) == 1:
            raise DataError(
                f"{path}: line {number} has a user ({tokens[0]!r}) but no items; "
                "expected 'user item_1 item_2 ...'"
            )
        users.append(tokens[0])
        lengths.append(len(tokens) - 1)
        items.extend(tokens[1:])
    if not users:
        raise DataError(f"{path}: the file is empty")
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.asarray(users, dtype=object), lengths),
            "item_id": np.asarray(items, dtype=object),
        }
    )


def read_item_attributes(path: str | Path) -> pd.DataFrame:
    """``{"item": [attr, …]}`` as an item table with ``categories`` like ``["attr:3"]``."""
    path = Path(path)
    try:
        with open_text(path) as f:
            raw = json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: line {err.lineno} is not valid JSON ({err.msg} at column {err.colno})"
        ) from None
    except (UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object {{item_id: [attribute ids]}}")
    ids = list(raw)
    # Numeric order when the ids are numbers, so internal indices follow the file's ids.
    if all(i.isdigit() for i in ids):
        ids.sort(key=int)
    categories = []
    for i in ids:
        attrs = raw[i]
        if not isinstance(attrs, list):
            raise DataError(f"{path}: item {i!r} maps to {attrs!r}; expected a list of ids")
        categories.append([f"attr:{a}" for a in attrs])
    return pd.DataFrame({"item_id": ids, "title": "", "text": "", "categories": categories})


def load_s3rec(folder: str | Path, dataset: str = "Beauty", name: str | None = None) -> Dataset:
    """One S3-Rec data set: ``dataset`` is ``Beauty``, ``Toys_and_Games`` or ``LastFM``.

    Counts (users / items / events): Beauty 22,363 / 12,101 / 198,502; Toys_and_Games
    19,412 / 11,924 / 167,597; LastFM 1,090 / 3,646 / 52,551.
    """
    folder = Path(folder)
    seq_path = data_file(folder, f"{dataset}.txt.gz")
    interactions = read_sequences(seq_path)
    interactions["behaviour"] = "click"
    sources = [str(seq_path)]
    items = None
    try:
        attr_path = data_file(folder, f"{dataset}_item2attributes.json.gz")
    except DataError:  # attributes are optional side information
        attr_path = None
    if attr_path is not None:
        items = read_item_attributes(attr_path)
        sources.append(str(attr_path))
    notes = {
        "source": ", ".join(sources),
        "order": "file order (the sequences are time-sorted; no time values)",
        "dedup": "none (the files hold no repeats)",
        "categories": "attribute ids (category / brand) as 'attr:<id>'; no names exist",
    }
    return Dataset.from_frames(
        interactions,
        items,
        name=name or dataset.lower(),
        source=str(seq_path),
        notes=notes,
        time_order="file",
    )
