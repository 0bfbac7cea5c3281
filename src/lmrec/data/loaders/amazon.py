"""Amazon review files (McAuley lab, 2014 release), e.g. the Musical Instruments 5-core set.

Each JSON line is one review: ``reviewerID`` → ``user_id``, ``asin`` → ``item_id``,
``overall`` → ``rating`` (1–5), ``unixReviewTime`` → ``timestamp`` (day resolution, so many
ties; they keep file order), ``summary`` and ``reviewText`` → ``review``. The behaviour is
``rate``.

No item metadata (titles, categories) is available offline, so item titles stay empty. With
``item_text=True`` an item's ``text`` is its distinct review summaries ("Great strings; Too
bright; …", at most 2,000 characters), the only description of the item the data has. Note
that these summaries come from *all* reviews, including the held-out ones of a split; they
describe the item, not who bought it, but a study of text leakage should pass
``item_text=False``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lmrec.data.loaders.tabular import data_file, read_jsonl, truncate_text
from lmrec.data.schema import Dataset
from lmrec.errors import DataError

INSTRUMENTS_FILE = "reviews_Musical_Instruments_5.json.gz"

_REQUIRED = ("reviewerID", "asin", "overall", "unixReviewTime")


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    if column not in df:
        return pd.Series("", index=df.index, dtype=object)
    return df[column].fillna("").astype(str).str.strip()


def load_amazon_reviews(
    path: str | Path, name: str | None = None, *, item_text: bool = True
) -> Dataset:
    """One Amazon 2014 review file (``reviews_<Category>[_5].json[.gz]``) as a Dataset.

    ``review`` is ``summary`` and ``reviewText`` joined by a newline (either may be empty).
    """
    path = Path(path)
    raw = read_jsonl(path)
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: missing key(s) {missing}; an Amazon review line needs {list(_REQUIRED)} "
            f"(found {list(raw.columns)})"
        )
    summary = _text(raw, "summary")
    body = _text(raw, "reviewText")
    review = (summary + "\n" + body).str.strip()
    interactions = pd.DataFrame(
        {
            "user_id": raw["reviewerID"],
            "item_id": raw["asin"],
            "timestamp": raw["unixReviewTime"],
            "behaviour": "rate",
            "rating": raw["overall"],
            "review": review.to_numpy(dtype=object),
        }
    )
    items = None
    notes = {
        "source": str(path),
        "order": "chronological per user by review day; same-day reviews keep file order",
        "dedup": "none (each reviewer reviews an item once in the 5-core files)",
        "item_titles": "none: Amazon item metadata is not available",
    }
    if item_text:
        pairs = pd.DataFrame({"item_id": raw["asin"], "summary": summary})
        pairs = pairs[pairs["summary"] != ""].drop_duplicates()
        text = pairs.groupby("item_id", sort=False)["summary"].agg(
            lambda s: truncate_text("; ".join(s))
        )
        item_ids = pd.unique(raw["asin"].to_numpy(dtype=object))
        items = pd.DataFrame(
            {
                "item_id": item_ids,
                "title": "",
                "text": text.reindex(item_ids).fillna("").to_numpy(dtype=object),
                "categories": [[] for _ in range(len(item_ids))],
            }
        )
        notes["item_text"] = (
            "distinct review summaries per item, '; '-joined, at most 2000 characters "
            "(from all reviews, held-out ones included)"
        )
    return Dataset.from_frames(
        interactions,
        items,
        name=name or path.name.split(".")[0],
        source=str(path),
        notes=notes,
    )


def load_instruments(
    folder: str | Path, name: str = "instruments", *, item_text: bool = True
) -> Dataset:
    """Amazon 2014 Musical Instruments 5-core: 10,261 reviews, 1,429 users, 900 items."""
    path = data_file(folder, INSTRUMENTS_FILE)
    return load_amazon_reviews(path, name=name, item_text=item_text)
