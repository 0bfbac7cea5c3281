"""Chunked full-ranking evaluation (and sampled-negative evaluation, only on request).

For each evaluated user the model scores **every** item; each target's position is counted
against the remaining candidates (see :mod:`lmrec.evaluate.metrics` for the tie rule). Users
are processed in chunks, so at most ``chunk_size × n_items`` scores exist at once (Beauty:
2048 × 12,101 float32 ≈ 100 MB).

**Two modes, for data where users come back to their items** (:data:`MODES`):

``new-items``
    Items the user had in the fitting data are excluded (-inf). A *repeat target* (a held-out
    item the user already had) cannot be judged this way, so it is **left out of the
    metrics and counted** in :attr:`EvalResult.repeat_targets`; users whose targets are all
    repeats are not evaluated. (Keeping such a target as the one seen item left in the
    ranking, the old rule, rewarded any model that scores seen-like items high: on a public
    set with 6.7% repeat last events, EASE scored NDCG@10 .735 on those users vs .026 on
    the rest.)
``repeats``
    Nothing is excluded: every item, seen or not, is a candidate, and every target is
    ranked. Models may recommend what the user already had (a repeat baseline, ``repeat``,
    shows what repetition alone earns).

``mode=None`` follows the data: when no target is a repeat it evaluates ``new-items``, which
there is exactly the old rule; when some targets are repeats it evaluates ``new-items`` too
and sets :attr:`EvalResult.note`, which asks the caller to choose. Every ranking result
names its mode in :attr:`EvalResult.mode`, and its protocol label says it wherever it
matters: ``full-ranking-repeats`` always, ``full-ranking-new-items`` when repeat targets were
left out, and plain ``full-ranking`` (the label every recorded figure carries) when there
were none, since the numbers are then those of the old rule, bit for bit. ``full-ranking``
is also accepted as a name for the ``new-items`` mode.

With ``negatives=N`` each target is ranked only against N sampled unseen items. That number
is *not* comparable with full ranking, so the result's ``protocol`` says ``sampled-N`` and
every table and record carries it; the mode suffix (``sampled-100-repeats``) follows the
same rule as full ranking. Negatives are drawn from the candidates of the mode (unseen items
under ``new-items``, any non-target item under ``repeats``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from lmrec.data.repeats import seen_mask
from lmrec.data.schema import Dataset
from lmrec.data.split import Split
from lmrec.errors import ConfigError, DataError
from lmrec.evaluate.diversity import (
    ItemSpace,
    catalogue_metrics,
    history_distributions,
    item_space,
    per_list_metrics,
)
from lmrec.evaluate.metrics import DEFAULT_KS, aggregate, mae, per_user_metrics, rmse
from lmrec.models.base import Recommender, mask_seen, top_k

#: Evaluation modes for seen items (see the module docstring).
MODES: tuple[str, ...] = ("new-items", "repeats")
#: Other accepted names of a mode.
MODE_ALIASES: dict[str, str] = {"full-ranking": "new-items"}


@dataclass(frozen=True)
class EvalResult:
    """Metrics with the protocol that produced them; never report one without the other."""

    metrics: dict[str, float]
    #: "full-ranking", "full-ranking-new-items", "full-ranking-repeats", "sampled-100[-mode]",
    #: "candidates-N[-mode]", "cold-item", "cold-user", "rating", "behaviour-buy|like"
    protocol: str
    split: str  # the Split's protocol, e.g. "leave-one-out (stable sort ...)"
    part: str  # "valid" or "test"
    n_users: int
    seconds: float
    per_user: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    #: "new-items" or "repeats" for ranking results ("" for ratings).
    mode: str = ""
    #: Held-out targets the user already had in the fitting data; under "new-items" they are
    #: left out of the metrics, under "repeats" they are ranked like any other.
    repeat_targets: int = 0
    #: Targets ranked (after leaving repeat targets out under "new-items").
    n_targets: int = 0
    #: A message for the user when the mode was chosen by default on data with repeats.
    note: str = ""
    #: Row ids of the ``per_user`` arrays when they are not the ranked users (behaviour
    #: prediction: one row per held-out example, ``user_id:item_id``); None = the users.
    ids: np.ndarray | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "protocol": self.protocol,
            "split": self.split,
            "part": self.part,
            "n_users": self.n_users,
            "eval_seconds": round(self.seconds, 3),
            "metrics": self.metrics,
        }
        if self.mode:
            out.update(mode=self.mode, n_targets=self.n_targets, repeat_targets=self.repeat_targets)
        if self.note:
            out["note"] = self.note
        return out


def resolve_mode(mode: str | None) -> str | None:
    """``mode`` checked and with aliases resolved (``full-ranking`` → ``new-items``)."""
    if mode is None:
        return None
    resolved = MODE_ALIASES.get(mode, mode)
    if resolved not in MODES:
        raise ConfigError(
            f"evaluation protocol must be one of {MODES} (or 'full-ranking' for new-items), "
            f"got {mode!r}"
        )
    return resolved


def check_mode(model: Recommender, mode: str | None) -> None:
    """Raise :class:`ConfigError` when ``mode`` is "repeats" and ``model`` cannot score items
    the user already had (it declares ``scores_seen_items = False``)."""
    if resolve_mode(mode) == "repeats" and not type(model).scores_seen_items:
        raise ConfigError(
            f"{type(model).__name__} cannot score items a user already had, so it cannot be "
            "evaluated with --protocol repeats; use --protocol new-items"
        )


def evaluate(
    model: Recommender,
    split: Split,
    on: Literal["valid", "test"] = "test",
    *,
    ks: tuple[int, ...] = DEFAULT_KS,
    negatives: int | None = None,
    chunk_size: int = 2048,
    seed: int = 0,
    progress: bool = True,
    mode: str | None = None,
    items: ItemSpace | None = None,
) -> EvalResult:
    """Evaluate a model already fitted on ``split.fit_data(on)`` against ``split.targets(on)``.

    ``mode`` is "new-items", "repeats" or None (follow the data; see the module docstring).
    ``items`` is the item space of the list metrics (default: category vectors).
    """
    fit_data = split.fit_data(on)
    return evaluate_targets(
        model,
        fit_data,
        split.targets(on),
        ks=ks,
        negatives=negatives,
        chunk_size=chunk_size,
        seed=seed,
        progress=progress,
        exclude=split.exclusion(on),
        split_name=split.protocol,
        part=on,
        mode=mode,
        items=items,
    )


def fit_evaluate(
    model: Recommender, split: Split, on: Literal["valid", "test"] = "test", **kwargs: object
) -> tuple[EvalResult, float]:
    """Fit with ``model.fit_split(split, on)`` and evaluate on ``on``.

    Returns the result and the fitting time in seconds.
    """
    start = time.perf_counter()
    model.fit_split(split, on)
    fit_seconds = time.perf_counter() - start
    return evaluate(model, split, on, **kwargs), fit_seconds


def evaluate_targets(
    model: Recommender,
    fit_data: Dataset,
    targets: pd.DataFrame,
    *,
    ks: tuple[int, ...] = DEFAULT_KS,
    negatives: int | None = None,
    chunk_size: int = 2048,
    seed: int = 0,
    progress: bool = True,
    exclude: sp.csr_matrix | None = None,
    split_name: str = "given",
    part: str = "test",
    with_coverage: bool = True,
    candidates: np.ndarray | None = None,
    protocol: str | None = None,
    mode: str | None = None,
    items: ItemSpace | None = None,
) -> EvalResult:
    """Rank ``targets`` (rows of user_id, item_id) for a fitted model.

    ``exclude`` (users × items, nonzero = the user had it) defaults to everything in
    ``fit_data``; it defines the repeat targets, and under ``mode="new-items"`` it is masked
    (under ``"repeats"`` nothing is). ``mode=None`` follows the data (module docstring).
    ``with_coverage=False`` skips the top-k lists behind ``coverage@k`` and the other
    list metrics of :mod:`lmrec.evaluate.diversity` (early stopping needs only the ranks);
    ``items`` is the item space they use (default: category vectors of ``fit_data``).
    ``candidates`` (item indices) restricts the ranking to those items, e.g. the new items
    of the cold-item protocol; every target must be one of them, and ``protocol`` then
    names what was ranked (default ``candidates-N``).
    """
    if len(targets) == 0:
        raise DataError(f"no {part} targets to evaluate")
    if negatives is not None and negatives < 1:
        raise ConfigError(f"negatives must be a positive number of sampled items, got {negatives}")
    start = time.perf_counter()
    requested = resolve_mode(mode)
    check_mode(model, requested)
    idmap = fit_data.idmap
    target_users = idmap.user_index(targets["user_id"])
    target_items = idmap.item_index(targets["item_id"])
    exclude = fit_data.matrix("binary") if exclude is None else exclude.tocsr()
    is_repeat = seen_mask(exclude, target_users, target_items)
    n_repeats = int(is_repeat.sum())
    resolved = requested or "new-items"
    note = ""
    if requested is None and n_repeats:
        note = (
            f"{n_repeats:,} of {len(targets):,} {part} targets ({n_repeats / len(targets):.1%}) "
            "are items the user already had; they were left out (protocol new-items: only "
            "items new to the user are ranked). Choose one explicitly: --protocol new-items, "
            "or --protocol repeats to rank seen items too (compare with the repeat baseline)"
        )
    if resolved == "new-items" and n_repeats:
        if n_repeats == len(targets):
            raise DataError(
                f"all {n_repeats:,} {part} targets are items the user already had, so "
                "protocol new-items has nothing to rank; use --protocol repeats"
            )
        target_users, target_items = target_users[~is_repeat], target_items[~is_repeat]
    if resolved == "repeats":
        exclude = sp.csr_matrix(exclude.shape, dtype=np.float32)  # nothing is excluded
    outside = None
    if candidates is not None:
        outside = np.ones(idmap.n_items, dtype=bool)
        outside[np.asarray(candidates, dtype=np.int64)] = False
        if outside[target_items].any():
            raise DataError(f"{part} targets include items outside the given candidates")
    users, user_pos = np.unique(target_users, return_inverse=True)
    order = np.argsort(user_pos, kind="stable")
    starts = np.searchsorted(user_pos[order], np.arange(len(users) + 1))
    n_items = idmap.n_items
    above = np.empty(len(target_items), dtype=np.int64)
    ties = np.empty(len(target_items), dtype=np.int64)
    max_k = max(ks)
    tops: list[np.ndarray] = []
    rng = np.random.default_rng(seed)
    chunks = range(0, len(users), chunk_size)
    for lo in tqdm(chunks, desc=f"ranking {part}", unit="chunk", disable=not progress, leave=False):
        hi = min(lo + chunk_size, len(users))
        chunk_users = users[lo:hi]
        scores = model.score_indices(chunk_users).astype(np.float32, copy=True)
        if scores.shape != (hi - lo, n_items):
            raise ValueError(
                f"{type(model).__name__} returned scores of shape {scores.shape}, "
                f"expected {(hi - lo, n_items)}"
            )
        rows_idx = order[starts[lo] : starts[hi]]  # target rows of this chunk
        t_row = user_pos[rows_idx] - lo
        t_item = target_items[rows_idx]
        t_score = scores[t_row, t_item].copy()
        if np.isnan(t_score).any():
            raise ValueError(f"{type(model).__name__} produced NaN scores")
        mask_seen(scores, exclude, chunk_users)
        if outside is not None:
            scores[:, outside] = -np.inf
        if with_coverage:
            tops.append(top_k(scores, max_k)[0])
        scores[t_row, t_item] = t_score  # targets stay candidates even if seen before
        if negatives is None:
            _count_full(scores, t_row, t_score, above, ties, rows_idx)
        else:
            _count_sampled(scores, t_row, t_item, t_score, negatives, rng, above, ties, rows_idx)
    per_user = per_user_metrics(above, ties, user_pos, len(users), ks)
    metrics = aggregate(per_user)
    if with_coverage:
        all_tops = np.concatenate(tops)
        space = items if items is not None else item_space(fit_data)
        history = history_distributions(fit_data, users, space)
        lists = per_list_metrics(all_tops, history, space, ks)
        per_user.update(lists)
        metrics.update({name: _nanmean(values) for name, values in lists.items()})
        metrics.update(catalogue_metrics(all_tops, n_items, ks))
    if protocol is None:
        protocol = "full-ranking" if negatives is None else f"sampled-{negatives}"
        if candidates is not None:
            protocol = f"candidates-{int((~outside).sum())}"
        if resolved == "repeats" or n_repeats:
            protocol = f"{protocol}-{resolved}"
    return EvalResult(
        metrics=metrics,
        protocol=protocol,
        split=split_name,
        part=part,
        n_users=len(users),
        seconds=time.perf_counter() - start,
        per_user=per_user,
        mode=resolved,
        repeat_targets=n_repeats,
        n_targets=len(target_items),
        note=note,
    )


def _nanmean(values: np.ndarray) -> float:
    """Mean over users for whom a list metric is defined (NaN when it is for nobody)."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else float("nan")


def _count_full(
    scores: np.ndarray,
    t_row: np.ndarray,
    t_score: np.ndarray,
    above: np.ndarray,
    ties: np.ndarray,
    out_rows: np.ndarray,
    block: int = 2048,
) -> None:
    for lo in range(0, len(t_row), block):
        sl = slice(lo, lo + block)
        rows = scores[t_row[sl]]
        s = t_score[sl, None]
        above[out_rows[sl]] = (rows > s).sum(axis=1)
        ties[out_rows[sl]] = (rows == s).sum(axis=1)


def _count_sampled(
    scores: np.ndarray,
    t_row: np.ndarray,
    t_item: np.ndarray,
    t_score: np.ndarray,
    negatives: int,
    rng: np.random.Generator,
    above: np.ndarray,
    ties: np.ndarray,
    out_rows: np.ndarray,
) -> None:
    is_target = np.zeros(scores.shape, dtype=bool)
    is_target[t_row, t_item] = True
    allowed = ~np.isneginf(scores) & ~is_target
    for j in range(len(t_row)):
        cand = np.flatnonzero(allowed[t_row[j]])
        if len(cand) == 0:
            above[out_rows[j]], ties[out_rows[j]] = 0, 1
            continue
        pick = rng.choice(cand, size=min(negatives, len(cand)), replace=False)
        neg = scores[t_row[j], pick]
        above[out_rows[j]] = int((neg > t_score[j]).sum())
        ties[out_rows[j]] = int((neg == t_score[j]).sum()) + 1


def validation_ndcg(
    model: Recommender,
    fit_data: Dataset,
    valid: Dataset | None,
    exclude: sp.csr_matrix,
    mode: str | None = None,
) -> Callable[[], float] | None:
    """The early-stopping score of the training loop: full-ranking NDCG@10 of ``model`` on
    ``valid``'s events under ``mode`` (the evaluator's rule; None = "new-items": ``exclude``
    masks the fitting data and validation targets the user already had are left out);
    None when there is nothing to validate on."""
    if valid is None or not len(valid.interactions):
        return None
    resolved = resolve_mode(mode) or "new-items"
    targets = valid.interactions
    if resolved == "new-items":
        idmap = fit_data.idmap
        users = idmap.user_index(targets["user_id"])
        items = idmap.item_index(targets["item_id"])
        targets = targets[~seen_mask(exclude, users, items)]
        if not len(targets):
            return None

    def score() -> float:
        result = evaluate_targets(
            model,
            fit_data,
            targets,
            ks=(10,),
            exclude=exclude,
            progress=False,
            with_coverage=False,
            mode=resolved,
        )
        return result.metrics["ndcg@10"]

    return score


def evaluate_ratings(
    model: Recommender, targets: pd.DataFrame, *, split_name: str = "given", part: str = "test"
) -> EvalResult:
    """RMSE and MAE of ``model.predict`` on rows with a rating."""
    if not model.predicts_ratings:
        raise ConfigError(
            f"{type(model).__name__} does not predict ratings; use a rating model (svd, svdpp)"
        )
    rated = targets[targets["rating"].notna()]
    if len(rated) == 0:
        raise DataError(f"no rated {part} interactions to evaluate")
    start = time.perf_counter()
    predicted = model.predict(rated["user_id"], rated["item_id"])  # type: ignore[attr-defined]
    actual = rated["rating"].to_numpy(dtype=np.float64)
    return EvalResult(
        metrics={"rmse": rmse(predicted, actual), "mae": mae(predicted, actual)},
        protocol="rating",
        split=split_name,
        part=part,
        n_users=int(rated["user_id"].nunique()),
        seconds=time.perf_counter() - start,
    )
