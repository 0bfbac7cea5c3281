"""The temporal-update protocol: is an incremental update as good as retraining, and faster?

Time is cut twice, at the ``cuts`` quantiles of the event timestamps (default 90% and 95%):

- **old period** (t ≤ q1): the base model is fitted on it;
- **new period** (q1 < t ≤ q2): the base model is updated with these events
  (``model.update``), and a second model is retrained from scratch on old + new;
- **test period** (t > q2): each user known by then (an event at or before q2) is scored on
  their first test-period event, ranked against the whole catalogue of items known by then,
  the user's items excluded. Targets that are items first seen in the test period cannot
  be ranked by either model and are left out (counted).

Both models are fitted the same way (:func:`fit_on_all`): every user's last event is held
out for early stopping, then the model conditions on all its events. Their catalogues hold
the same items (those with an event by q2), built independently, so the test targets,
exclusions and per-user order are the same for both, and a paired test compares them.

**Forgetting** is measured on the old period: users with 2 or more old events, no event in
the new period, and not drawn for the update's replay, each scored on their last old event
from the events before it, by the base model before the update and by the updated model.
The base model chose its epoch on these very targets (its early stopping), which flatters
it slightly; forgetting = NDCG@10 before − after (positive: the update lost some).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError, DataError
from lmrec.evaluate.metrics import aggregate, per_user_metrics
from lmrec.evaluate.ranking import EvalResult, evaluate_targets
from lmrec.models.base import Recommender

DEFAULT_CUTS = (0.90, 0.95)


@dataclass(frozen=True)
class TemporalUpdateSplit:
    """The three periods of the protocol (module docstring)."""

    old: Dataset  # the base model's data (its own id map: later users and items are new)
    new_events: pd.DataFrame  # interactions of the new period
    new_items: pd.DataFrame  # item table rows of items first seen in the new period
    combined: Dataset  # old + new, for retraining (its own id map)
    test: pd.DataFrame  # (user_id, item_id) first test-period event of each known user
    n_unknown_targets: int  # test users' first events on items unknown by q2 (left out)
    cut_times: tuple[float, float]

    @property
    def protocol(self) -> str:
        q1, q2 = self.cut_times
        return (
            f"temporal-update: old period to t={q1:.0f}, new period to t={q2:.0f}, each known "
            f"user's first later event as the target ({len(self.test):,} users; "
            f"{self.n_unknown_targets:,} targets on unseen items left out)"
        )


def temporal_update_split(
    data: Dataset, cuts: tuple[float, float] = DEFAULT_CUTS
) -> TemporalUpdateSplit:
    """Cut ``data`` at the ``cuts`` quantiles of its timestamps (module docstring)."""
    if not 0 < cuts[0] < cuts[1] < 1:
        raise ConfigError(f"cuts must be two quantiles 0 < a < b < 1, got {cuts}")
    inter = data.interactions
    if inter["timestamp"].isna().any():
        raise DataError(f"{data.name}: the temporal-update protocol needs every timestamp")
    q1, q2 = (float(inter["timestamp"].quantile(c)) for c in cuts)
    t = inter["timestamp"]
    old_events, new_events, later = inter[t <= q1], inter[(t > q1) & (t <= q2)], inter[t > q2]
    old = _own_dataset(data, old_events, "old period")
    combined = _own_dataset(data, inter[t <= q2], "old + new periods")
    first = later.groupby("user_id", sort=False).head(1)
    first = first[first["user_id"].isin(set(combined.idmap.users))]
    known_item = first["item_id"].isin(set(combined.idmap.items))
    if not known_item.any():
        raise DataError(f"{data.name}: no test-period target is a known user's known item")
    new_item_ids = set(new_events["item_id"]) - set(old.idmap.items)
    return TemporalUpdateSplit(
        old=old,
        new_events=new_events.reset_index(drop=True),
        new_items=data.items[data.items["item_id"].isin(new_item_ids)].reset_index(drop=True),
        combined=combined,
        test=first.loc[known_item, ["user_id", "item_id"]].reset_index(drop=True),
        n_unknown_targets=int((~known_item).sum()),
        cut_times=(q1, q2),
    )


def _own_dataset(data: Dataset, events: pd.DataFrame, part: str) -> Dataset:
    """``events`` as a data set of their own: only their users and items are known."""
    items = data.items[data.items["item_id"].isin(set(events["item_id"]))]
    return Dataset.from_frames(
        events.reset_index(drop=True), items, name=data.name, notes={"part": part}
    )


def fit_on_all(model: Recommender, data: Dataset) -> Recommender:
    """Fit with every user's last event held out for early stopping, then condition on all
    of ``data`` (the model must have ``set_history``, as the Transformer does)."""
    inter = data.interactions
    last = inter.groupby("user_id", sort=False).tail(1).index
    train = data.with_interactions(inter.drop(index=last))
    model.fit(train, valid=data.with_interactions(inter.loc[last]))
    model.set_history(data)
    return model


def score_new_period(model: Recommender, split: TemporalUpdateSplit) -> EvalResult:
    """Full-ranking metrics of the test-period targets for a model of the old + new data
    (updated or retrained), on the model's own id map."""
    fit_data = split.combined.on_idmap(model.idmap_)
    return evaluate_targets(
        model,
        fit_data,
        split.test,
        exclude=model.seen_,
        split_name=split.protocol,
        protocol="temporal-update",
        with_coverage=False,
        progress=False,
    )


@dataclass(frozen=True)
class OldProbe:
    """Each probe user's last old-period event and the events before it."""

    users: list[str]
    histories: list[list[str]]
    behaviours: list[list[str]]
    timestamps: list[list[float]]
    targets: list[str]


def old_probe(split: TemporalUpdateSplit, exclude_users: set[str]) -> OldProbe:
    """Old-period users with 2+ events, none in the new period, not in ``exclude_users``
    (the update's replay draw)."""
    touched = set(split.new_events["user_id"]) | set(exclude_users)
    out = OldProbe([], [], [], [], [])
    for user, events in split.old.interactions.groupby("user_id", sort=False):
        if user in touched or len(events) < 2:
            continue
        out.users.append(str(user))
        out.histories.append(events["item_id"].iloc[:-1].tolist())
        out.behaviours.append(events["behaviour"].astype(str).iloc[:-1].tolist())
        out.timestamps.append(events["timestamp"].iloc[:-1].astype(float).tolist())
        out.targets.append(str(events["item_id"].iloc[-1]))
    if not out.users:
        raise DataError("no old-period user is untouched by the update: nothing to probe")
    return out


def score_old_period(
    model: Recommender, probe: OldProbe, ks: tuple[int, ...] = (10, 20)
) -> dict[str, float]:
    """Metrics of the probe's targets from their histories (seen items excluded)."""
    scores = model.score_histories(probe.histories, probe.behaviours, probe.timestamps)
    scores = scores.astype(np.float32, copy=True)
    idmap = model.idmap_
    target = idmap.item_index(probe.targets)
    rows = np.arange(len(target))
    t_score = scores[rows, target].copy()
    for r, history in enumerate(probe.histories):
        seen = idmap.item_index(history)
        seen = seen[seen != target[r]]  # a repeat target stays rankable
        scores[r, seen] = -np.inf
    above = (scores > t_score[:, None]).sum(axis=1)
    ties = (scores == t_score[:, None]).sum(axis=1)
    return aggregate(per_user_metrics(above, ties, rows, len(rows), ks))


__all__ = [
    "DEFAULT_CUTS",
    "OldProbe",
    "TemporalUpdateSplit",
    "fit_on_all",
    "old_probe",
    "score_new_period",
    "score_old_period",
    "temporal_update_split",
]
