"""Cold-start protocols: new items nobody has touched, and new users with 1–3 events.

**cold-item.** A random ``fraction`` of the catalogue (seeded) is held out of training
entirely: every interaction with those items leaves train and validation. On the
leave-one-out split, the evaluated users are those whose test item is a cold item; each is
ranked against the cold items only (the "new arrivals" slate a shop would fill), with the
warm part of their history as context. A model that knows items only by ID has nothing to
go on for them; a model that reads item text does. ``evaluate_cold_items(...,
full_catalogue=True)`` ranks the same targets against every item instead, which also asks
whether a cold item can beat warm ones.

**cold-item-full** (:func:`evaluate_cold_items_full`): the same split, each cold target
ranked among *all* items (warm and cold, the user's items excluded): the situation of a
shop whose new arrivals must compete with its whole catalogue. Next to it, the users whose
test item is warm are ranked as usual (``warm_ndcg@10``), so a change that helps new items
shows what it costs the rest.

**cold-user.** A random ``fraction`` of the users with at least ``max(n_given) + 1``
events are new users: nothing of theirs is trained on. For each ``k`` in ``n_given`` a new
user's first ``k`` events are the history and event ``k + 1`` the target; every item is
ranked (full ranking) with the history excluded. The model must score raw histories
(``score_histories``), as a live service does for a visitor it has never seen.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmrec.data.schema import Dataset
from lmrec.data.split import Split, leave_one_out
from lmrec.errors import ConfigError, DataError
from lmrec.evaluate.metrics import aggregate, per_user_metrics
from lmrec.evaluate.ranking import EvalResult, evaluate_targets
from lmrec.models.base import Recommender


@dataclass(frozen=True)
class ColdItemSplit:
    """A leave-one-out split with the cold items removed from train and validation."""

    split: Split  # split.test holds only the targets that are cold items
    cold_items: np.ndarray  # external ids of the held-out items
    #: The leave-one-out test targets that are warm items (same context users).
    warm_test: pd.DataFrame | None = None
    #: Items outside this protocol's catalogue, never ranked (the nested protocol's: the
    #: outer cold items, which do not exist yet at that earlier step).
    unlisted: np.ndarray | None = None

    @property
    def protocol(self) -> str:
        return self.split.protocol


def cold_item_split(
    data: Dataset,
    fraction: float = 0.2,
    seed: int = 0,
    min_history: int = 3,
    among: np.ndarray | None = None,
) -> ColdItemSplit:
    """Hold ``fraction`` of the items (of ``among``, default the catalogue) out of training;
    test on users whose test item is cold."""
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
    base = leave_one_out(data, min_history)
    rng = np.random.default_rng(seed)
    items = data.idmap.items if among is None else np.sort(np.asarray(among).astype(str))
    cold = np.sort(rng.choice(items, size=max(1, round(fraction * len(items))), replace=False))
    cold_set = set(cold.tolist())

    def warm(df: pd.DataFrame) -> pd.DataFrame:
        return df[~df["item_id"].isin(cold_set)].reset_index(drop=True)

    train = warm(base.train.interactions)
    valid = warm(base.valid)
    context_users = set(train["user_id"]) | set(valid["user_id"])
    in_context = base.test["user_id"].isin(context_users)
    test = base.test[base.test["item_id"].isin(cold_set) & in_context]
    warm_test = base.test[~base.test["item_id"].isin(cold_set) & in_context]
    if len(test) == 0:
        raise DataError(f"{data.name}: no test target is a cold item; use a larger fraction")
    split = Split(
        train=base.train.with_interactions(train),
        valid=valid,
        test=test.reset_index(drop=True),
        protocol=(
            f"cold-item: {len(cold)} of {len(items)} items ({fraction:.0%}, seed={seed}) held out "
            f"of training; {base.protocol}"
        ),
    )
    return ColdItemSplit(split=split, cold_items=cold, warm_test=warm_test.reset_index(drop=True))


def nested_cold_item_split(cold: ColdItemSplit, seed: int = 1) -> ColdItemSplit:
    """The same protocol one step earlier, inside the training part of ``cold``: another
    share of the items that have training events held out, each user's last training event
    the target. What is for new items (ID dropout and its rate) can then be chosen on
    validation by code: the real cold targets and warm test targets stay unseen."""
    train = cold.split.train
    share = len(cold.cold_items) / train.idmap.n_items
    trained = train.interactions["item_id"].astype(str).unique()
    nested = cold_item_split(train, fraction=share, seed=seed, among=trained)
    # The outer cold items are not new items of that earlier step but items that do not
    # exist yet: left in, they would make 36% of the candidates untrained instead of 20%,
    # and every change that lets new items compete would look twice as costly to warm ones.
    return dataclasses.replace(nested, unlisted=np.asarray(cold.cold_items))


def evaluate_cold_items(
    model: Recommender,
    cold: ColdItemSplit,
    *,
    ks: tuple[int, ...] = (10, 20),
    full_catalogue: bool = False,
    progress: bool = True,
) -> EvalResult:
    """Rank each cold test target among the cold items (or all items with ``full_catalogue``)
    for a model fitted with ``model.fit_split(cold.split, "test")``."""
    split = cold.split
    fit_data = split.fit_data("test")
    candidates = None if full_catalogue else fit_data.idmap.item_index(cold.cold_items)
    return evaluate_targets(
        model,
        fit_data,
        split.test,
        ks=ks,
        exclude=split.exclusion("test"),
        split_name=split.protocol,
        candidates=candidates,
        protocol="cold-item-full-catalogue" if full_catalogue else "cold-item",
        progress=progress,
    )


def evaluate_cold_items_full(
    model: Recommender, cold: ColdItemSplit, *, progress: bool = False
) -> tuple[EvalResult, EvalResult]:
    """(cold targets, warm targets), each ranked against every item, for a model fitted
    with ``model.fit_split(cold.split, "test")``: the ``cold-item-full`` protocol."""
    if cold.warm_test is None:
        raise ConfigError("this cold-item split has no warm targets; build it with cold_item_split")
    split = cold.split
    fit_data = split.fit_data("test")
    common = dict(ks=(10, 20), exclude=split.exclusion("test"), split_name=split.protocol)
    if cold.unlisted is not None and len(cold.unlisted):
        listed = np.ones(fit_data.idmap.n_items, dtype=bool)
        listed[fit_data.idmap.item_index(cold.unlisted)] = False
        common["candidates"] = np.flatnonzero(listed)
    cold_result = evaluate_targets(
        model, fit_data, split.test, protocol="cold-item-full", progress=progress, **common
    )
    warm_result = evaluate_targets(
        model, fit_data, cold.warm_test, protocol="cold-item-full-warm", progress=progress, **common
    )
    return cold_result, warm_result


@dataclass(frozen=True)
class ColdUserSplit:
    """Warm users to train on and new users' first events to test on."""

    split: Split  # leave-one-out over the warm users only (valid drives early stopping)
    first_events: pd.DataFrame  # each new user's first max(n_given) + 1 events, in order
    n_given: tuple[int, ...]
    new_users: np.ndarray
    protocol: str

    def cases(self, k: int) -> tuple[list[list[str]], list[list[str]], list[list[float]], list]:
        """Item ids, behaviours and timestamps of each new user's first ``k`` events, and the
        item of event ``k + 1``."""
        items, kinds, stamps, targets = [], [], [], []
        for _, events in self.first_events.groupby("user_id", sort=True):
            items.append(events["item_id"].iloc[:k].tolist())
            kinds.append(events["behaviour"].astype(str).iloc[:k].tolist())
            stamps.append(events["timestamp"].iloc[:k].astype(float).tolist())
            targets.append(events["item_id"].iloc[k])
        return items, kinds, stamps, targets


def cold_user_split(
    data: Dataset,
    fraction: float = 0.2,
    n_given: Sequence[int] = (1, 2, 3),
    seed: int = 0,
) -> ColdUserSplit:
    """Hold ``fraction`` of the eligible users out of training as new users."""
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction}")
    n_given = sorted({int(k) for k in n_given})
    if not n_given or n_given[0] < 1:
        raise ConfigError(f"n_given must be positive history lengths, got {n_given}")
    df = data.interactions
    sizes = df.groupby("user_id", sort=False).size()
    eligible = np.sort(sizes.index[sizes >= n_given[-1] + 1].to_numpy().astype(str))
    if len(eligible) == 0:
        raise DataError(f"{data.name}: no user has {n_given[-1] + 1} events to test on")
    rng = np.random.default_rng(seed)
    new = np.sort(rng.choice(eligible, size=max(1, round(fraction * len(eligible))), replace=False))
    is_new = df["user_id"].isin(set(new.tolist()))
    warm = leave_one_out(data.with_interactions(df[~is_new]))
    new_events = df[is_new]
    first = new_events[new_events.groupby("user_id", sort=False).cumcount() <= n_given[-1]]
    protocol = (
        f"cold-user: {len(new)} of {len(eligible)} users with >= {n_given[-1] + 1} events "
        f"({fraction:.0%}, seed={seed}) never trained on; history = first k in {n_given} "
        "events, target = the next; full ranking, history excluded"
    )
    return ColdUserSplit(warm, first.reset_index(drop=True), tuple(n_given), new, protocol)


def evaluate_cold_users(
    model: Recommender,
    cold: ColdUserSplit,
    *,
    ks: tuple[int, ...] = (10, 20),
    mode: str | None = None,
) -> EvalResult:
    """Metrics per history length (``recall@20_k1`` …) and over all lengths (``recall@20``).

    ``mode`` follows :mod:`lmrec.evaluate.ranking`: ``new-items`` (default) excludes the
    given history from the ranking and leaves out, and counts (``repeat_targets``), cases
    whose target is already in it, so a re-consumed item is never the one seen item left to
    find; ``repeats`` excludes nothing and ranks every case.

    Works for every model that declares ``score_histories`` (see
    :func:`lmrec.models.capabilities_table`; baselines fold a history in as documented on
    each); others raise :class:`CapabilityError`.
    """
    from lmrec.evaluate.ranking import resolve_mode

    model._require("score_histories", "cold users are scored from their raw histories")
    model._check_fitted()
    resolved = resolve_mode(mode) or "new-items"
    start = time.perf_counter()
    idmap = model.idmap_
    above_all, ties_all = [], []
    metrics: dict[str, float] = {}
    repeats = 0
    for k in cold.n_given:
        histories, behaviours, timestamps, targets = cold.cases(k)
        scores = model.score_histories(histories, behaviours, timestamps)
        scores = scores.astype(np.float32, copy=True)
        target = idmap.item_index(targets)
        rows = np.arange(len(histories))
        t_score = scores[rows, target].copy()
        in_history = np.zeros(len(rows), dtype=bool)
        for r, history in enumerate(histories):
            seen = idmap.item_index(history)
            in_history[r] = target[r] in seen
            if resolved == "new-items":
                scores[r, seen] = -np.inf
        repeats += int(in_history.sum())
        if resolved == "new-items":  # repeat targets are left out (and counted)
            keep = ~in_history
            scores, rows, t_score = scores[keep], np.arange(int(keep.sum())), t_score[keep]
        if not len(rows):
            continue
        above = (scores > t_score[:, None]).sum(axis=1)
        ties = (scores == t_score[:, None]).sum(axis=1)
        per_case = per_user_metrics(above, ties, rows, len(rows), ks)
        metrics.update({f"{name}_k{k}": v for name, v in aggregate(per_case).items()})
        above_all.append(above)
        ties_all.append(ties)
    above, ties = np.concatenate(above_all), np.concatenate(ties_all)
    metrics.update(aggregate(per_user_metrics(above, ties, np.arange(len(above)), len(above), ks)))
    return EvalResult(
        metrics=metrics,
        protocol="cold-user" if resolved == "new-items" else "cold-user-repeats",
        split=cold.protocol,
        part="test",
        n_users=len(cold.new_users),
        seconds=time.perf_counter() - start,
        mode=resolved,
        repeat_targets=repeats,
        n_targets=len(above),
    )


__all__ = [
    "ColdItemSplit",
    "ColdUserSplit",
    "cold_item_split",
    "cold_user_split",
    "evaluate_cold_items",
    "evaluate_cold_items_full",
    "evaluate_cold_users",
    "nested_cold_item_split",
]
