"""Beyond-accuracy metrics of top-k lists: diversity, coverage, exposure, novelty, calibration.

A recommender that is accurate can still show every user the same few items, or fill a
list from one interest only. These metrics describe the lists themselves (the item indices
each user was shown, most relevant first) and are reported next to accuracy:

Per list (averaged over users, so they have per-user values and paired tests):

- ``ild@K``: intra-list diversity, the mean pairwise cosine *distance* ``1 - cos(v_i, v_j)``
  between the list's items (Ziegler et al. 2005), in an item space :class:`ItemSpace`
  names: text embeddings (the bundled sentence encoder) or category vectors.
- ``category_coverage@K``: the share of the catalogue's categories that the list touches.
- ``novelty@K``: mean self-information ``-log2 pop(i)`` of the list's items, ``pop(i)`` the
  share of users who had item ``i`` in the fitting data (Zhou et al. 2010); unseen items
  count as had by half a user, so the value stays finite.
- ``calibration_kl@K``: Steck's (2018) miscalibration ``KL(p || q̃)`` between the category
  mix of the user's history ``p(c|u)`` and of the list ``q(c|u)``, with
  ``q̃ = (1 - α) q + α p``, ``α = 0.01``. Each item spreads its weight evenly over its
  categories (:func:`lmrec.models.interests.category_matrix`).

Over all lists (one value per evaluation):

- ``coverage@K``: catalogue coverage (:func:`lmrec.evaluate.metrics.coverage`);
- ``gini@K``: Gini coefficient of exposure, how unevenly the lists' slots are spread over the
  whole catalogue (0 = every item shown equally often, → 1 = a few items take every slot);
- ``entropy@K``: Shannon entropy of exposure in bits (log2 of the number of items shown
  when they are shown equally often).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.evaluate.metrics import coverage
from lmrec.models.interests import UNCATEGORISED, category_matrix
from lmrec.text.neighbours import unit_rows

#: Steck's mixing weight: keeps KL finite when the list misses a history category.
CALIBRATION_ALPHA = 0.01
#: Where ``ild@K`` measures distances: item text embeddings or category vectors.
ILD_SPACES: tuple[str, ...] = ("categories", "text")
#: Metric families this module adds (``{family}@{k}`` keys).
DIVERSITY_FAMILIES: tuple[str, ...] = (
    "ild",
    "category_coverage",
    "novelty",
    "calibration_kl",
    "coverage",
    "gini",
    "entropy",
)


@dataclass(frozen=True)
class ItemSpace:
    """Everything the list metrics need to know about items, aligned with the model's index.

    ``vectors`` are L2-normalised rows (zero rows stay zero: an item with neither text nor
    categories is at distance 1 from everything); ``weights`` is items × categories with
    rows summing to 1 (uncategorised items have their own column, which is not counted as a
    category by ``category_coverage``); ``popularity`` is the share of fitting users who had
    each item.
    """

    vectors: np.ndarray  # (n_items, d) float32, unit rows
    weights: sp.csr_matrix  # (n_items, n_categories)
    categories: list[str]
    popularity: np.ndarray  # (n_items,)
    space: str  # "categories" or "text"

    @property
    def n_items(self) -> int:
        return len(self.popularity)

    @property
    def n_categories(self) -> int:
        """Real categories (the uncategorised column excluded)."""
        return sum(1 for c in self.categories if c != UNCATEGORISED)


def check_space(space: str, name: str = "item space") -> str:
    """``space`` if it is one of :data:`ILD_SPACES`, else a :class:`ConfigError` that says
    ``name`` (the option or field the caller reads it from)."""
    if space not in ILD_SPACES:
        raise ConfigError(f"{name} must be one of {', '.join(ILD_SPACES)}, got {space!r}")
    return space


def item_space(
    data: Dataset,
    space: str = "categories",
    *,
    vectors: np.ndarray | None = None,
    progress: bool = False,
) -> ItemSpace:
    """The :class:`ItemSpace` of ``data``'s catalogue (its ``idmap`` order).

    ``space="text"`` encodes each item's title, categories and text with the bundled
    sentence encoder (cached on disk, so a second call costs a file read); ``"categories"``
    uses the category weight rows. ``vectors`` overrides both (e.g. a model's own item
    embeddings), and the space is then called ``"given"``.
    """
    check_space(space)
    names, weights = category_matrix(list(data.items["categories"]))  # rows follow the id map
    if vectors is not None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[0] != data.n_items:
            raise ConfigError(
                f"item vectors have {vectors.shape[0]} rows, the catalogue has {data.n_items} items"
            )
        space = "given"
    elif space == "text":
        from lmrec.text.item_text import encode_items

        vectors = encode_items(data, progress=progress)
    else:
        vectors = weights.toarray()
        if UNCATEGORISED in names:  # uncategorised items are not alike: no shared column
            vectors[:, names.index(UNCATEGORISED)] = 0.0
    users_per_item = np.bincount(
        data.item_index()[~_duplicate_pairs(data)], minlength=data.n_items
    ).astype(np.float64)
    popularity = np.maximum(users_per_item, 0.5) / max(1, data.n_users)
    return ItemSpace(unit_rows(vectors), weights.tocsr(), names, popularity, space)


def _duplicate_pairs(data: Dataset) -> np.ndarray:
    """True for every (user, item) event after the pair's first (popularity counts users)."""
    pairs = data.user_index().astype(np.int64) * data.n_items + data.item_index()
    _, first = np.unique(pairs, return_index=True)
    dup = np.ones(len(pairs), dtype=bool)
    dup[first] = False
    return dup


def history_distributions(data: Dataset, users: np.ndarray, space: ItemSpace) -> np.ndarray:
    """(len(users), n_categories) category mix of each user's fitting history, p(c | u).

    Every distinct item counts once (Steck's uniform weights); a user without history gets
    zeros, and their calibration is then undefined (NaN).
    """
    binary = data.matrix("binary")[np.asarray(users, dtype=np.int64)]
    mix = np.asarray((binary @ space.weights).todense(), dtype=np.float64)
    totals = mix.sum(axis=1, keepdims=True)
    return np.divide(mix, totals, out=np.zeros_like(mix), where=totals > 0)


def category_mix(space: ItemSpace, items: np.ndarray) -> np.ndarray:
    """(n_categories,) category mix of a set of distinct items (indices), each counting
    once, as :func:`history_distributions` for one user; zeros for no items."""
    if len(items) == 0:
        return np.zeros(space.weights.shape[1])
    mix = np.asarray(space.weights[np.asarray(items)].sum(axis=0), dtype=np.float64).ravel()
    total = mix.sum()
    return mix / total if total > 0 else mix


# ------------------------------------------------------------------ per-list metrics
def intra_list_diversity(lists: np.ndarray, vectors: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(n_lists,) mean pairwise cosine distance of each list's items (unit ``vectors``).

    Lists are (n_lists, k) item indices; -1 marks an empty slot, which is skipped. A list
    with fewer than two items has diversity 0. The sum of cosines over ordered pairs
    ``i != j`` is ``|Σ v_i|² - Σ |v_i|²``, so no k × k matrix is built.
    """
    lists = np.asarray(lists, dtype=np.int64)
    out = np.zeros(len(lists))
    for lo in range(0, len(lists), chunk):
        part = lists[lo : lo + chunk]
        valid = part >= 0
        v = vectors[np.where(valid, part, 0)] * valid[..., None]  # (n, k, d)
        total = v.sum(axis=1)  # (n, d)
        off_diag = (total * total).sum(axis=1) - (v * v).sum(axis=(1, 2))
        n = valid.sum(axis=1)
        pairs = n * (n - 1)
        mean_sim = np.divide(off_diag, pairs, out=np.ones(len(part)), where=pairs > 0)
        out[lo : lo + chunk] = np.where(pairs > 0, 1.0 - mean_sim, 0.0)
    return out


def category_coverage(lists: np.ndarray, space: ItemSpace) -> np.ndarray:
    """(n_lists,) share of the catalogue's categories touched by each list."""
    if space.n_categories == 0:
        return np.full(len(lists), np.nan)
    real = np.array([c != UNCATEGORISED for c in space.categories])
    touched = _list_category_mass(lists, space) > 0
    return (touched & real).sum(axis=1) / space.n_categories


def novelty(lists: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """(n_lists,) mean self-information ``-log2 pop(i)`` of each list's items."""
    lists = np.asarray(lists, dtype=np.int64)
    valid = lists >= 0
    info = -np.log2(popularity[np.where(valid, lists, 0)]) * valid
    n = valid.sum(axis=1)
    return np.divide(info.sum(axis=1), n, out=np.zeros(len(lists)), where=n > 0)


def calibration_kl(
    lists: np.ndarray, history: np.ndarray, space: ItemSpace, alpha: float = CALIBRATION_ALPHA
) -> np.ndarray:
    """(n_lists,) ``KL(p || (1 - α) q + α p)`` between history and list category mixes."""
    q = _list_category_mass(lists, space)
    totals = q.sum(axis=1, keepdims=True)
    q = np.divide(q, totals, out=np.zeros_like(q), where=totals > 0)
    return kl_to_mix(history, q, alpha)


def kl_to_mix(p: np.ndarray, q: np.ndarray, alpha: float = CALIBRATION_ALPHA) -> np.ndarray:
    """``KL(p || (1 - α) q + α p)`` row by row; NaN where ``p`` is all zeros (no history)."""
    mixed = (1.0 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / mixed), 0.0)
    out = terms.sum(axis=-1)
    return np.where(p.sum(axis=-1) > 0, out, np.nan)


def _list_category_mass(lists: np.ndarray, space: ItemSpace) -> np.ndarray:
    """(n_lists, n_categories) summed category weights of each list's items."""
    lists = np.asarray(lists, dtype=np.int64)
    rows = np.repeat(np.arange(len(lists)), lists.shape[1])
    flat = lists.ravel()
    keep = flat >= 0
    counts = sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], flat[keep])), shape=(len(lists), space.n_items)
    )
    return np.asarray((counts @ space.weights).todense(), dtype=np.float64)


# ------------------------------------------------------------------ over all lists
def exposure(lists: np.ndarray, n_items: int) -> np.ndarray:
    """(n_items,) how many lists show each item."""
    lists = np.asarray(lists, dtype=np.int64)
    return np.bincount(lists[lists >= 0], minlength=n_items).astype(np.float64)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative ``counts`` (0 = equal, → 1 = concentrated)."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * total))


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy, in bits, of the distribution proportional to ``counts``."""
    p = np.asarray(counts, dtype=np.float64)
    p = p[p > 0] / p.sum() if p.sum() > 0 else p[:0]
    return float(-(p * np.log2(p)).sum())


# ------------------------------------------------------------------ all at once
def per_list_metrics(
    lists: np.ndarray, history: np.ndarray, space: ItemSpace, ks: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Per-user ``ild``, ``category_coverage``, ``novelty`` and ``calibration_kl`` at each k.

    ``lists`` are (n_users, max(ks)) item indices, ``history`` each user's p(c | u)
    (:func:`history_distributions`). Without categories in the data the two category
    metrics are left out (and so is ``ild`` in the category space); a user without history
    has NaN calibration, left out of the mean.
    """
    out: dict[str, np.ndarray] = {}
    has_categories = space.n_categories > 0
    for k in ks:
        top = lists[:, :k]
        if has_categories or space.space != "categories":
            out[f"ild@{k}"] = intra_list_diversity(top, space.vectors)
        if has_categories:
            out[f"category_coverage@{k}"] = category_coverage(top, space)
        out[f"novelty@{k}"] = novelty(top, space.popularity)
        if has_categories:
            out[f"calibration_kl@{k}"] = calibration_kl(top, history, space)
    return out


def catalogue_metrics(lists: np.ndarray, n_items: int, ks: tuple[int, ...]) -> dict[str, float]:
    """``coverage``, ``gini`` and ``entropy`` of exposure at each k, over all lists."""
    out: dict[str, float] = {}
    for k in ks:
        counts = exposure(lists[:, :k], n_items)
        out[f"coverage@{k}"] = coverage(lists[:, :k], n_items)
        out[f"gini@{k}"] = gini(counts)
        out[f"entropy@{k}"] = entropy_bits(counts)
    return out


__all__ = [
    "DIVERSITY_FAMILIES",
    "ILD_SPACES",
    "ItemSpace",
    "calibration_kl",
    "catalogue_metrics",
    "category_coverage",
    "check_space",
    "entropy_bits",
    "exposure",
    "gini",
    "history_distributions",
    "intra_list_diversity",
    "item_space",
    "kl_to_mix",
    "novelty",
    "per_list_metrics",
]
