"""LightGBM on hand-made features: the behaviour-prediction baseline a shop would build first.

For a candidate item ``i`` after user ``u``'s history ``H`` (the events before the target),
the features are:

- ``n_<behaviour>``: how often ``i`` appears in ``H`` with each behaviour (views, favourites,
  buys, ratings, ...);
- ``since_last``: events since ``i`` last appeared in ``H`` (missing when it never did);
- ``item_<behaviour>``: log(1 + the item's events of each behaviour in the fitting data),
  and ``item_mean_rating``, ``item_n_ratings``;
- ``user_events``, ``user_buys``, ``user_mean_rating``: the history's size, buys and mean
  rating;
- ``affinity``: how much of ``H`` falls in ``i``'s categories (the history's category
  distribution averaged over ``i``'s categories; 0 without categories).

For a training example the item statistics leave out the example's own event, so a positive
never sees itself. Training examples, negatives, early stopping (validation AUC) and
temperature calibration follow the Transformer's behaviour head
(:mod:`lmrec.train.behaviour`), so both are scored on the same candidates. Scores for every
item (rankings) are the model's logits after the user's whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.data.split import Part, Split
from lmrec.errors import ConfigError
from lmrec.evaluate.binary import fit_binary_temperature, sigmoid
from lmrec.models.base import Recommender
from lmrec.models.checks import check_float, check_int, check_state
from lmrec.models.ratings import _lookup, pair_ids
from lmrec.train.behaviour import (
    TARGETS,
    BehaviourTask,
    Examples,
    NegativeSampler,
    behaviour_task,
    held_out_examples,
    training_positives,
    with_negatives,
)
from lmrec.train.sequences import (
    UserSequences,
    sequence_arrays,
    sequences_from_arrays,
    user_sequences,
)

FEATURES: tuple[str, ...] = (
    *(f"n_{b}" for b in BEHAVIOURS),
    "since_last",
    *(f"item_{b}" for b in BEHAVIOURS),
    "item_mean_rating",
    "item_n_ratings",
    "user_events",
    "user_buys",
    "user_mean_rating",
    "affinity",
)
_BUY = BEHAVIOURS.index("buy") + 1


def _category_weights(data: Dataset) -> np.ndarray:
    """(n_items, n_categories): 1/|categories of i| on each of i's categories."""
    cats = [list(map(str, c)) for c in data.items["categories"]]
    names = sorted({c for cs in cats for c in cs})
    index = {c: j for j, c in enumerate(names)}
    w = np.zeros((len(cats), len(names)), dtype=np.float32)
    for i, cs in enumerate(cats):
        for c in cs:
            w[i, index[c]] = 1.0 / len(cs)
    return w


class HistoryFeatures:
    """The features above for (user, history end, item) candidates of one fitted data set."""

    def __init__(self, seqs: UserSequences, categories: np.ndarray):
        self.seqs = seqs
        self.categories = categories  # (n_items, n_categories), see _category_weights
        n = categories.shape[0]
        items = np.concatenate(seqs.items) - 1
        kinds = np.concatenate(seqs.behaviours) - 1
        ratings = (
            np.concatenate(seqs.ratings)
            if seqs.ratings is not None
            else np.full(len(items), np.nan)
        )
        self.item_counts = np.zeros((n, len(BEHAVIOURS)), dtype=np.float64)
        np.add.at(self.item_counts, (items, kinds), 1.0)
        rated = ~np.isnan(ratings)
        self.item_rating_sum = np.bincount(items[rated], ratings[rated], minlength=n)
        self.item_rating_n = np.bincount(items[rated], minlength=n).astype(np.float64)

    @classmethod
    def from_data(cls, data: Dataset, seqs: UserSequences) -> HistoryFeatures:
        return cls(seqs, _category_weights(data))

    def _user_state(self, u: int) -> dict[str, np.ndarray]:
        """Cumulative per-position sums of one user's sequence (index e = first e events)."""
        items = self.seqs.items[u] - 1
        kinds = self.seqs.behaviours[u] - 1
        r = self.seqs.ratings[u] if self.seqs.ratings is not None else np.full(len(items), np.nan)
        zero = np.zeros(1)
        return {
            "items": items,
            "kinds": kinds,
            "ratings": r,
            "buys": np.concatenate([zero, np.cumsum(kinds == _BUY - 1)]),
            "r_sum": np.concatenate([zero, np.cumsum(np.nan_to_num(r))]),
            "r_n": np.concatenate([zero, np.cumsum(~np.isnan(r))]),
            "cats": np.vstack(
                [np.zeros((1, self.categories.shape[1])), np.cumsum(self.categories[items], 0)]
            ),
        }

    def for_user(self, u: int, ends: np.ndarray, items: np.ndarray, own: np.ndarray) -> np.ndarray:
        """(len(items), len(FEATURES)) for user ``u``: history ``[0, ends)``, candidate
        ``items`` (catalogue indices); ``own`` marks candidates that are the event at
        ``ends`` (a training positive), whose own event leaves the item statistics."""
        s = self._user_state(u)
        m = len(items)
        out = np.empty((m, len(FEATURES)), dtype=np.float32)
        nb = len(BEHAVIOURS)
        counts, last = self._occurrences(s, ends, items)
        out[:, :nb] = counts
        out[:, nb] = np.where(last >= 0, ends - last, np.nan)
        own_kind = np.zeros((m, nb))
        own_rating = np.zeros(m)
        own_rated = np.zeros(m)
        if own.any():
            at = ends[own]
            own_kind[np.flatnonzero(own), s["kinds"][at]] = 1.0
            r = s["ratings"][at]
            own_rating[own] = np.nan_to_num(r)
            own_rated[own] = ~np.isnan(r)
        out[:, nb + 1 : 2 * nb + 1] = np.log1p(self.item_counts[items] - own_kind)
        n_r = self.item_rating_n[items] - own_rated
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 2 * nb + 1] = np.where(
                n_r > 0, (self.item_rating_sum[items] - own_rating) / n_r, np.nan
            )
            out[:, 2 * nb + 2] = n_r
            out[:, 2 * nb + 3] = ends
            out[:, 2 * nb + 4] = s["buys"][ends]
            out[:, 2 * nb + 5] = np.where(
                s["r_n"][ends] > 0, s["r_sum"][ends] / s["r_n"][ends], np.nan
            )
            cats = s["cats"][ends]  # (m, C) category mass of each history
            total = cats.sum(1, keepdims=True)
            share = np.where(total > 0, cats / np.maximum(total, 1e-12), 0.0)
        out[:, 2 * nb + 6] = (share * (self.categories[items] > 0)).sum(1) / np.maximum(
            (self.categories[items] > 0).sum(1), 1
        )
        return out

    def _occurrences(
        self, s: dict[str, np.ndarray], ends: np.ndarray, items: np.ndarray, many: int = 256
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate: how often its item occurs in the history with each behaviour, and
        its last position there (-1: never). Candidates sharing one history end in large
        numbers (scoring every item) are read from per-item tables of that prefix; the few
        candidates of a training event from a candidates × history comparison."""
        nb = len(BEHAVIOURS)
        counts = np.zeros((len(items), nb), dtype=np.float32)
        last = np.full(len(items), -1, dtype=np.int64)
        unique, inverse, sizes = np.unique(ends, return_inverse=True, return_counts=True)
        small = sizes[inverse] <= many
        for j in np.flatnonzero(sizes > many):
            sel = np.flatnonzero(inverse == j)
            e = int(unique[j])
            table = np.zeros((self.categories.shape[0], nb), dtype=np.float32)
            np.add.at(table, (s["items"][:e], s["kinds"][:e]), 1.0)
            latest = np.full(self.categories.shape[0], -1, dtype=np.int64)
            np.maximum.at(latest, s["items"][:e], np.arange(e))
            counts[sel], last[sel] = table[items[sel]], latest[items[sel]]
        if small.any():
            sel = np.flatnonzero(small)
            pos = np.arange(len(s["items"]))
            match = (s["items"][None, :] == items[sel, None]) & (pos[None, :] < ends[sel, None])
            for b in range(nb):
                counts[sel, b] = (match & (s["kinds"] == b)[None, :]).sum(1)
            last[sel] = np.where(match, pos[None, :], -1).max(1, initial=-1)
        return counts, last

    def examples(self, examples: Examples, own_first: bool) -> np.ndarray:
        """Features of every candidate of ``examples``, in ``examples.flat()`` order.
        ``own_first``: each row's first candidate is the event at its end (training)."""
        q = examples.queries.shape[1]
        out = np.empty((len(examples) * q, len(FEATURES)), dtype=np.float32)
        order = np.argsort(examples.users, kind="stable")
        bounds = np.flatnonzero(np.diff(examples.users[order])) + 1
        for rows in np.split(order, bounds):
            if not len(rows):
                continue
            u = int(examples.users[rows[0]])
            ends = np.repeat(examples.ends[rows], q)
            items = examples.queries[rows].ravel() - 1
            own = np.zeros((len(rows), q), dtype=bool)
            own[:, 0] = own_first
            flat = (rows[:, None] * q + np.arange(q)).ravel()
            out[flat] = self.for_user(u, ends, items, own.ravel())
        return out


class LightGBMBehaviour(Recommender):
    """Gradient-boosted trees (LightGBM) predicting the behaviour task from hand-made features.

    Parameters: ``target``, ``like_threshold``, ``negatives`` and ``hard_share`` as the
    Transformer's behaviour head; ``num_leaves``, ``learning_rate``, ``n_estimators`` (the
    most; early stopping on validation AUC picks fewer), ``min_child_samples``, ``seed`` and
    ``num_threads`` (default 1: OpenMP threads spin while they wait; with two of them next to
    a busy process on 2 cores, a test's fit took 44 s instead of 2 s).
    """

    model_type = "lightgbm"
    capabilities = frozenset({"predict_behaviour"})

    def __init__(
        self,
        target: str = "auto",
        like_threshold: float = 4.0,
        negatives: int = 4,
        hard_share: float = 0.0,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        n_estimators: int = 500,
        min_child_samples: int = 20,
        early_stopping: int = 30,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        self.target = target
        self.like_threshold = like_threshold
        self.negatives = negatives
        self.hard_share = hard_share
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.min_child_samples = min_child_samples
        self.early_stopping = early_stopping
        self.num_threads = num_threads
        self.seed = seed

    def _validate_params(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(f"target must be one of {TARGETS}, got {self.target!r}")
        check_int(self, "negatives", low=1)
        check_float(self, "hard_share", low=0.0, high=1.0)
        check_int(self, "num_leaves", low=2)
        check_float(self, "learning_rate", low=0.0, low_open=True)
        check_int(self, "n_estimators", low=1)
        check_int(self, "min_child_samples", low=1)
        check_int(self, "early_stopping", low=1)
        check_int(self, "num_threads", low=1)
        check_int(self, "seed", low=0)

    # --------------------------------------------------------------------- fit
    def _fit(self, train: Dataset, valid: Dataset | None) -> None:
        import lightgbm as lgb

        self.task_ = behaviour_task(
            train, self.target, self.like_threshold, self.negatives, self.hard_share
        )
        seqs = user_sequences(train)
        features = HistoryFeatures.from_data(train, seqs)
        rng = np.random.default_rng(self.seed)
        sampler = NegativeSampler(self.task_, seqs, train.n_items)
        examples = with_negatives(training_positives(self.task_, seqs), sampler, rng)
        if len(examples) == 0:
            raise ConfigError(f"{train.name}: no {self.task_.kind} event has history before it")
        x = features.examples(examples, own_first=True)
        params = {
            "objective": "binary",
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_child_samples": self.min_child_samples,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "verbosity": -1,
            "metric": "auc",
        }
        train_set = lgb.Dataset(x, examples.labels.ravel(), feature_name=list(FEATURES))
        sets, callbacks, valid_x = [], [], None
        held = None
        if valid is not None and len(valid.interactions):
            held = held_out_examples(self.task_, train, seqs, valid.interactions, self.seed)
            labels = held.labels.ravel()
            if len(held) and labels.min() != labels.max():
                valid_x = features.examples(held, own_first=False)
                sets = [lgb.Dataset(valid_x, labels, reference=train_set)]
                callbacks = [lgb.early_stopping(self.early_stopping, verbose=False)]
        booster = lgb.train(
            params, train_set, self.n_estimators, valid_sets=sets, callbacks=callbacks
        )
        self.model_string_ = booster.model_to_string(num_iteration=booster.best_iteration or None)
        self.best_iteration_ = int(booster.best_iteration or self.n_estimators)
        self._booster = booster
        self.temperature_ = 1.0
        if valid_x is not None:
            logits = booster.predict(valid_x, raw_score=True, num_iteration=self.best_iteration_)
            self.temperature_ = fit_binary_temperature(held.labels.ravel(), logits)
        self._set_history(train)

    def fit_split(self, split: Split, on: Part = "test") -> LightGBMBehaviour:
        """Train on ``split.train`` stopping early on the validation targets; for ``test``,
        then read train + valid as history without retraining (as the Transformer does)."""
        self.fit(split.train, valid=split.train.with_interactions(split.valid))
        self.extend_fit(split, on)
        return self

    def extend_fit(self, split: Split, on: Part) -> bool:
        if on == "test":
            self._set_history(split.fit_data("test"))
            self.seen_ = split.fit_data("test").matrix("binary")
        return True

    def _set_history(self, data: Dataset) -> None:
        self.sequences_ = user_sequences(data)
        self._features = HistoryFeatures.from_data(data, self.sequences_)

    def _model(self) -> Any:
        booster = getattr(self, "_booster", None)
        if booster is None:
            import lightgbm as lgb

            booster = self._booster = lgb.Booster(model_str=self.model_string_)
        return booster

    def _logits(self, x: np.ndarray) -> np.ndarray:
        return self._model().predict(
            x, raw_score=True, num_iteration=self.best_iteration_, num_threads=self.num_threads
        )

    # ----------------------------------------------------------------- predict
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Logits of every item after each user's whole history."""
        n = self.idmap_.n_items
        every = np.arange(n)
        out = np.empty((len(users), n), dtype=np.float32)
        for row, u in enumerate(users):
            end = len(self.sequences_.items[u])
            x = self._features.for_user(int(u), np.full(n, end), every, np.zeros(n, dtype=bool))
            out[row] = self._logits(x)
        return out

    def predict_behaviour(
        self, user_ids: Sequence[object], item_ids: Sequence[object]
    ) -> np.ndarray:
        """Calibrated P(target behaviour | history, item); an unknown user has an empty
        history, an unknown item no statistics (every item feature 0 or missing)."""
        self._check_fitted()
        users, items = pair_ids(user_ids, item_ids)
        known_u, u = _lookup(list(users), self.idmap_.has_user, self.idmap_.user_index)
        known_i, i = _lookup(list(items), self.idmap_.has_item, self.idmap_.item_index)
        x = np.empty((len(users), len(FEATURES)), dtype=np.float32)
        for row in range(len(users)):
            if known_i[row]:
                user = int(u[row]) if known_u[row] else 0
                end = len(self.sequences_.items[user]) if known_u[row] else 0
                x[row] = self._features.for_user(
                    user, np.array([end]), np.array([i[row]]), np.zeros(1, dtype=bool)
                )[0]
            else:
                x[row] = np.nan
        return sigmoid(self._logits(x) / self.temperature_)

    # ----------------------------------------------------------------- persist
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "booster": np.frombuffer(self.model_string_.encode(), dtype=np.uint8).copy(),
            "temperature": np.array([self.temperature_, self.best_iteration_], dtype=np.float64),
            "task": self.task_.to_array(),
            "categories": self._features.categories,
            **sequence_arrays(self.sequences_, ratings=True),
        }

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        check_state(self, arrays, ["booster", "temperature", "task", "seq.lengths"])
        self.model_string_ = arrays["booster"].tobytes().decode()
        self.temperature_, best = arrays["temperature"].tolist()
        self.best_iteration_ = int(best)
        self.task_ = BehaviourTask.from_array(arrays["task"])
        self.sequences_ = sequences_from_arrays(arrays)
        self._features = HistoryFeatures(self.sequences_, arrays["categories"])


__all__ = ["FEATURES", "HistoryFeatures", "LightGBMBehaviour"]
