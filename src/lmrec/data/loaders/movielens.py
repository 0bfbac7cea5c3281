"""MovieLens loaders: ML-100K and ML-latest-small, from the raw GroupLens files.

Both keep every rating (no de-duplication is needed: each (user, movie) pair occurs once) and
order each user's ratings by timestamp with ties in file order; ``Dataset.from_frames`` does
that stable sort. The tie rule matters on ML-100K (415 of 943 users share their latest
timestamp between two or more ratings), so it is recorded in ``notes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.loaders.tabular import (
    data_file,
    read_delimited,
    split_categories,
    truncate_text,
)
from lmrec.data.schema import Dataset
from lmrec.errors import DataError

#: ML-100K's 19 genre flags in file order (``u.genre``); flag 0 means "no genre known".
ML100K_GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)

TIE_RULE = "chronological per user; equal timestamps keep file order (stable sort)"


def load_ml100k(folder: str | Path, name: str = "ml-100k") -> Dataset:
    """MovieLens 100K: 100,000 ratings (1–5) by 943 users of 1,682 movies, 1997–98.

    Reads ``u.data`` (tab-separated ``user item rating unix_ts``), ``u.item`` (latin-1,
    ``|``-separated: title, release date, 19 genre flags) and ``u.user`` (age, gender,
    occupation, zip). Item ``categories`` are the genres flagged 1, except ``unknown``, which
    means no genre; ``release_date`` is kept as an extra item column. Item ``text`` is empty:
    the title and genres already say everything the files know.
    """
    folder = Path(folder)
    ratings_path = data_file(folder, "u.data.gz")
    ratings = read_delimited(
        ratings_path,
        sep="\t",
        names=["user_id", "item_id", "rating", "timestamp"],
        header=None,
    )
    item_path = data_file(folder, "u.item")
    columns = ["item_id", "title", "release_date", "video_release_date", "imdb_url"]
    raw_items = read_delimited(
        item_path,
        sep="|",
        names=columns + list(ML100K_GENRES),
        header=None,
        encoding="latin-1",
    )
    flags = raw_items[list(ML100K_GENRES[1:])].to_numpy(dtype=bool)
    genres = np.asarray(ML100K_GENRES[1:], dtype=object)
    items = pd.DataFrame(
        {
            "item_id": raw_items["item_id"],
            "title": raw_items["title"].fillna(""),
            "categories": [list(genres[row]) for row in flags],
            "release_date": raw_items["release_date"].fillna("").astype(str),
        }
    )
    user_path = data_file(folder, "u.user")
    users = read_delimited(
        user_path,
        sep="|",
        names=["user_id", "age", "gender", "occupation", "zip"],
        header=None,
        dtype={"zip": str},
    )
    notes = {
        "source": f"{ratings_path}, {item_path}, {user_path}",
        "order": TIE_RULE,
        "dedup": "none needed (each user rates a movie once)",
    }
    return Dataset.from_frames(
        ratings, items, users, name=name, source=str(ratings_path), notes=notes
    )


def load_ml_latest_small(folder: str | Path, name: str = "ml-latest-small") -> Dataset:
    """MovieLens latest-small (2018): 100,836 ratings (0.5–5.0) by 610 users of 9,742 movies.

    Reads ``ratings.csv``, ``movies.csv`` (title and ``|``-separated genres;
    "(no genres listed)" gives no category) and ``tags.csv``: each movie's distinct free-text
    tags, in order of first use, become its item ``text`` as ``"tags: a, b, c"`` (at most
    2,000 characters). Tags are content descriptions written by users, possibly by the user
    being evaluated; they are item side information, not interactions. ``links.csv`` is not
    used.
    """
    folder = Path(folder)
    ratings_path = data_file(folder, "ratings.csv.gz")
    ratings = read_delimited(ratings_path, sep=",")
    ratings = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
    movies_path = data_file(folder, "movies.csv.gz")
    movies = read_delimited(movies_path, sep=",")
    items = pd.DataFrame(
        {
            "item_id": movies["movieId"],
            "title": movies["title"].fillna(""),
            "categories": split_categories(movies["genres"].fillna("")),
        }
    )
    sources = [str(ratings_path), str(movies_path)]
    try:
        tags_path = data_file(folder, "tags.csv.gz")
    except DataError:  # tags are optional side information
        tags_path = None
    if tags_path is not None:
        sources.append(str(tags_path))
        tags = read_delimited(tags_path, sep=",", dtype={"tag": str})
        tags = tags.dropna(subset=["tag"]).drop_duplicates(["movieId", "tag"])
        text = tags.groupby("movieId", sort=False)["tag"].agg(
            lambda t: truncate_text("tags: " + ", ".join(t.str.strip()))
        )
        items["text"] = items["item_id"].map(text).fillna("").to_numpy()
    notes = {
        "source": ", ".join(sources),
        "order": TIE_RULE,
        "dedup": "none needed (each user rates a movie once)",
        "item_text": "distinct user tags per movie ('tags: a, b'), first use first",
    }
    return Dataset.from_frames(ratings, items, name=name, source=str(ratings_path), notes=notes)
