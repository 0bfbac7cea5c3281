"""BehaviourTransformer: the behaviour Transformer with a head for "will this user do it?".

    L = w_seq · L_next-item + λ · L_behaviour        (L_behaviour: binary cross-entropy)

The backbone is :class:`~lmrec.models.sequential.SequenceTransformer`'s. For a candidate
item, a query token (the item's vector plus a learned behaviour-query vector) attends to the
user's history and to itself; ``P(behaviour | history, item) = σ((w · h_q + b_i) / T)``.
The task (:mod:`lmrec.train.behaviour`) is ``buy`` on multi-behaviour data (views and
favourites as history, a buy as the positive) or ``like`` on rated data (rating ≥
``like_threshold`` positive, lower ratings negative), each target event with ``negatives``
sampled negatives. Training stops early on validation AUC; the temperature ``T`` is then fitted
on the validation candidates (LogLoss), so probabilities are calibrated and the order of
candidates is unchanged. ``sequence_weight=0`` trains the behaviour task alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from lmrec.data.schema import Dataset
from lmrec.data.split import Split
from lmrec.errors import ConfigError
from lmrec.evaluate.binary import auc, fit_binary_temperature, sigmoid
from lmrec.models.ratings import _lookup, pair_ids
from lmrec.models.sequential import SequenceTransformer
from lmrec.models.transformer import SequenceTransformerNet
from lmrec.train.behaviour import (
    TARGETS,
    BehaviourTask,
    Examples,
    NegativeSampler,
    PredictBehaviour,
    behaviour_logits,
    behaviour_task,
    held_out_examples,
    training_positives,
)
from lmrec.train.loop import TrainHistory
from lmrec.train.loop import train as run_training
from lmrec.train.objectives import WithTask
from lmrec.train.sequences import UserSequences


class BehaviourTransformer(SequenceTransformer):
    """The behaviour Transformer trained on next items and a behaviour task together.

    Parameters: every :class:`SequenceTransformer` parameter, plus ``target`` (``auto``,
    ``buy`` or ``like``), ``like_threshold``, ``negatives`` (per positive), ``hard_share``
    (share of ``buy`` negatives from the user's own unbought history, default 0),
    ``behaviour_weight`` (λ) and ``sequence_weight`` (0 = the behaviour task alone).
    """

    model_type = "transformer-behaviour"
    saves_ratings = True  # the like task reads the history's ratings
    sources_refused = "transformer-behaviour reads behaviours (and ratings for 'like')"
    capabilities = (SequenceTransformer.capabilities - {"update"}) | {"predict_behaviour"}
    own_params: ClassVar[dict[str, Any]] = {
        **SequenceTransformer.own_params,
        "target": "auto",
        "like_threshold": 4.0,
        "negatives": 4,
        "hard_share": 0.0,
        "behaviour_weight": 1.0,
        "sequence_weight": 1.0,
    }

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.target not in TARGETS:
            raise ConfigError(f"target must be one of {TARGETS}, got {self.target!r}")
        if not (isinstance(self.negatives, int) and self.negatives >= 1):
            raise ConfigError(f"negatives must be an integer >= 1, got {self.negatives!r}")
        if not 0 <= self.hard_share <= 1:
            raise ConfigError(f"hard_share must be in [0, 1], got {self.hard_share}")
        if not self.behaviour_weight > 0:
            raise ConfigError(f"behaviour_weight must be > 0, got {self.behaviour_weight}")
        if not self.sequence_weight >= 0:
            raise ConfigError(f"sequence_weight must be >= 0, got {self.sequence_weight}")
        if self.diversity_weight > 0:
            raise ConfigError("transformer-behaviour does not combine with diversity_weight")
        if self.task_weighting == "uncertainty" and self.sequence_weight == 0:
            raise ConfigError(
                "task_weighting='uncertainty' weighs two tasks; with sequence_weight=0 there is one"
            )

    def _head_fields(self) -> dict[str, object]:
        # "like" reads the ratings of the history: what the user liked before is the evidence
        return {"behaviour_head": True, "rating_tokens": self.task_.kind == "like"}

    # --------------------------------------------------------------------- fit
    def _fit(self, train_data: Dataset, valid: Dataset | None) -> None:
        self.task_ = behaviour_task(
            train_data, self.target, self.like_threshold, self.negatives, self.hard_share
        )
        self.behaviour_temperature_ = 1.0
        super()._fit(train_data, valid)
        examples = self._valid_examples
        del self._valid_examples
        if examples is not None:
            logits = behaviour_logits(self.net_, self.sequences_, examples, self.max_len)
            labels = examples.labels.ravel()
            self.behaviour_temperature_ = fit_binary_temperature(labels, logits.ravel())

    def _train(
        self,
        net: SequenceTransformerNet,
        seqs: UserSequences,
        data: Dataset,
        valid: Dataset | None,
        parameters=None,
        checkpoint_dir=None,
        resume: bool = False,
    ) -> TrainHistory:
        sampler = NegativeSampler(self.task_, seqs, data.n_items)
        task = PredictBehaviour(seqs, training_positives(self.task_, seqs), sampler, self.max_len)
        objective: Any = task
        if self.sequence_weight > 0:
            base = self._sequence_objective(net, seqs)
            objective = WithTask(
                base, task, self.behaviour_weight, self.sequence_weight, self.task_weighting
            )
        examples = None
        if valid is not None and len(valid.interactions):
            examples = held_out_examples(self.task_, data, seqs, valid.interactions, self.seed)
            labels = examples.labels.ravel()
            if len(examples) == 0 or labels.min() == labels.max():
                examples = None  # nothing to compute an AUC on: train every epoch
        self._valid_examples = examples
        validate = None
        if examples is not None:

            def validate() -> float:
                logits = behaviour_logits(net, seqs, examples, self.max_len)
                return auc(examples.labels.ravel(), logits.ravel())

        return run_training(
            net,
            objective,
            self.train_config(),
            validate=validate,
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            progress=self.progress,
            parameters=parameters,
            score_name="valid_auc",
        )

    # ----------------------------------------------------------------- predict
    def behaviour_examples(self, split: Split, on: str = "test", seed: int = 0) -> Examples:
        """The held-out candidates of ``split``'s ``on`` part for this model's task, with the
        history this model conditions on (fit it with ``fit_split(split, on)`` first)."""
        self._check_fitted()
        return held_out_examples(
            self.task_, split.fit_data(on), self.sequences_, split.targets(on), seed
        )

    def behaviour_logits(self, examples: Examples) -> np.ndarray:
        """Uncalibrated logits (E, 1 + negatives) of ``examples``' candidates."""
        self._check_fitted()
        return behaviour_logits(self._scoring_net(), self.sequences_, examples, self.max_len)

    def predict_behaviour(
        self, user_ids: Sequence[object], item_ids: Sequence[object]
    ) -> np.ndarray:
        """Calibrated P(target behaviour | history, item) for (user, item) pairs of external
        ids. An unknown user has an empty history; an unknown item is a generic item (the
        query token alone)."""
        self._check_fitted()
        users, items = pair_ids(user_ids, item_ids)
        known_u, u = _lookup(list(users), self.idmap_.has_user, self.idmap_.user_index)
        known_i, i = _lookup(list(items), self.idmap_.has_item, self.idmap_.item_index)
        rows = np.where(known_u, u, 0)
        ends = np.where(known_u, [len(self.sequences_.items[r]) for r in rows], 0)
        queries = np.where(known_i, i + 1, 0)[:, None]
        examples = Examples(
            rows.astype(np.int64), ends.astype(np.int64), queries, np.zeros(queries.shape)
        )
        logits = self.behaviour_logits(examples)[:, 0]
        return sigmoid(logits / self.behaviour_temperature_)

    # ----------------------------------------------------------------- persist
    def _state(self) -> dict[str, np.ndarray]:
        state = super()._state()
        state["behaviour.temperature"] = np.array([self.behaviour_temperature_])
        state["behaviour.task"] = self.task_.to_array()
        return state

    def _load_state(self, arrays: dict[str, Any]) -> None:
        self.task_ = BehaviourTask.from_array(arrays["behaviour.task"])
        super()._load_state(arrays)  # builds the net, whose config follows the task
        self.behaviour_temperature_ = float(arrays["behaviour.temperature"][0])


__all__ = ["BehaviourTransformer"]
