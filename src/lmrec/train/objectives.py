"""Training objectives: what one example is, how a batch of them becomes model inputs, and
the loss. The loop (:mod:`lmrec.train.loop`) calls only this protocol::

    for idx in objective.batches(rng, batch_size):      # an epoch of example-index arrays
        inputs = objective.batch(idx, rng)               # tensors, as keyword arguments
        loss, n_targets = objective.loss(net, inputs)    # mean loss over n_targets targets

so it never knows which model or objective it runs. Sequence objectives:

- :class:`NextItem` (``"causal"``): SASRec's next-item prediction, causal attention;
- :class:`MaskedItem` (``"masked"``): BERT4Rec's masked-item prediction, bidirectional;
- :class:`HiddenRating` (``"rating"``): hide a share of a user's ratings and predict them
  from the rest (mean squared error), the rating head's task alone;
- :class:`WithTask`: a sequence objective plus ``λ ·`` a task (ratings, or behaviour
  prediction from :mod:`lmrec.train.behaviour`): multi-task learning.

:class:`HeldOutEvent` is MultiInterest's: predict each event from the user's other evidence.
Further heads fit the same three methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from lmrec.errors import ConfigError
from lmrec.models.transformer import PAD
from lmrec.train.sequences import (
    Batch,
    UserSequences,
    Windows,
    bucketed_batches,
    causal_batch,
    inference_batch,
    masked_batch,
    rating_batch,
    shuffle_tied_runs,
    training_windows,
)

Inputs = dict[str, Any]


class Objective(Protocol):
    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        """One epoch's example-index arrays (the same for every process of a group)."""
        ...

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Inputs:
        """Model inputs for examples ``idx`` (``rng`` draws masks and the like)."""
        ...

    def loss(self, net: torch.nn.Module, inputs: Inputs) -> tuple[torch.Tensor, float]:
        """The mean loss over the batch's targets, and how many targets it averages."""
        ...


def _targets_loss(net: torch.nn.Module, inputs: Inputs) -> tuple[torch.Tensor, float]:
    """``net(**inputs)`` returns ``(logits, loss)``; targets equal to PAD carry no loss.

    Only the loss is used, so the net may skip the (positions × items) logits."""
    _, loss = net(**inputs, need_logits=False)
    return loss, float((inputs["targets"] != PAD).sum())


def _batch_inputs(batch: Batch, causal: bool) -> Inputs:
    inputs = {
        "items": batch.items,
        "behaviours": batch.behaviours,
        "gaps": batch.gaps,
        "targets": batch.targets,
        "causal": causal,
    }
    if batch.ratings is not None:
        inputs["ratings"] = batch.ratings
    if batch.reviews is not None:
        inputs["reviews"] = batch.reviews
    if batch.next_behaviours is not None:
        inputs["next_behaviours"] = batch.next_behaviours
    return inputs


class _SequenceEpochs:
    """What the sequence objectives share: an epoch is the windows in length-bucketed
    batches, read from ``seqs`` or, with ``shuffle_ties``, from this epoch's copy with tied
    events reshuffled (:func:`~lmrec.train.sequences.shuffle_tied_runs`)."""

    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        if self.shuffle_ties:
            self.epoch_seqs = shuffle_tied_runs(self.seqs, rng)
        return bucketed_batches(self.windows.lengths, batch_size, rng)

    @property
    def current_seqs(self) -> UserSequences:
        return self.seqs if self.epoch_seqs is None else self.epoch_seqs


@dataclass
class NextItem(_SequenceEpochs):
    """Causal next-item: inputs are events 0..n-2 of each window, targets events 1..n-1.

    ``target_behaviour`` (a behaviour index + 1) keeps only next events of that behaviour
    as targets ("what will they buy next"). ``shuffle_ties`` reorders each user's tied events
    at random every epoch (:func:`~lmrec.train.sequences.shuffle_tied_runs`). ``features``:
    the per-event source features the inputs carry (ratings, review vectors).
    ``tell_behaviour``: every next event is a target, and the net is told its behaviour
    (``predict_behaviours`` nets; inference asks for ``target_behaviour``).
    """

    seqs: UserSequences
    windows: Windows
    target_behaviour: int | None = None
    shuffle_ties: bool = False
    features: tuple[str, ...] = ()
    tell_behaviour: bool = False
    #: This epoch's sequences (``seqs`` with tied runs reshuffled), set by ``batches``.
    epoch_seqs: UserSequences | None = field(default=None, repr=False)
    causal = True

    @staticmethod
    def span(max_len: int) -> int:
        """Window length for ``max_len`` input positions: the last event is only a target."""
        return max_len

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Inputs:
        batch = causal_batch(
            self.current_seqs,
            self.windows,
            idx,
            self.target_behaviour,
            self.features,
            self.tell_behaviour,
        )
        return _batch_inputs(batch, True)

    loss = staticmethod(_targets_loss)

    @staticmethod
    def inference(
        seqs: UserSequences,
        rows: np.ndarray,
        max_len: int,
        mask_index: int,
        next_behaviour: int | None = None,
        features: tuple[str, ...] = (),
    ) -> Inputs:
        """Inputs whose last position's logits score what comes after each history; a
        ``predict_behaviours`` net reads ``next_behaviour`` (default "click") there."""
        kw = {} if next_behaviour is None else {"next_behaviour": next_behaviour}
        batch = inference_batch(seqs, rows, max_len, features=features, **kw)
        return _batch_inputs(batch, True)


@dataclass
class MaskedItem(_SequenceEpochs):
    """Masked item: hide random events behind ``[MASK]`` and predict them (bidirectional).

    ``target_behaviour`` (a behaviour index + 1) hides only events of that behaviour: on
    data without time order (JD) a buy is predicted from every other event, before or after
    it in the file, instead of from the ones that happen to precede it.
    """

    seqs: UserSequences
    windows: Windows
    mask_index: int
    mask_prob: float = 0.2
    target_behaviour: int | None = None
    shuffle_ties: bool = False  # as NextItem's
    features: tuple[str, ...] = ()  # as NextItem's; hidden at masked events
    epoch_seqs: UserSequences | None = field(default=None, repr=False)
    causal = False

    @staticmethod
    def span(max_len: int) -> int:
        """Masked inputs keep every event, so windows are one shorter to fit max_len."""
        return max_len - 1

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Inputs:
        batch = masked_batch(
            self.current_seqs,
            self.windows,
            idx,
            self.mask_index,
            self.mask_prob,
            rng,
            target_behaviour=self.target_behaviour,
            features=self.features,
        )
        return _batch_inputs(batch, False)

    loss = staticmethod(_targets_loss)

    @staticmethod
    def inference(
        seqs: UserSequences,
        rows: np.ndarray,
        max_len: int,
        mask_index: int,
        next_behaviour: int | None = None,
        features: tuple[str, ...] = (),
    ) -> Inputs:
        """History + a trailing ``[MASK]`` carrying ``next_behaviour`` (default "click"):
        its logits are the next-item scores."""
        kw = {} if next_behaviour is None else {"next_behaviour": next_behaviour}
        batch = inference_batch(seqs, rows, max_len, mask_index, features=features, **kw)
        return _batch_inputs(batch, False)


@dataclass
class HiddenRating:
    """Rating prediction: hide about ``hide_prob`` of each user's rated events (at least
    one, at most ``max_queries``) and predict their ratings from the other events, whose
    ratings are shown as tokens. That is the test situation of a random rating split (the
    user's other ratings known, these to predict), so training and inference read the same
    inputs. Examples are users with at least two rated events; an epoch draws each one
    ``draws`` times (with fresh hidden sets), so that about every rating is hidden once.
    """

    seqs: UserSequences
    max_len: int
    hide_prob: float = 0.2
    max_queries: int = 64
    draws: int = 5

    def __post_init__(self) -> None:
        if self.seqs.ratings is None:
            raise ConfigError("the rating task needs sequences with ratings")
        self.rated = [np.flatnonzero(~np.isnan(r)) for r in self.seqs.ratings]
        counts = np.array([len(r) for r in self.rated])
        self.users = np.flatnonzero(counts >= 2)
        self.lengths = np.minimum(np.array([len(s) for s in self.seqs.items]), self.max_len)

    @property
    def n_examples(self) -> int:
        return len(self.users)

    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        examples = np.tile(np.arange(len(self.users)), self.draws)
        batches = bucketed_batches(self.lengths[self.users[examples]], batch_size, rng)
        return [examples[b] for b in batches]

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Inputs:
        users = self.users[idx]
        hidden = []
        for u in users:
            rated = self.rated[u]
            chosen = rated[rng.random(len(rated)) < self.hide_prob]
            if len(chosen) == 0:
                chosen = rng.choice(rated, 1)
            if len(chosen) >= len(rated):  # keep one rating visible
                chosen = chosen[:-1]
            if len(chosen) > self.max_queries:
                chosen = rng.choice(chosen, self.max_queries, replace=False)
            hidden.append(np.sort(chosen))
        queries = [self.seqs.items[u][h] for u, h in zip(users, hidden, strict=True)]
        inputs = rating_batch(self.seqs, users, queries, self.max_len, hidden=hidden)
        targets = np.full(inputs["queries"].shape, np.nan, dtype=np.float32)
        for row, (u, h) in enumerate(zip(users, hidden, strict=True)):
            targets[row, : len(h)] = self.seqs.ratings[u][h]
        inputs["rating_targets"] = torch.from_numpy(targets)
        return inputs

    @staticmethod
    def loss(net: torch.nn.Module, inputs: Inputs) -> tuple[torch.Tensor, float]:
        targets = inputs["rating_targets"]
        model_inputs = {k: v for k, v in inputs.items() if k != "rating_targets"}
        predicted, _ = net(**model_inputs)  # (B, Q)
        known = ~torch.isnan(targets)
        n = float(known.sum())
        if n == 0:
            return predicted.sum() * 0.0, 0.0
        return ((predicted[known] - targets[known]) ** 2).mean(), n


@dataclass
class WithTask:
    """Multi-task: ``L = w · L_sequence + λ · L_task`` on one backbone, where the task is
    :class:`HiddenRating` or :class:`~lmrec.train.behaviour.PredictBehaviour`. Each step
    takes a batch of the sequence objective and a batch of as many task examples (drawn
    afresh each step), so both tasks shape every update."""

    base: NextItem | MaskedItem
    task: Any  # HiddenRating | PredictBehaviour: batches over n_examples examples
    weight: float  # λ
    sequence_weight: float = 1.0  # w
    #: "fixed", or "uncertainty": ``Σ_t exp(-s_t)·w_t·L_t + s_t`` with ``s_t`` learned (the
    #: net's ``task_log_vars``, Kendall, Gal & Cipolla 2018), so a task whose loss stays
    #: large is down-weighted without a hand-tuned λ.
    weighting: str = "fixed"

    @property
    def windows(self) -> Windows:
        return self.base.windows

    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        return self.base.batches(rng, batch_size)

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Inputs:
        n = min(len(idx), self.task.n_examples)
        examples = rng.choice(self.task.n_examples, n, replace=False)
        return {"sequence": self.base.batch(idx, rng), "task": self.task.batch(examples, rng)}

    def loss(self, net: torch.nn.Module, inputs: Inputs) -> tuple[torch.Tensor, float]:
        loss, n = self.base.loss(net, inputs["sequence"])
        task_loss, _ = self.task.loss(net, inputs["task"])
        if self.weighting == "uncertainty":
            s = getattr(net, "module", net).task_log_vars  # the net itself under DDP
            weighted = torch.exp(-s[0]) * self.sequence_weight * loss + s[0]
            return weighted + torch.exp(-s[1]) * self.weight * task_loss + s[1], n
        return self.sequence_weight * loss + self.weight * task_loss, n


#: Sequence objectives by the name ``SequenceTransformer(objective=...)`` takes.
SEQUENCE_OBJECTIVES: dict[str, type[NextItem] | type[MaskedItem]] = {
    "causal": NextItem,
    "masked": MaskedItem,
}


def objective_class(name: str) -> type[NextItem] | type[MaskedItem]:
    """The sequence objective called ``name``; an unknown name is a :class:`ConfigError`."""
    if name not in SEQUENCE_OBJECTIVES:
        raise ConfigError(f"objective must be one of {tuple(SEQUENCE_OBJECTIVES)}, got {name!r}")
    return SEQUENCE_OBJECTIVES[name]


def sequence_objective(
    name: str,
    seqs: UserSequences,
    max_len: int,
    *,
    mask_index: int,
    mask_prob: float = 0.2,
    target_behaviour: int | None = None,
    shuffle_ties: bool = False,
    features: tuple[str, ...] = (),
    tell_behaviour: bool = False,
) -> NextItem | MaskedItem:
    """The objective ``name`` over windows of ``seqs`` that fit ``max_len`` positions."""
    cls = objective_class(name)
    windows = training_windows(seqs, cls.span(max_len))
    if cls is NextItem:
        return NextItem(seqs, windows, target_behaviour, shuffle_ties, features, tell_behaviour)
    return MaskedItem(
        seqs, windows, mask_index, mask_prob, target_behaviour, shuffle_ties, features
    )


@dataclass
class CategoryMix:
    """Multi-task: a sequence objective plus a diversity-aware task,
    ``L = L_base + λ · KL(p_u || (1 - α) q + α p_u)``.

    ``q`` is the category mix the model predicts at each target position (its softmax over
    items times each item's category weights), ``p_u`` the category mix of the window's own
    items (the user's interests in this stretch of history). Penalising the KL, Steck's
    miscalibration with α = 0.01, trains the model to spread its probability over all of a
    user's interests rather than only the strongest one, what calibrated re-ranking does
    after the fact. ``weights`` is (n_items + 2, n_categories) in the net's row order
    (padding and [MASK] rows zero). Needs full-softmax logits (no ``sampled_softmax``).
    """

    base: NextItem | MaskedItem
    weights: torch.Tensor
    weight: float
    alpha: float = 0.01

    @property
    def windows(self) -> Windows:
        return self.base.windows

    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        return self.base.batches(rng, batch_size)

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Inputs:
        inputs = self.base.batch(idx, rng)
        items = inputs["items"]
        mix = self.weights[items].sum(dim=1)  # (B, C); pad/[MASK] rows are zero
        mix = mix / mix.sum(dim=1, keepdim=True).clamp(min=1e-12)
        inputs["category_mix"] = mix
        return inputs

    def loss(self, net: torch.nn.Module, inputs: Inputs) -> tuple[torch.Tensor, float]:
        mix = inputs["category_mix"]
        model_inputs = {k: v for k, v in inputs.items() if k != "category_mix"}
        logits, loss = net(**model_inputs)
        targets = model_inputs["targets"]
        where = targets != PAD
        n = float(where.sum())
        if logits.shape[0] == 0 or self.weight == 0:
            return loss, n
        rows = torch.nonzero(where, as_tuple=True)[0]  # the row of each target position
        p = mix[rows]  # (P, C)
        q = torch.softmax(logits, dim=1) @ self.weights[1 : logits.shape[1] + 1]  # (P, C)
        mixed = (1 - self.alpha) * q + self.alpha * p
        kl = torch.where(p > 0, p * (torch.log(p.clamp(min=1e-12)) - torch.log(mixed)), 0.0)
        return loss + self.weight * kl.sum(dim=1).mean(), n


@dataclass
class HeldOutEvent:
    """Predict each event from the user's other evidence (MultiInterest's objective).

    ``sources`` is a :class:`~lmrec.models.multi_interest.SourceData`: ``inputs(users,
    drop_events=events)`` pools each user's evidence without that event. Examples are event
    indices into ``sources``; every example has one target (the event's item).
    """

    sources: Any
    events: np.ndarray

    def batches(self, rng: np.random.Generator, batch_size: int) -> list[np.ndarray]:
        order = rng.permutation(len(self.events))
        return [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Inputs:
        ev = self.events[idx]
        inputs = self.sources.inputs(self.sources.users[ev], drop_events=ev)
        targets = torch.from_numpy(self.sources.items[ev].astype(np.int64) + 1)
        return {"inputs": inputs, "targets": targets}

    @staticmethod
    def loss(net: torch.nn.Module, inputs: Inputs) -> tuple[torch.Tensor, float]:
        _, loss = net(*inputs["inputs"], targets=inputs["targets"])
        return loss, float(len(inputs["targets"]))


__all__ = [
    "SEQUENCE_OBJECTIVES",
    "CategoryMix",
    "HeldOutEvent",
    "HiddenRating",
    "MaskedItem",
    "NextItem",
    "Objective",
    "WithTask",
    "objective_class",
    "sequence_objective",
]
