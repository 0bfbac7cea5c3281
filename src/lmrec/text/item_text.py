"""One text per catalogue item, from whatever the data set knows about it.

Parts, in this order, joined by ". ": the title (MovieLens); the categories, as
``genres: Action, Comedy``, or, for S3-Rec's nameless attribute ids (``attr:173``), as
tokens ``attributes: attr173 attr1``; the item's ``text`` column (ml-latest-small's tags,
Amazon review summaries when the loader was asked for them); and, with ``reviews``, the
item's reviews from that frame.

Pass only the *training* interactions as ``reviews``: a held-out review describes the
held-out event, and putting it in the item's text would leak the answer into the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.schema import Dataset

ATTRIBUTE_PREFIX = "attr:"


def _categories(categories: object) -> str:
    values = [str(c) for c in categories] if isinstance(categories, list | tuple) else []
    if not values:
        return ""
    if all(v.startswith(ATTRIBUTE_PREFIX) for v in values):
        return "attributes: " + " ".join("attr" + v[len(ATTRIBUTE_PREFIX) :] for v in values)
    return "genres: " + ", ".join(values)


def _reviews_by_item(reviews: pd.DataFrame, max_reviews: int) -> dict[str, str]:
    """``reviews: first lines; … | bodies …``: Amazon reviews start with their summary line,
    and the short summaries of many reviews say more within the encoder's ~256 tokens than
    the body of one."""
    rows = reviews[reviews["review"].astype(str).str.strip() != ""]
    out = {}
    for item, texts in rows.groupby("item_id", sort=False)["review"]:
        heads, bodies = [], []
        for review in texts.iloc[:max_reviews]:
            head, _, body = str(review).strip().partition("\n")
            heads.append(head.strip())
            bodies.append(body.strip())
        out[str(item)] = "reviews: " + "; ".join(h for h in heads if h)
        if any(bodies):
            out[str(item)] += " | " + " ".join(b for b in bodies if b)
    return out


def item_texts(
    data: Dataset,
    reviews: pd.DataFrame | None = None,
    *,
    max_reviews: int = 20,
    max_chars: int = 1000,
) -> list[str]:
    """Texts aligned with ``data.idmap.items``; "" for items the data says nothing about."""
    items = data.items.set_index("item_id")
    by_item = {} if reviews is None else _reviews_by_item(reviews, max_reviews)
    out: list[str] = []
    for item in data.idmap.items:
        text = ""
        if item in items.index:
            row = items.loc[item]
            text = describe_item(row["title"], row["categories"], row["text"])
        text = ". ".join(p for p in (text, by_item.get(str(item), "")) if p)
        out.append(text[:max_chars])
    return out


def describe_item(title: object, categories: object = (), text: object = "") -> str:
    """One item's text from its title, categories and text column (the parts of
    :func:`item_texts` without reviews); "" when all are empty."""
    parts = [str(title).strip(), _categories(categories), str(text).strip()]
    return ". ".join(p for p in parts if p)


def encode_texts(
    texts: Sequence[object],
    text_model: str | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(len(texts), dim) float32 sentence embeddings, zero rows for empty texts.

    The one way lmrec turns texts into vectors (item texts, reviews): ``text_model`` is a
    sentence-transformers name or path (default: the bundled MiniLM), and embeddings are
    cached under ``cache_dir`` so a refit encodes only new texts.
    """
    from lmrec.text.encoder import TextEncoder

    return TextEncoder(text_model, cache_dir=cache_dir, progress=progress).encode(texts)


def encode_items(
    data: Dataset,
    reviews: pd.DataFrame | None = None,
    *,
    text_model: str | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """(n_items, dim) float32 embeddings of :func:`item_texts`, zero rows for empty texts."""
    return encode_texts(item_texts(data, reviews), text_model, cache_dir, progress)


def has_text(data: Dataset) -> bool:
    """Whether any item has a title, categories or text."""
    return any(item_texts(data))


__all__ = ["describe_item", "encode_items", "encode_texts", "has_text", "item_texts"]
