"""From a Dataset to padded tensor batches for the sequence Transformer.

Why length buckets: most Beauty histories have fewer than 10 events while ``max_len`` is 50,
so padding every batch to ``max_len`` would spend most of the attention time on padding.
Batches here group sequences of similar length and are padded (on the left) only to the
longest sequence in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.models.transformer import N_RATING_LEVELS, PAD, gap_buckets


@dataclass(frozen=True)
class UserSequences:
    """Per user (internal index order): item indices + 1, behaviour indices + 1, timestamps,
    the rating of each event (NaN when the event has none; ``None`` when unknown, e.g.
    raw histories) and, for models that read review text, each event's reduced review
    embedding ((n_events, k) float32, zero rows for events without a review)."""

    items: list[np.ndarray]
    behaviours: list[np.ndarray]
    timestamps: list[np.ndarray]
    ratings: list[np.ndarray] | None = None
    reviews: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.items)


def sequence_arrays(seqs: UserSequences, ratings: bool = False) -> dict[str, np.ndarray]:
    """``seqs`` as the flat ``seq.*`` arrays a model file stores (``seq.ratings`` too with
    ``ratings``, when the sequences have them; ``seq.reviews`` whenever they have review
    vectors); :func:`sequences_from_arrays` reads them."""
    arrays = {
        "seq.lengths": np.array([len(s) for s in seqs.items], dtype=np.int64),
        "seq.items": np.concatenate(seqs.items).astype(np.int64),
        "seq.behaviours": np.concatenate(seqs.behaviours).astype(np.int64),
        "seq.timestamps": np.concatenate(seqs.timestamps).astype(np.float64),
    }
    if ratings and seqs.ratings is not None:
        arrays["seq.ratings"] = np.concatenate(seqs.ratings).astype(np.float64)
    if seqs.reviews is not None:
        arrays["seq.reviews"] = np.concatenate(seqs.reviews).astype(np.float32)
    return arrays


def sequences_from_arrays(arrays: dict[str, np.ndarray]) -> UserSequences:
    """The sequences :func:`sequence_arrays` stored (with ratings when it stored them)."""
    bounds = np.cumsum(arrays["seq.lengths"])[:-1]
    ratings = arrays.get("seq.ratings")
    reviews = arrays.get("seq.reviews")
    return UserSequences(
        items=np.split(arrays["seq.items"], bounds),
        behaviours=np.split(arrays["seq.behaviours"], bounds),
        timestamps=np.split(arrays["seq.timestamps"], bounds),
        ratings=None if ratings is None else np.split(ratings, bounds),
        reviews=None if reviews is None else np.split(np.asarray(reviews), bounds),
    )


def user_sequences(data: Dataset, reviews: np.ndarray | None = None) -> UserSequences:
    """Each user's events in time order, in model index space (0 is padding).

    ``reviews`` (one row per interaction, in the data's row order) become each event's
    review vector."""
    inter = data.interactions
    users = data.user_index()
    items = data.item_index() + 1
    behaviours = inter["behaviour"].cat.codes.to_numpy().astype(np.int64) + 1
    stamps = inter["timestamp"].to_numpy(dtype=np.float64)
    ratings = inter["rating"].to_numpy(dtype=np.float64)
    order = np.argsort(users, kind="stable")  # keeps time order within a user
    bounds = np.cumsum(np.bincount(users, minlength=data.n_users))[:-1]
    return UserSequences(
        items=np.split(items[order], bounds),
        behaviours=np.split(behaviours[order], bounds),
        timestamps=np.split(stamps[order], bounds),
        ratings=np.split(ratings[order], bounds),
        reviews=None if reviews is None else np.split(reviews[order], bounds),
    )


def keep_behaviours(seqs: UserSequences, kept: np.ndarray) -> UserSequences:
    """``seqs`` with only the events whose behaviour index (+ 1) is in ``kept``: a model
    that reads part of the evidence (e.g. JD buys without the views and favourites)."""
    where = [np.isin(b, kept) for b in seqs.behaviours]

    def pick(parts: list[np.ndarray] | None) -> list[np.ndarray] | None:
        return None if parts is None else [p[w] for p, w in zip(parts, where, strict=True)]

    return UserSequences(
        pick(seqs.items),
        pick(seqs.behaviours),
        pick(seqs.timestamps),
        pick(seqs.ratings),
        pick(seqs.reviews),
    )


@dataclass(frozen=True)
class Windows:
    """Training examples: (user, start, end) slices of user sequences, each ≤ max_len + 1 long."""

    user: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self.end - self.start


def training_windows(seqs: UserSequences, max_len: int, min_len: int = 2) -> Windows:
    """Cut every sequence into windows of max_len + 1 events, ending at its last event.

    Long histories (ml-100k users average 100+ events) give several windows, so no event is
    thrown away; a window of n events yields n - 1 next-item targets.
    """
    users, starts, ends = [], [], []
    span = max_len + 1
    for u, items in enumerate(seqs.items):
        end = len(items)
        while end >= min_len:
            start = max(0, end - span)
            users.append(u)
            starts.append(start)
            ends.append(end)
            end = start + 1 if start > 0 else 0  # next window's last event overlaps by one
    return Windows(
        np.asarray(users, dtype=np.int64),
        np.asarray(starts, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
    )


def shuffle_tied_runs(seqs: UserSequences, rng: np.random.Generator) -> UserSequences:
    """A copy of ``seqs`` in which every run of consecutive events with the same timestamp
    (or none) and the same behaviour is put in random order.

    Events that share a time have no order between them; the file's order is all there is.
    Without timestamps (JD) that order sorts each user's items by id, and a sequence model
    trained on it learns the sort ("the next buy has a larger id"), which held-out buys do
    not follow. Reshuffled every epoch, the tied runs teach no order; runs of different
    behaviours (JD's views, then favourites, then buys) keep theirs.
    """
    lengths = np.array([len(s) for s in seqs.items], dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return seqs
    items = np.concatenate(seqs.items)
    kinds = np.concatenate(seqs.behaviours)
    stamps = np.concatenate(seqs.timestamps).astype(np.float64)
    bounds = np.cumsum(lengths)[:-1]
    new_run = np.zeros(total, dtype=bool)
    new_run[0] = True
    new_run[bounds[bounds < total]] = True  # a user's first event
    tied = (stamps[1:] == stamps[:-1]) | (np.isnan(stamps[1:]) & np.isnan(stamps[:-1]))
    new_run[1:] |= ~tied | (kinds[1:] != kinds[:-1])
    order = np.lexsort((rng.random(total), np.cumsum(new_run)))

    def regroup(flat: np.ndarray) -> list[np.ndarray]:
        return np.split(flat[order], bounds)

    ratings = None if seqs.ratings is None else regroup(np.concatenate(seqs.ratings))
    reviews = None if seqs.reviews is None else regroup(np.concatenate(seqs.reviews))
    return UserSequences(regroup(items), regroup(kinds), regroup(stamps), ratings, reviews)


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of example indices whose lengths are similar.

    Examples are sorted by length with random tie-breaking, cut into batches, and the batch
    order is shuffled, so every epoch sees a different but padding-light arrangement.
    """
    order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    items: torch.Tensor  # (B, T)
    behaviours: torch.Tensor  # (B, T)
    gaps: torch.Tensor  # (B, T)
    targets: torch.Tensor | None = None  # (B, T)
    ratings: torch.Tensor | None = None  # (B, T) rating tokens, 0 = none
    reviews: torch.Tensor | None = None  # (B, T, k) review vectors, zero = none
    #: (B, T) the behaviour (index + 1) of the event each position predicts, 0 = none:
    #: what a ``predict_behaviours`` net is told it is predicting.
    next_behaviours: torch.Tensor | None = None


@dataclass
class Columns:
    """Left-padded (B, T) arrays of slices of user sequences; ``ratings`` (rating tokens)
    and ``reviews`` ((B, T, k) vectors) only when asked for and the sequences have them."""

    items: np.ndarray
    behaviours: np.ndarray
    stamps: np.ndarray
    ratings: np.ndarray | None = None
    reviews: np.ndarray | None = None

    def hide(self, where: np.ndarray) -> None:
        """Blank the source features of events ``where`` (B, T) bool: a masked event's
        rating or review would give its item away."""
        if self.ratings is not None:
            self.ratings[where] = 0
        if self.reviews is not None:
            self.reviews[where] = 0.0

    def append(self, items: int, behaviours: int) -> None:
        """One more column: every row's next event is ``items`` with ``behaviours``, no
        time, no rating, no review (the [MASK] of masked inference)."""
        rows = len(self.items)
        self.items = np.concatenate([self.items, np.full((rows, 1), items)], axis=1)
        self.behaviours = np.concatenate([self.behaviours, np.full((rows, 1), behaviours)], axis=1)
        self.stamps = np.concatenate([self.stamps, np.full((rows, 1), np.nan)], axis=1)
        if self.ratings is not None:
            self.ratings = np.concatenate([self.ratings, np.zeros((rows, 1), np.int64)], axis=1)
        if self.reviews is not None:
            pad = np.zeros((rows, 1, self.reviews.shape[2]), np.float32)
            self.reviews = np.concatenate([self.reviews, pad], axis=1)

    def batch(
        self,
        cut: slice = slice(None),
        targets: np.ndarray | None = None,
        next_behaviours: np.ndarray | None = None,
    ) -> Batch:
        """Tensors of columns ``cut``, with ``targets`` and ``next_behaviours`` (already
        cut) when given."""

        def tensor(a: np.ndarray | None) -> torch.Tensor | None:
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a[:, cut]))

        return Batch(
            tensor(self.items),
            tensor(self.behaviours),
            gap_buckets(torch.from_numpy(np.ascontiguousarray(self.stamps[:, cut]))),
            None if targets is None else torch.from_numpy(targets),
            tensor(self.ratings),
            tensor(self.reviews),
            None if next_behaviours is None else torch.from_numpy(next_behaviours),
        )


def collate(
    seqs: UserSequences,
    users: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    features: tuple[str, ...] = (),
) -> Columns:
    """Left-padded (B, T) columns for slices of user sequences, with the source
    ``features`` the sequences have ("rating": rating tokens, "review": review vectors;
    :data:`lmrec.models.sources.TRANSFORMER_SOURCES`)."""
    lengths = ends - starts
    # At least two columns: an empty history becomes padding (the old torch encoder also
    # failed on one-column batches; kept so scores match models trained with it).
    T = max(2, int(lengths.max()))
    B = len(users)
    items = np.zeros((B, T), dtype=np.int64)
    behaviours = np.zeros((B, T), dtype=np.int64)
    stamps = np.full((B, T), np.nan)
    ratings = (
        np.zeros((B, T), dtype=np.int64)
        if "rating" in features and seqs.ratings is not None
        else None
    )
    reviews = None
    if "review" in features and seqs.reviews is not None:
        reviews = np.zeros((B, T, seqs.reviews[0].shape[1]), dtype=np.float32)
    for row, (u, s, e) in enumerate(zip(users, starts, ends, strict=True)):
        n = e - s
        items[row, T - n :] = seqs.items[u][s:e]
        behaviours[row, T - n :] = seqs.behaviours[u][s:e]
        stamps[row, T - n :] = seqs.timestamps[u][s:e]
        if ratings is not None:
            ratings[row, T - n :] = rating_levels(seqs.ratings[u][s:e])
        if reviews is not None:
            reviews[row, T - n :] = seqs.reviews[u][s:e]
    return Columns(items, behaviours, stamps, ratings, reviews)


def causal_batch(
    seqs: UserSequences,
    windows: Windows,
    idx: np.ndarray,
    target_behaviour: int | None = None,
    features: tuple[str, ...] = (),
    tell_behaviour: bool = False,
) -> Batch:
    """Inputs are events 0..n-2 of each window, targets events 1..n-1 (next item).

    With ``target_behaviour`` (a behaviour index + 1) only next events of that behaviour are
    targets, e.g. fine-tuning "what will they buy next" on histories of views and buys.
    ``features``: the source features the inputs carry (see :func:`collate`).
    ``tell_behaviour``: every next event is a target and the batch says which behaviour
    each is (``next_behaviours``), so views teach the item table what buys use.
    """
    cols = collate(seqs, windows.user[idx], windows.start[idx], windows.end[idx], features)
    inputs = cols.items[:, :-1]
    targets = cols.items[:, 1:].copy()
    targets[inputs == PAD] = PAD
    if tell_behaviour:
        next_behaviours = np.where(targets == PAD, PAD, cols.behaviours[:, 1:])
        return cols.batch(slice(None, -1), targets, next_behaviours)
    if target_behaviour is not None:
        targets[cols.behaviours[:, 1:] != target_behaviour] = PAD
    return cols.batch(slice(None, -1), targets)


def masked_batch(
    seqs: UserSequences,
    windows: Windows,
    idx: np.ndarray,
    mask_index: int,
    mask_prob: float,
    rng: np.random.Generator,
    last_prob: float = 0.1,
    target_behaviour: int | None = None,
    features: tuple[str, ...] = (),
) -> Batch:
    """BERT4Rec-style: hide random events behind [MASK] and predict them (bidirectional).

    Every sequence gets at least one mask. With probability ``last_prob`` only the final event
    is masked, which is exactly the inference situation (history + [MASK] → next item).
    ``target_behaviour`` (a behaviour index + 1) masks only events of that behaviour ("which
    item did they buy, given everything else they did"); a window without one has no target.
    A masked event keeps its behaviour token, as the [MASK] of inference carries the
    behaviour to predict, but not its rating or review (``features``), which name the item.
    """
    cols = collate(seqs, windows.user[idx], windows.start[idx], windows.end[idx], features)
    items, behaviours = cols.items, cols.behaviours
    real = items != PAD
    if target_behaviour is not None:
        real &= behaviours == target_behaviour
    masked = (rng.random(items.shape) < mask_prob) & real
    only_last = (rng.random(len(items)) < last_prob) & real[:, -1]
    masked[only_last] = False
    masked[:, -1] |= only_last
    # at least one mask per window: its last candidate event when the draw left none
    none = ~masked.any(axis=1) & real.any(axis=1)
    last_real = real.shape[1] - 1 - np.argmax(real[:, ::-1], axis=1)
    masked[np.flatnonzero(none), last_real[none]] = True
    targets = np.where(masked, items, PAD)
    cols.items = np.where(masked, mask_index, items)
    cols.hide(masked)
    return cols.batch(targets=targets)


def inference_batch(
    seqs: UserSequences,
    users: np.ndarray,
    max_len: int,
    mask_index: int | None = None,
    next_behaviour: int = BEHAVIOURS.index("click") + 1,
    features: tuple[str, ...] = (),
) -> Batch:
    """The last ``max_len`` events of each user (the model predicts what comes next).

    With ``mask_index`` (masked models) a [MASK] event is appended and the history keeps
    ``max_len - 1`` events; its behaviour is ``next_behaviour`` (the behaviour to predict).
    ``features``: the source features the events carry (see :func:`collate`).
    """
    keep = max_len - (1 if mask_index is not None else 0)
    ends = np.array([len(seqs.items[u]) for u in users], dtype=np.int64)
    starts = np.maximum(0, ends - keep)
    cols = collate(seqs, users, starts, ends, features)
    if mask_index is not None:
        cols.append(mask_index, next_behaviour)
        return cols.batch()
    # What the causal state predicts next: a ``predict_behaviours`` net reads it.
    asked = np.zeros(cols.items.shape, dtype=np.int64)
    asked[:, -1] = next_behaviour
    return cols.batch(next_behaviours=asked)


def rating_levels(ratings: np.ndarray) -> np.ndarray:
    """Rating token indices of ratings: NaN (no rating) is 0, else ``round(2 × rating)``
    clipped to 1..N_RATING_LEVELS (half stars up to five stars)."""
    r = np.asarray(ratings, dtype=np.float64)
    levels = np.clip(np.rint(2 * np.nan_to_num(r, nan=0.0)), 1, N_RATING_LEVELS).astype(np.int64)
    return np.where(np.isnan(r), 0, levels)


def rating_batch(
    seqs: UserSequences,
    users: np.ndarray,
    queries: list[np.ndarray],
    max_len: int,
    hidden: list[np.ndarray] | None = None,
) -> dict[str, torch.Tensor]:
    """Inputs for the rating head: each user's context events and the items to rate.

    The context is the user's sequence without the events at positions ``hidden[row]`` (the
    training targets, whose ratings must not be seen), its last ``max_len`` events, each with
    its item, behaviour, time gap and rating token; ``queries[row]`` are the item indices (+1)
    to rate after it. Both are left/right padded with 0.
    """
    rows = len(users)
    contexts = []
    for row, u in enumerate(users):
        keep = np.ones(len(seqs.items[u]), dtype=bool)
        if hidden is not None:
            keep[hidden[row]] = False
        contexts.append(np.flatnonzero(keep)[-max_len:])
    T = max(1, max(len(c) for c in contexts))
    Q = max(1, max(len(q) for q in queries))
    items = np.zeros((rows, T), dtype=np.int64)
    behaviours = np.zeros((rows, T), dtype=np.int64)
    stamps = np.full((rows, T), np.nan)
    levels = np.zeros((rows, T), dtype=np.int64)
    query_items = np.zeros((rows, Q), dtype=np.int64)
    for row, (u, ctx) in enumerate(zip(users, contexts, strict=True)):
        n = len(ctx)
        if n:
            items[row, T - n :] = seqs.items[u][ctx]
            behaviours[row, T - n :] = seqs.behaviours[u][ctx]
            stamps[row, T - n :] = seqs.timestamps[u][ctx]
            if seqs.ratings is not None:
                levels[row, T - n :] = rating_levels(seqs.ratings[u][ctx])
        query_items[row, : len(queries[row])] = queries[row]
    return {
        "items": torch.from_numpy(items),
        "behaviours": torch.from_numpy(behaviours),
        "gaps": gap_buckets(torch.from_numpy(stamps)),
        "ratings": torch.from_numpy(levels),
        "queries": torch.from_numpy(query_items),
    }
