"""Item texts come from what each data set has, and held-out reviews stay out."""

import pandas as pd

from lmrec.data.schema import Dataset
from lmrec.text.item_text import encode_items, has_text, item_texts


def _data(items: pd.DataFrame | None = None, reviews: list[str] | None = None) -> Dataset:
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2"],
            "item_id": ["a", "b", "a", "c"],
            "timestamp": [1, 2, 3, 4],
        }
    )
    if reviews is not None:
        frame["review"] = reviews
    return Dataset.from_frames(frame, items, name="tiny")


def test_titles_genres_attributes_and_text_are_joined_in_id_order():
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "title": ["Alien (1979)", "", ""],
            "text": ["tags: space, horror", "", ""],
            "categories": [["Horror", "Sci-Fi"], ["attr:173", "attr:1"], []],
        }
    )
    data = _data(items)
    texts = dict(zip(data.idmap.items, item_texts(data), strict=True))
    assert texts["a"] == "Alien (1979). genres: Horror, Sci-Fi. tags: space, horror"
    assert texts["b"] == "attributes: attr173 attr1"
    assert texts["c"] == ""
    assert has_text(data) and not has_text(_data())


def test_reviews_come_only_from_the_frame_given():
    data = _data(reviews=["Great strings\nThey last.", "", "Too bright", "Loud drums\nvery loud"])
    inter = data.interactions
    train = inter[inter["timestamp"] < 4]  # u2's review of c is held out
    texts = dict(zip(data.idmap.items, item_texts(data, train), strict=True))
    assert texts["a"] == "reviews: Great strings; Too bright | They last."
    assert "Loud drums" not in texts["c"] and texts["c"] == ""
    everything = dict(zip(data.idmap.items, item_texts(data, data.interactions), strict=True))
    assert everything["a"] == "reviews: Great strings; Too bright | They last."
    assert everything["c"] == "reviews: Loud drums | very loud"


def test_real_data_sets_have_text_for_every_item(ml100k):
    texts = item_texts(ml100k)
    assert all(texts) and texts[0].startswith("Toy Story (1995). genres: Animation")
    z = encode_items(ml100k.with_interactions(ml100k.interactions.head(5)))
    assert z.shape == (ml100k.n_items, 384)
