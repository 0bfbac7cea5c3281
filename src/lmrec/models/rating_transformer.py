"""RatingTransformer: the behaviour Transformer with a rating head, one backbone, two tasks.

    L = w_seq · L_next-item + λ · L_rating

The backbone is :class:`~lmrec.models.sequential.SequenceTransformer`'s; the rating head reads
the user's history (each event's item, behaviour, time gap and *rating token*) and, for each
item to rate, a query token that attends to that history and to itself:

    r̂(u, i) = μ + w · h_query(u, i) + b_i

Training hides about ``hide_prob`` of each user's ratings and predicts them from the rest
(:class:`~lmrec.train.objectives.HiddenRating`), which is exactly the test situation of a
random rating split. ``sequence_weight=0`` trains the rating task alone; then rankings,
``predict_proba`` and interests are over predicted ratings (a softmax of them) instead of
next-item logits.

Early stopping follows ``stop_on``: ``"rmse"`` (default) on the held-out ratings, ``"ndcg"``
on the next-item validation targets. Rated validation events are taken from ``valid`` when it
has ratings (a random 80/10/10 split), otherwise ``rating_holdout`` of the training ratings
are held out, seeded (k-fold cross-validation fits without a validation part); the model
then conditions on every training event, held-out ones included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from lmrec.data.schema import Dataset
from lmrec.data.split import hold_out_ratings, rated_events
from lmrec.errors import ConfigError
from lmrec.evaluate.metrics import rmse
from lmrec.models.ratings import _lookup, pair_ids
from lmrec.models.sequential import SequenceTransformer
from lmrec.models.transformer import SequenceTransformerNet
from lmrec.train.loop import TrainHistory
from lmrec.train.loop import train as run_training
from lmrec.train.objectives import HiddenRating, WithTask
from lmrec.train.sequences import UserSequences, rating_batch

STOP_ON = ("rmse", "ndcg")


class RatingTransformer(SequenceTransformer):
    """The behaviour Transformer trained on next items and ratings together.

    Parameters: every :class:`SequenceTransformer` parameter, plus ``rating_weight`` (λ),
    ``sequence_weight`` (0 = the rating task alone), ``hide_prob`` (share of a user's
    ratings hidden per training example), ``rating_holdout`` and ``stop_on``.
    """

    model_type = "transformer-rating"
    saves_ratings = True
    sources_refused = "transformer-rating already reads the history's ratings"
    capabilities = (SequenceTransformer.capabilities - {"update"}) | {"predict_ratings"}
    own_params: ClassVar[dict[str, Any]] = {
        **SequenceTransformer.own_params,
        "rating_weight": 1.0,
        "sequence_weight": 1.0,
        "hide_prob": 0.2,
        "rating_holdout": 0.05,
        "stop_on": "rmse",
    }

    def _validate_params(self) -> None:
        super()._validate_params()
        if not self.rating_weight > 0:
            raise ConfigError(f"rating_weight must be > 0, got {self.rating_weight}")
        if not self.sequence_weight >= 0:
            raise ConfigError(f"sequence_weight must be >= 0, got {self.sequence_weight}")
        if not 0 < self.hide_prob < 1:
            raise ConfigError(f"hide_prob must be in (0, 1), got {self.hide_prob}")
        if not 0 < self.rating_holdout < 1:
            raise ConfigError(f"rating_holdout must be in (0, 1), got {self.rating_holdout}")
        if self.stop_on not in STOP_ON:
            raise ConfigError(f"stop_on must be one of {STOP_ON}, got {self.stop_on!r}")
        if self.task_weighting == "uncertainty" and self.sequence_weight == 0:
            raise ConfigError(
                "task_weighting='uncertainty' weighs two tasks; with sequence_weight=0 there is one"
            )
        if self.stop_on == "ndcg" and self.sequence_weight == 0:
            raise ConfigError("stop_on='ndcg' needs the next-item task (sequence_weight > 0)")
        if self.diversity_weight > 0:
            raise ConfigError("transformer-rating does not combine with diversity_weight")

    def _head_fields(self) -> dict[str, object]:
        return {"rating_head": True}

    # --------------------------------------------------------------------- fit
    def _fit(self, train_data: Dataset, valid: Dataset | None) -> None:
        rated = train_data.interactions["rating"].notna()
        if not rated.any():
            raise ConfigError(
                f"{train_data.name}: no ratings to learn from; transformer-rating needs rated "
                "events (use transformer for implicit feedback)"
            )
        self.rating_scale_ = (
            float(train_data.interactions.loc[rated, "rating"].min()),
            float(train_data.interactions.loc[rated, "rating"].max()),
        )
        self.rating_mean_ = float(train_data.interactions.loc[rated, "rating"].mean())
        held = None if valid is None else rated_events(valid.interactions)
        fit_data = train_data
        if held is None or len(held) == 0:
            fit_data, held = hold_out_ratings(train_data, self.rating_holdout, self.seed)
        self._rating_valid = held
        super()._fit(fit_data, valid)
        if fit_data is not train_data:  # condition on every training event from now on
            self.sequences_ = self._sequences(train_data)
        del self._rating_valid

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
        with torch.no_grad():
            net.rating_mean.fill_(self.rating_mean_)
        rating = HiddenRating(seqs, self.max_len, self.hide_prob)
        if len(rating.users) == 0:
            raise ConfigError(f"{data.name}: no user has 2 or more ratings; nothing to learn from")
        objective: Any = rating
        if self.sequence_weight > 0:
            base = self._sequence_objective(net, seqs)
            objective = WithTask(
                base, rating, self.rating_weight, self.sequence_weight, self.task_weighting
            )
        if self.stop_on == "ndcg":
            from lmrec.evaluate.ranking import validation_ndcg

            validate = validation_ndcg(self, data, valid, data.matrix("binary"), self.eval_mode)
        else:
            held = self._rating_valid

            def validate() -> float:
                predicted = self._predict_pairs(seqs, held["user_id"], held["item_id"], net)
                return -rmse(predicted, held["rating"].to_numpy(dtype=np.float64))

        return run_training(
            net,
            objective,
            self.train_config(),
            validate=validate,
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            progress=self.progress,
            parameters=parameters,
            score_name="valid_ndcg@10" if self.stop_on == "ndcg" else "valid_neg_rmse",
        )

    # ----------------------------------------------------------------- predict
    def predict(self, user_ids: Sequence[object], item_ids: Sequence[object]) -> np.ndarray:
        """Predicted ratings of (user, item) pairs of external ids, clipped to the scale seen
        in training. An unknown user is rated from an empty history, an unknown item as a
        generic item (the query token alone)."""
        self._check_fitted()
        users, items = pair_ids(user_ids, item_ids)
        predicted = self._predict_pairs(self.sequences_, users, items, self._scoring_net())
        return np.clip(predicted, *self.rating_scale_)

    @torch.no_grad()
    def _predict_pairs(
        self,
        seqs: UserSequences,
        user_ids: Sequence[object],
        item_ids: Sequence[object],
        net: torch.nn.Module,
        chunk: int = 128,
    ) -> np.ndarray:
        """Unclipped predictions for pairs of external ids, grouped by user."""
        was_training = net.training
        net.eval()
        users, items = list(user_ids), list(item_ids)
        known_u, u = _lookup(users, self.idmap_.has_user, self.idmap_.user_index)
        known_i, i = _lookup(items, self.idmap_.has_item, self.idmap_.item_index)
        queries = np.where(known_i, i + 1, 0)  # 0: the query token alone
        # Unknown users read an empty history: an extra row past the known ones.
        empty = len(seqs)
        rows = np.where(known_u, u, empty)
        padded = _with_empty_row(seqs)
        out = np.empty(len(users), dtype=np.float64)
        order = np.argsort(rows, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(rows[order])) + 1)
        groups = [g for g in groups if len(g)]
        for lo in range(0, len(groups), chunk):
            part = groups[lo : lo + chunk]
            inputs = rating_batch(
                padded, rows[[g[0] for g in part]], [queries[g] for g in part], self.max_len
            )
            predicted = net(**inputs)[0].numpy()
            for row, g in enumerate(part):
                out[g] = predicted[row, : len(g)]
        if was_training:
            net.train()
        return out

    def _score_sequences(
        self, seqs: UserSequences, rows: np.ndarray, chunk: int = 1024
    ) -> np.ndarray:
        """Next-item logits, or with ``sequence_weight=0`` every item's predicted rating."""
        if self.sequence_weight > 0:
            return super()._score_sequences(seqs, rows, chunk)
        net = self._scoring_net()
        n = self.idmap_.n_items
        out = np.empty((len(rows), n), dtype=np.float32)
        every = np.arange(1, n + 1)
        with torch.no_grad():
            for lo in range(0, len(rows), 16):
                part = np.asarray(rows[lo : lo + 16])
                for start in range(0, n, 512):
                    q = every[start : start + 512]
                    inputs = rating_batch(seqs, part, [q] * len(part), self.max_len)
                    out[lo : lo + len(part), start : start + len(q)] = net(**inputs)[0].numpy()
        return out

    def prepare_for_serving(self) -> None:
        if self.sequence_weight > 0:  # rating-only scores are not products of user states
            super().prepare_for_serving()

    def explain(self, *args: Any, **kwargs: Any) -> Any:
        if self.sequence_weight == 0:
            raise ConfigError(
                "explanations attribute next-item scores; this model was trained on ratings "
                "alone (sequence_weight=0)"
            )
        return super().explain(*args, **kwargs)

    # ----------------------------------------------------------------- persist
    def _state(self) -> dict[str, np.ndarray]:
        state = super()._state()
        state["rating_scale"] = np.array(self.rating_scale_, dtype=np.float64)
        state["rating_mean"] = np.array([self.rating_mean_], dtype=np.float64)
        return state

    def _load_state(self, arrays: dict[str, Any]) -> None:
        super()._load_state(arrays)  # sequences with their ratings
        self.rating_scale_ = tuple(float(x) for x in arrays["rating_scale"])
        self.rating_mean_ = float(arrays["rating_mean"][0])


def _with_empty_row(seqs: UserSequences) -> UserSequences:
    """``seqs`` plus one empty sequence at the end (for users the model never saw)."""
    none = np.zeros(0, dtype=np.int64)
    ratings = None if seqs.ratings is None else [*seqs.ratings, np.zeros(0)]
    return UserSequences(
        [*seqs.items, none], [*seqs.behaviours, none], [*seqs.timestamps, np.zeros(0)], ratings
    )


__all__ = ["RatingTransformer"]
