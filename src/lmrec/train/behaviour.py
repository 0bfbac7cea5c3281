"""Behaviour prediction, "will this user do it to this item?": the task, its examples, the
negatives and the objective.

A :class:`BehaviourTask` says what a positive is on a data set:

- ``buy`` (multi-behaviour data such as JD): an event with behaviour ``buy``; every buy is a
  positive, and the history before it (views, favourites, earlier buys) is the evidence;
- ``like`` (rated data such as MovieLens or Amazon reviews): a rated event is a positive when
  its rating is at least ``threshold`` (4 of 5 by default), a negative otherwise.

Each target event makes one :class:`Examples` row: the user's history before the event, the
event's item with its label, and ``negatives`` sampled items labelled 0. Negatives are
drawn from the popularity of the target behaviour (buys, or ratings, in the fitting data),
never an item the user bought (``buy``) or had at all (``like``). With ``hard_share > 0``
(``buy`` only) that share of them comes from the user's own viewed or favourited but
unbought items, the candidates a shop has to judge when buys follow views. Not on JD's
shipped split: only 11% of its held-out buys are of items the user viewed in training (82%
of training buys are), so there history negatives give the answer away in reverse (a model
that learned "viewed, then bought" ranks every viewed negative above the positive); the
default is 0. Held-out examples (:func:`held_out_examples`) read the whole fitting history
and draw their negatives once, seeded, so every model is scored on the same candidates.

:class:`PredictBehaviour` is the training objective (binary cross-entropy, fresh negatives
every epoch); :class:`WithTask` in :mod:`lmrec.train.objectives` adds it to next-item
training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.errors import ConfigError
from lmrec.models.transformer import gap_buckets
from lmrec.train.sequences import UserSequences, bucketed_batches, collate

TARGETS = ("auto", "buy", "like")
BUY = BEHAVIOURS.index("buy") + 1  # behaviour index + 1, as in UserSequences


@dataclass(frozen=True)
class BehaviourTask:
    """What a positive is (see the module docstring) and how many negatives go with it."""

    kind: str  # "buy" or "like"
    threshold: float = 4.0  # like: rating >= threshold
    negatives: int = 4
    hard_share: float = 0.0  # buy: share of negatives from the user's own history

    def __post_init__(self) -> None:
        if self.kind not in ("buy", "like"):
            raise ConfigError(f"behaviour target must be 'buy' or 'like', got {self.kind!r}")
        if self.negatives < 1:
            raise ConfigError(f"negatives must be >= 1, got {self.negatives}")
        if not 0 <= self.hard_share <= 1:
            raise ConfigError(f"hard_share must be in [0, 1], got {self.hard_share}")

    def to_array(self) -> np.ndarray:
        """The task as four numbers for a model file (:meth:`from_array` reads them)."""
        kind = ("buy", "like").index(self.kind)
        return np.array([kind, self.threshold, self.negatives, self.hard_share], dtype=np.float64)

    @classmethod
    def from_array(cls, values: np.ndarray) -> BehaviourTask:
        kind, threshold, negatives, hard_share = np.asarray(values).tolist()
        return cls(("buy", "like")[int(kind)], threshold, int(negatives), hard_share)

    def events(self, behaviours: np.ndarray, ratings: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """(positions of target events, their labels) in one user's sequence."""
        if self.kind == "buy":
            where = np.flatnonzero(behaviours == BUY)
            return where, np.ones(len(where), dtype=np.float32)
        assert ratings is not None
        where = np.flatnonzero(~np.isnan(ratings))
        return where, (ratings[where] >= self.threshold).astype(np.float32)


def behaviour_task(
    data: Dataset,
    target: str = "auto",
    threshold: float = 4.0,
    negatives: int = 4,
    hard_share: float = 0.0,
) -> BehaviourTask:
    """The task ``target`` on ``data``; ``auto`` is ``buy`` when the data has buys and other
    behaviours, else ``like`` when it has ratings. A target the data cannot support is a
    :class:`ConfigError` naming what it lacks."""
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")
    inter = data.interactions
    kinds = set(inter["behaviour"].astype(str).unique())
    has_buys = "buy" in kinds
    has_ratings = bool(inter["rating"].notna().any())
    if target == "auto":
        if has_buys and len(kinds) > 1:
            target = "buy"
        elif has_ratings:
            target = "like"
        else:
            raise ConfigError(
                f"{data.name}: the behaviour task needs buys among other behaviours or ratings; "
                f"this data has only {sorted(kinds)} and no ratings"
            )
    if target == "buy" and not has_buys:
        raise ConfigError(
            f"{data.name}: target 'buy' needs buy events; its behaviours are {sorted(kinds)}"
        )
    if target == "like" and not has_ratings:
        raise ConfigError(f"{data.name}: target 'like' needs ratings; this data has none")
    if target == "like" and hard_share > 0:
        raise ConfigError(
            "hard_share applies to the buy target (history items are rated, not negatives)"
        )
    return BehaviourTask(target, threshold, negatives, hard_share)


@dataclass(frozen=True)
class Examples:
    """One row per target event: history = ``users``' events ``[0, ends)``; ``queries``
    (E, 1 + negatives) item indices + 1 (the event's item first); ``labels`` (E, 1 +
    negatives), 0 for every negative."""

    users: np.ndarray
    ends: np.ndarray
    queries: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def flat(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user, item index + 1, label) per candidate."""
        n = self.queries.shape[1]
        return np.repeat(self.users, n), self.queries.ravel(), self.labels.ravel()


class NegativeSampler:
    """Negatives for one user's target: popularity draws, minus excluded items, and for
    ``hard_share > 0`` some from the user's own history (see the module docstring)."""

    def __init__(self, task: BehaviourTask, seqs: UserSequences, n_items: int):
        self.task = task
        # Popularity of the target behaviour (buys, ratings): negatives look like what
        # people buy, not what they browse (held-out buys on JD are viewed far less than
        # the most-viewed items, so view popularity would make negatives easy to tell apart).
        kinds = np.concatenate(seqs.behaviours)
        ratings = None if seqs.ratings is None else np.concatenate(seqs.ratings)
        where, _ = task.events(kinds, ratings)
        targets = np.concatenate(seqs.items)[where]
        counts = np.bincount(targets, minlength=n_items + 1)[1:]
        counts = counts.astype(np.float64) + 1.0  # every item can be drawn
        self.cdf = np.cumsum(counts / counts.sum())
        self.n_items = n_items
        self.excluded: list[set[int]] = []
        self.own: list[np.ndarray] = []
        for items, kinds in zip(seqs.items, seqs.behaviours, strict=True):
            bought = set(items[kinds == BUY].tolist())
            self.excluded.append(bought if task.kind == "buy" else set(items.tolist()))
            self.own.append(np.unique(items[kinds != BUY]) if task.kind == "buy" else items[:0])

    def draw(self, user: int, positive: int, rng: np.random.Generator) -> np.ndarray:
        """``task.negatives`` item indices + 1, none the positive or an excluded item."""
        n = self.task.negatives
        excluded = self.excluded[user] | {positive}
        out: list[int] = []
        own = self.own[user]
        if self.task.hard_share > 0 and len(own):
            hard = [i for i in own.tolist() if i not in excluded]
            take = min(len(hard), round(n * self.task.hard_share))
            if take:
                out += rng.choice(hard, take, replace=False).tolist()
        for _ in range(20):  # rejection sampling; the catalogue dwarfs what one user had
            if len(out) == n:
                break
            draws = np.searchsorted(self.cdf, rng.random(2 * n)) + 1
            for item in draws.tolist():
                if item <= self.n_items and item not in excluded and item not in out:
                    out.append(item)
                    if len(out) == n:
                        break
        while len(out) < n:  # a user who had nearly every item: allow repeats
            out.append(int(rng.integers(1, self.n_items + 1)))
        return np.array(out, dtype=np.int64)


def training_positives(task: BehaviourTask, seqs: UserSequences) -> Examples:
    """Every target event with some history before it, without negatives yet (queries
    (E, 1), labels (E, 1))."""
    users, ends, items, labels = [], [], [], []
    for u, (seq, kinds) in enumerate(zip(seqs.items, seqs.behaviours, strict=True)):
        ratings = None if seqs.ratings is None else seqs.ratings[u]
        where, lab = task.events(kinds, ratings)
        keep = where >= 1
        users.append(np.full(int(keep.sum()), u))
        ends.append(where[keep])
        items.append(seq[where[keep]])
        labels.append(lab[keep])
    return Examples(
        np.concatenate(users).astype(np.int64),
        np.concatenate(ends).astype(np.int64),
        np.concatenate(items).astype(np.int64)[:, None],
        np.concatenate(labels).astype(np.float32)[:, None],
    )


def with_negatives(
    positives: Examples, sampler: NegativeSampler, rng: np.random.Generator
) -> Examples:
    """``positives`` with ``task.negatives`` sampled negatives per row."""
    negatives = (
        np.stack(
            [
                sampler.draw(int(u), int(q[0]), rng)
                for u, q in zip(positives.users, positives.queries, strict=True)
            ]
        )
        if len(positives)
        else np.zeros((0, sampler.task.negatives), dtype=np.int64)
    )
    zeros = np.zeros(negatives.shape, dtype=np.float32)
    return Examples(
        positives.users,
        positives.ends,
        np.concatenate([positives.queries[:, :1], negatives], axis=1),
        np.concatenate([positives.labels[:, :1], zeros], axis=1),
    )


def held_out_examples(
    task: BehaviourTask,
    fit_data: Dataset,
    seqs: UserSequences,
    targets: pd.DataFrame,
    seed: int = 0,
) -> Examples:
    """Examples for held-out target rows (a split's valid or test part): each row's user
    history is the whole fitting sequence, its label follows ``task``, and its negatives are
    drawn once with ``seed``. Rows that are not target events (a view when the target is
    ``buy``, an unrated event for ``like``) or whose user or item the fitting data lacks are
    left out."""
    kinds = targets["behaviour"].astype(str).to_numpy()
    ratings = targets["rating"].to_numpy(dtype=np.float64)
    if task.kind == "buy":
        is_target = kinds == "buy"
        labels = np.ones(len(targets), dtype=np.float32)
    else:
        is_target = ~np.isnan(ratings)
        labels = (np.nan_to_num(ratings) >= task.threshold).astype(np.float32)
    known = targets["user_id"].map(fit_data.idmap.has_user).to_numpy(dtype=bool) & targets[
        "item_id"
    ].map(fit_data.idmap.has_item).to_numpy(dtype=bool)
    keep = is_target & known
    rows = targets[keep]
    users = fit_data.idmap.user_index(rows["user_id"]).astype(np.int64)
    items = fit_data.idmap.item_index(rows["item_id"]).astype(np.int64) + 1
    ends = np.array([len(seqs.items[u]) for u in users], dtype=np.int64)
    positives = Examples(users, ends, items[:, None], labels[keep][:, None])
    sampler = NegativeSampler(task, seqs, fit_data.n_items)
    return with_negatives(positives, sampler, np.random.default_rng(seed))


def candidate_batch(
    seqs: UserSequences, examples: Examples, idx: np.ndarray, max_len: int
) -> dict[str, torch.Tensor]:
    """Inputs of :meth:`~lmrec.models.transformer.SequenceTransformerNet.behaviour_logits`
    for examples ``idx``: each history's last ``max_len`` events before its target (with
    their rating tokens, which a net with ``rating_tokens`` reads), and the candidates as
    queries."""
    users, ends = examples.users[idx], examples.ends[idx]
    starts = np.maximum(0, ends - max_len)
    cols = collate(seqs, users, starts, ends, features=("rating",))
    levels = np.zeros(cols.items.shape, dtype=np.int64) if cols.ratings is None else cols.ratings
    return {
        "items": torch.from_numpy(cols.items),
        "behaviours": torch.from_numpy(cols.behaviours),
        "gaps": gap_buckets(torch.from_numpy(cols.stamps)),
        "ratings": torch.from_numpy(levels),
        "queries": torch.from_numpy(np.ascontiguousarray(examples.queries[idx])),
    }


@torch.no_grad()
def behaviour_logits(
    net: torch.nn.Module,
    seqs: UserSequences,
    examples: Examples,
    max_len: int,
    chunk: int = 512,
) -> np.ndarray:
    """(E, 1 + negatives) logits of every candidate of ``examples``."""
    was_training = net.training
    net.eval()
    out = np.empty(examples.queries.shape, dtype=np.float32)
    lengths = np.minimum(examples.ends, max_len)
    order = np.argsort(lengths, kind="stable")  # chunks padded to their own longest history
    for lo in range(0, len(order), chunk):
        part = order[lo : lo + chunk]
        out[part] = net.behaviour_logits(**candidate_batch(seqs, examples, part, max_len)).numpy()
    if was_training:
        net.train()
    return out


@dataclass
class PredictBehaviour:
    """Binary cross-entropy on every target event's item and fresh sampled negatives.

    One example is one target event; an epoch visits each once, in batches of similar
    history length, and draws its negatives anew."""

    seqs: UserSequences
    positives: Examples
    sampler: NegativeSampler
    max_len: int

    def __post_init__(self) -> None:
        if len(self.positives) == 0:
            raise ConfigError(
                f"no {self.sampler.task.kind} event has history before it: nothing to learn"
            )
        self.lengths = np.minimum(self.positives.ends, self.max_len)

    @property
    def n_examples(self) -> int:
        return len(self.positives)

    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        return bucketed_batches(self.lengths, batch_size, rng)

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        part = Examples(
            self.positives.users[idx],
            self.positives.ends[idx],
            self.positives.queries[idx],
            self.positives.labels[idx],
        )
        examples = with_negatives(part, self.sampler, rng)
        inputs = candidate_batch(self.seqs, examples, np.arange(len(idx)), self.max_len)
        inputs["labels"] = torch.from_numpy(examples.labels)
        return inputs

    @staticmethod
    def loss(net: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
        labels = inputs["labels"]
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        logits = net.behaviour_logits(**model_inputs)
        return F.binary_cross_entropy_with_logits(logits, labels), float(labels.numel())


__all__ = [
    "BehaviourTask",
    "Examples",
    "NegativeSampler",
    "PredictBehaviour",
    "behaviour_logits",
    "behaviour_task",
    "candidate_batch",
    "held_out_examples",
    "training_positives",
    "with_negatives",
]
