"""A small synthetic world whose true user interests are known, for tests and demos.

Generative story (all draws from one ``numpy`` generator seeded by ``seed``):

1. Items are split evenly over ``n_categories`` categories ("Jazz", "Rock", …). Inside each
   category the items lie on a ring (a fixed random order) and have Zipf-like popularity.
2. Each user has a mixture ``π_u`` over categories, drawn from ``Dirichlet(alpha)``: with a
   small ``alpha`` most users care about one or two categories.
3. A user's sequence starts with a category ``c ~ π_u`` and a popular item of it. At each
   next step the category stays with probability ``stickiness``, else it is redrawn from
   ``π_u``; when it stays, with probability ``follow`` the next item is the following unseen
   item on the category's ring (a sequential pattern), else a popular unseen item of ``c``.
   So ``p(next category | last c) = stickiness·[c] + (1 − stickiness)·π_u``, whose
   stationary distribution is ``π_u``. No item repeats within a user, unless ``repeat > 0``:
   then each event after the first is, with probability ``repeat``, a re-consumption of one of
   the user's own earlier events, drawn with weight ``0.7^age`` (age 0 = the latest event), so
   recent and frequent items come back most (the category state is left as it was). The
   named data set ``synthetic-repeats`` uses ``repeat=0.3``: about 27% of its events repeat an
   item the user already had.
4. Ratings (1–5) rise with the user's affinity to the item's category
   (``π_u[c] / max π_u``); so does the chance that an event is a ``buy`` rather than a
   ``click`` or ``fav``. Timestamps increase by random gaps (minutes to days).

Item-item methods (ItemKNN, EASE) clearly beat popularity on leave-one-out here, because the
held-out item is usually a ring neighbour, in the same category, of the items before it.

The truth (``π_u`` per user, each item's category) comes from :func:`synthetic_truth` with the
same arguments; ``make_synthetic(...).notes["truth"]`` records the call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError

CATEGORY_NAMES: tuple[str, ...] = (
    "Jazz",
    "Rock",
    "Folk",
    "Blues",
    "Soul",
    "Metal",
    "Disco",
    "Opera",
    "Punk",
    "Reggae",
    "Techno",
    "Gospel",
    "Country",
    "Funk",
    "Ambient",
    "Swing",
)

_START = 1_600_000_000  # 2020-09-13, the synthetic world's first second
_WORDS = ("awful", "poor", "okay", "good", "great")


@dataclass(frozen=True)
class SyntheticTruth:
    """What generated a synthetic data set: the quantities a model should recover."""

    categories: tuple[str, ...]
    #: External user ids, row ``u`` of :attr:`mixtures`.
    user_ids: np.ndarray
    #: ``(n_users, n_categories)``: each user's true p(category), rows sum to 1.
    mixtures: np.ndarray
    #: External item ids, entry ``i`` of :attr:`item_category`.
    item_ids: np.ndarray
    #: Category index of every item.
    item_category: np.ndarray
    stickiness: float

    def mixture(self, user_id: object) -> dict[str, float]:
        """The true category mixture of one user, by category name."""
        row = int(np.flatnonzero(self.user_ids == str(user_id))[0])
        return dict(zip(self.categories, self.mixtures[row].tolist(), strict=True))


def _category_names(n: int) -> tuple[str, ...]:
    base = len(CATEGORY_NAMES)
    return tuple(
        CATEGORY_NAMES[k % base] + ("" if k < base else f" {k // base + 1}") for k in range(n)
    )


def _draw(weights: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to ``weights`` (faster than rng.choice)."""
    cum = np.cumsum(weights)
    return min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(cum) - 1)


def _check(n_users: int, n_items: int, n_categories: int, min_len: int, max_len: int) -> None:
    if n_users < 1 or n_categories < 1 or n_items < n_categories:
        raise ConfigError(
            "make_synthetic needs n_users >= 1 and n_items >= n_categories >= 1, got "
            f"n_users={n_users}, n_items={n_items}, n_categories={n_categories}"
        )
    if not 1 <= min_len <= max_len or max_len > n_items:
        raise ConfigError(
            f"make_synthetic needs 1 <= min_len <= max_len <= n_items, got min_len={min_len}, "
            f"max_len={max_len}, n_items={n_items}"
        )


def _generate(
    n_users: int,
    n_items: int,
    n_categories: int,
    seed: int,
    min_len: int,
    max_len: int,
    alpha: float,
    stickiness: float,
    follow: float,
    repeat: float = 0.0,
    name: str = "synthetic",
) -> tuple[Dataset, SyntheticTruth]:
    _check(n_users, n_items, n_categories, min_len, max_len)
    if not 0.0 <= repeat < 1.0:
        raise ConfigError(f"make_synthetic needs 0 <= repeat < 1, got repeat={repeat}")
    rng = np.random.default_rng(seed)
    names = _category_names(n_categories)
    item_cat = rng.permutation(np.arange(n_items) % n_categories)
    rings = [rng.permutation(np.flatnonzero(item_cat == c)) for c in range(n_categories)]
    ring_pos = np.empty(n_items, dtype=np.int64)
    popularity = np.empty(n_items)
    for ring in rings:
        ring_pos[ring] = np.arange(len(ring))
        popularity[ring] = 1.0 / (1.0 + rng.permutation(len(ring))) ** 0.8
    mixtures = rng.dirichlet(np.full(n_categories, alpha), size=n_users)
    lengths = rng.integers(min_len, max_len + 1, size=n_users)

    users, items, times = [], [], []
    for u in range(n_users):
        pi = mixtures[u]
        seen = np.zeros(n_items, dtype=bool)
        left = np.bincount(item_cat, minlength=n_categories)  # unseen items per category
        t = _START + int(rng.integers(0, 30 * 86400))
        c, prev = -1, -1
        history: list[int] = []
        for _ in range(lengths[u]):
            # No draw at all when repeat == 0: the default world stays byte-for-byte the same.
            if repeat > 0 and history and rng.random() < repeat:
                ages = np.arange(len(history) - 1, -1, -1)
                item = history[_draw(0.7**ages, rng)]
                history.append(item)
                users.append(u)
                items.append(item)
                times.append(t)
                t += 60 + int(rng.exponential(6 * 3600))
                continue
            sticky = c >= 0 and left[c] > 0 and rng.random() < stickiness
            if sticky and rng.random() < follow:
                ring = rings[c]
                step = 1
                while seen[ring[(ring_pos[prev] + step) % len(ring)]]:
                    step += 1
                item = int(ring[(ring_pos[prev] + step) % len(ring)])
            else:
                if not sticky:
                    c = _draw(pi * (left > 0), rng)
                ring = rings[c]
                item = int(ring[_draw(popularity[ring] * ~seen[ring], rng)])
            seen[item] = True
            left[c] -= 1
            prev = item
            history.append(item)
            users.append(u)
            items.append(item)
            times.append(t)
            t += 60 + int(rng.exponential(6 * 3600))

    users_a, items_a = np.asarray(users), np.asarray(items)
    affinity = mixtures[users_a, item_cat[items_a]] / mixtures[users_a].max(axis=1)
    rating = np.clip(np.rint(1.5 + 3.5 * affinity + rng.normal(0, 0.6, len(users_a))), 1, 5)
    p_buy = 0.1 + 0.4 * affinity
    draw = rng.random(len(users_a))
    behaviour = np.where(draw < p_buy, "buy", np.where(draw < p_buy + 0.15, "fav", "click"))
    cat_names = np.asarray(names, dtype=object)
    item_ids = np.arange(1, n_items + 1).astype(str).astype(object)
    user_ids = np.arange(1, n_users + 1).astype(str).astype(object)
    words = np.asarray(_WORDS, dtype=object)[rating.astype(int) - 1]
    interactions = pd.DataFrame(
        {
            "user_id": user_ids[users_a],
            "item_id": item_ids[items_a],
            "timestamp": np.asarray(times, dtype=np.float64),
            "behaviour": behaviour,
            "rating": rating,
            "review": words + " " + np.char.lower(cat_names[item_cat[items_a]].astype(str)),
        }
    )
    titles = cat_names[item_cat] + " item " + item_ids
    item_table = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": titles,
            "text": titles + ": a " + np.char.lower(cat_names[item_cat].astype(str)) + " record.",
            "categories": [[names[c]] for c in item_cat],
        }
    )
    user_table = pd.DataFrame({"user_id": user_ids, "segment": cat_names[mixtures.argmax(axis=1)]})
    call = (
        f"synthetic_truth(n_users={n_users}, n_items={n_items}, n_categories={n_categories}, "
        f"seed={seed}, min_len={min_len}, max_len={max_len}, alpha={alpha}, "
        f"stickiness={stickiness}, follow={follow}" + (f", repeat={repeat})" if repeat > 0 else ")")
    )
    notes = {
        "source": "lmrec.data.loaders.synthetic.make_synthetic",
        "truth": f"lmrec.data.loaders.synthetic.{call}",
        "order": "strictly increasing timestamps per user (no ties)",
        "dedup": "none needed (no item repeats within a user)",
    }
    if repeat > 0:
        notes["dedup"] = (
            f"none: repeats are part of the world (each later event repeats an own item with "
            f"probability {repeat})"
        )
    data = Dataset.from_frames(
        interactions, item_table, user_table, name=name, source="synthetic", notes=notes
    )
    truth = SyntheticTruth(
        categories=names,
        user_ids=user_ids.astype(str),
        mixtures=mixtures,
        item_ids=item_ids.astype(str),
        item_category=item_cat,
        stickiness=stickiness,
    )
    return data, truth


def make_synthetic(
    n_users: int = 300,
    n_items: int = 200,
    n_categories: int = 8,
    seed: int = 0,
    *,
    min_len: int = 8,
    max_len: int = 30,
    alpha: float = 0.3,
    stickiness: float = 0.8,
    follow: float = 0.7,
    repeat: float = 0.0,
    name: str = "synthetic",
) -> Dataset:
    """A deterministic synthetic data set (see the module docstring for how it is made).

    ``alpha`` is the Dirichlet concentration of the users' category mixtures (smaller: more
    focused users), ``stickiness`` the chance to stay in a category, ``follow`` the chance to
    take the next item on the category's ring when staying, ``repeat`` the chance that an
    event re-consumes one of the user's own earlier items. Defaults give ~5,700 events.
    """
    data, _ = _generate(
        n_users,
        n_items,
        n_categories,
        seed,
        min_len,
        max_len,
        alpha,
        stickiness,
        follow,
        repeat,
        name,
    )
    return data


def synthetic_truth(
    n_users: int = 300,
    n_items: int = 200,
    n_categories: int = 8,
    seed: int = 0,
    *,
    min_len: int = 8,
    max_len: int = 30,
    alpha: float = 0.3,
    stickiness: float = 0.8,
    follow: float = 0.7,
    repeat: float = 0.0,
) -> SyntheticTruth:
    """The true mixtures and item categories behind ``make_synthetic`` with the same arguments."""
    _, truth = _generate(
        n_users, n_items, n_categories, seed, min_len, max_len, alpha, stickiness, follow, repeat
    )
    return truth
