"""Multi-scenario interests: one user vector fused from every signal a platform has.

Each *source* summarises one kind of evidence as a vector in item-embedding space:

- ``behaviour:<b>`` (one per behaviour in the data: ``view``, ``fav``, ``buy``, ``rate`` …):
  the mean embedding of the items the user did ``b`` on;
- ``rating``: items weighted by the user's centred rating ``r − r̄_u``, so liked items pull
  the vector towards them and disliked ones push it away;
- ``review``: the mean sentence embedding (bundled MiniLM) of the user's own reviews,
  projected into item space.

Every source has its own linear map ``v_s = W_s · pool_s``. The user vector is
``u = Σ_s α_s(u) v_s`` and ``score(i) = u · e_i + b_i`` over the whole catalogue. The weights
α (``source_weighting``) are either ``fixed`` (given, renormalised over the sources a user
has) or ``learned``: a gate ``α = softmax_s(q · tanh(v_s) + c_s + d_s · log(1 + n_s))``
over the user's available sources, where ``n_s`` counts the user's events in source ``s``.
Learned weights are per user and inspectable with :meth:`MultiInterest.source_weights_of`.

Training is leave-one-event-out: every training event of the target behaviour (all events
when ``target_behaviour`` is None) is predicted, once per epoch, from the user's other
events: that event's own contribution (its behaviour, rating and review) is removed from
the sources first, so the model never sees the answer. Full-softmax cross-entropy; early
stopping on validation NDCG@10 in the one training loop (:mod:`lmrec.train.loop`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.data.split import Part, Split
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.configured import Configured
from lmrec.models.sources import SOURCE_WEIGHTINGS, parse_weights
from lmrec.models.torch_state import load_module, module_arrays
from lmrec.train.loop import TrainConfig, TrainHistory, train
from lmrec.train.objectives import HeldOutEvent

#: Parameters renamed since models were saved: old name -> new name.
RENAMED_PARAMS = {"fusion": "source_weighting"}


def available_sources(data: Dataset) -> list[str]:
    """The sources ``data`` can feed, in a fixed order."""
    inter = data.interactions
    present = set(inter["behaviour"].astype(str))
    out = [f"behaviour:{b}" for b in BEHAVIOURS if b in present]
    if inter["rating"].notna().any():
        out.append("rating")
    if (inter["review"].astype(str).str.strip() != "").any():
        out.append("review")
    return out


class SourceData:
    """Per-source evidence of every user, as sparse users × items weights (and, for the
    review source, summed review embeddings), plus each event's own contribution."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        sources: list[str],
        users: np.ndarray,
        items: np.ndarray,
        event_weights: list[np.ndarray],
        review_vectors: np.ndarray | None,
    ):
        self.sources = sources
        self.users = np.asarray(users, dtype=np.int64)
        self.items = np.asarray(items, dtype=np.int64)
        self.event_weights = [np.asarray(w, dtype=np.float64) for w in event_weights]
        shape = (n_users, n_items)
        self.matrices = []
        for source, w in zip(sources, self.event_weights, strict=True):
            if source == "rating":  # raw ratings (NaN = unrated); centred per query
                rated = ~np.isnan(w)
                self.rated = rated
                u, i = self.users[rated], self.items[rated]
                m = sp.csr_matrix((w[rated], (u, i)), shape=shape)
                self.rating_counts = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=shape)
                self.rating_sum = np.bincount(u, w[rated], minlength=n_users)
                self.rating_n = np.bincount(u, minlength=n_users).astype(np.float64)
            else:
                m = sp.csr_matrix((w, (self.users, self.items)), shape=shape)
                m.eliminate_zeros()
            self.matrices.append(m)
        self.review_vectors = review_vectors  # (n_events, text_dim) or None
        if "review" in sources:
            if review_vectors is None:
                raise ConfigError("the review source needs the reviews' text embeddings")
            self.review_has = np.linalg.norm(review_vectors, axis=1) > 0
            has = self.review_has
            self.review_sum = np.zeros((n_users, review_vectors.shape[1]), dtype=np.float32)
            np.add.at(self.review_sum, self.users[has], review_vectors[has])
            self.review_count = np.bincount(self.users[has], minlength=n_users).astype(float)

    @classmethod
    def from_dataset(
        cls, data: Dataset, sources: list[str], review_vectors: np.ndarray | None
    ) -> SourceData:
        """Event weights per source: 1 for the source's behaviour, the raw rating (NaN when
        unrated) for ``rating``, 0 for the review source (it uses ``review_vectors``, one row
        per event)."""
        inter = data.interactions
        users = data.user_index()
        behaviour = inter["behaviour"].astype(str).to_numpy()
        rating = inter["rating"].to_numpy(dtype=np.float64)
        weights = []
        for source in sources:
            if source.startswith("behaviour:"):
                w = (behaviour == source.split(":", 1)[1]).astype(np.float64)
            elif source == "rating":
                w = rating.copy()
            else:
                w = np.zeros(len(inter))
            weights.append(w)
        return cls(
            data.n_users, data.n_items, sources, users, data.item_index(), weights, review_vectors
        )

    def inputs(
        self, users: np.ndarray, drop_events: np.ndarray | None = None
    ) -> list[torch.Tensor]:
        """Tensors for ``net``: per item source a normalised (B, n_items) weight matrix, the
        mean review vector (B, text_dim) if used, and per-source counts (B, S). With
        ``drop_events`` (one event index per user, -1 = none) those events are left out."""
        tensors: list[torch.Tensor] = []
        counts = np.zeros((len(users), len(self.sources)), dtype=np.float32)
        rows = np.arange(len(users))
        drop = drop_events if drop_events is not None else np.full(len(users), -1)
        has_drop = drop >= 0
        for s, source in enumerate(self.sources):
            if source == "review":
                mean_review, counts[:, s] = self._reviews(users, drop, has_drop)
                tensors.append(torch.from_numpy(mean_review))
                continue
            if source == "rating":
                dense, counts[:, s] = self._centred_ratings(users, drop, has_drop)
                norm = np.abs(dense).sum(axis=1)
            else:
                dense = self.matrices[s][users].toarray()
                if has_drop.any():
                    ev = drop[has_drop]
                    dense[rows[has_drop], self.items[ev]] -= self.event_weights[s][ev]
                dense = np.maximum(dense, 0.0)  # guards rounding after a subtraction
                norm = dense.sum(axis=1)
                counts[:, s] = norm
            dense /= np.maximum(norm, 1e-12)[:, None]
            tensors.append(torch.from_numpy(dense.astype(np.float32)))
        tensors.append(torch.from_numpy(counts))
        return tensors

    def _centred_ratings(
        self, users: np.ndarray, drop: np.ndarray, has_drop: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Σ (r − r̄_u)`` per item, and how many items each user has rated. The dropped
        event leaves both the sum and the mean ``r̄_u``, so its rating does not leak
        through the centring either."""
        s = self.sources.index("rating")
        total = self.matrices[s][users].toarray()
        count = self.rating_counts[users].toarray()
        rating_sum = self.rating_sum[users].copy()
        rating_n = self.rating_n[users].copy()
        dropped = np.flatnonzero(has_drop)
        if len(dropped):
            ev = drop[dropped]
            rated = self.rated[ev]
            rows, ev = dropped[rated], ev[rated]
            r = self.event_weights[s][ev]
            total[rows, self.items[ev]] -= r
            count[rows, self.items[ev]] -= 1
            rating_sum[rows] -= r
            rating_n[rows] -= 1
        mean = rating_sum / np.maximum(rating_n, 1)
        return total - mean[:, None] * count, (count > 0.5).sum(axis=1)

    def _reviews(
        self, users: np.ndarray, drop: np.ndarray, has_drop: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean review embedding of each user without the dropped event's review, and how
        many reviews that mean is over."""
        total = self.review_sum[users].copy()
        count = self.review_count[users].copy()
        if has_drop.any():
            ev = drop[has_drop]
            with_review = self.review_has[ev]
            rows = np.flatnonzero(has_drop)[with_review]
            total[rows] -= self.review_vectors[ev[with_review]]
            count[rows] -= 1
        return (total / np.maximum(count, 1)[:, None]).astype(np.float32), count


class MultiInterestNet(nn.Module):
    """Source pooling, per-source maps, the fusion gate and the tied item scorer."""

    def __init__(
        self,
        n_items: int,
        dim: int,
        sources: list[str],
        text_dim: int,
        fixed_weights: list[float] | None,
    ):
        super().__init__()
        self.sources = list(sources)
        self.item_emb = nn.Parameter(torch.randn(n_items, dim) * 0.02)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.maps = nn.ModuleList(nn.Linear(dim, dim) for _ in sources)
        self.review_proj = nn.Linear(max(text_dim, 1), dim) if "review" in sources else None
        self.gate_query = nn.Parameter(torch.zeros(dim))
        self.gate_bias = nn.Parameter(torch.zeros(len(sources)))
        self.gate_count = nn.Parameter(torch.zeros(len(sources)))
        weights = torch.ones(len(sources)) if fixed_weights is None else torch.tensor(fixed_weights)
        self.register_buffer("fixed_log_weights", torch.log(weights.float()))
        self.learned = fixed_weights is None

    def fuse(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """User vectors (B, dim) and source weights α (B, S) from :meth:`SourceData.inputs`."""
        *pooled_inputs, counts = inputs
        vectors = []
        for s, (source, x) in enumerate(zip(self.sources, pooled_inputs, strict=True)):
            pooled = self.review_proj(x) if source == "review" else x @ self.item_emb
            vectors.append(self.maps[s](pooled))
        v = torch.stack(vectors, dim=1)  # (B, S, dim)
        available = counts > 0
        if self.learned:
            logits = torch.tanh(v) @ self.gate_query + self.gate_bias
            logits = logits + self.gate_count * torch.log1p(counts)
        else:
            logits = self.fixed_log_weights.expand_as(counts)
        logits = logits.masked_fill(~available, float("-inf"))
        alpha = torch.softmax(logits, dim=1)
        alpha = torch.nan_to_num(alpha, nan=0.0)  # a user with no evidence: all-zero weights
        return (alpha.unsqueeze(-1) * v).sum(1), alpha

    def forward(
        self, *inputs: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, loss)``: scores of every item (B, n_items) and, with ``targets`` (item
        index + 1), the cross-entropy."""
        user, _ = self.fuse(*inputs)  # (B, dim)
        logits = user @ self.item_emb.T + self.item_bias  # (B, n_items)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits, targets - 1)


class MultiInterest(Configured, Recommender):
    """User interests fused from behaviours, ratings and review text (fixed or learned).

    Parameters: the options below and every field of :class:`~lmrec.train.loop.TrainConfig`
    (with the defaults below where they differ).
    """

    model_type = "multi-interest"
    capabilities = frozenset({"source_weights"})
    param_sources = (TrainConfig,)
    own_params: ClassVar[dict[str, Any]] = {
        "sources": None,  # comma-separated; None = every source the data has
        "source_weighting": "learned",  # one of SOURCE_WEIGHTINGS
        "source_weights": None,  # "behaviour:view=0.3,behaviour:buy=0.7" for "fixed"
        "target_behaviour": None,
        "dim": 64,
        "text_model": None,
        "text_cache_dir": None,
        "progress": True,
        # TrainConfig defaults that suit this small model
        "epochs": 100,
        "batch_size": 256,
        "lr": 2e-3,
        "patience": 5,
        "warmup_steps": 20,
    }

    def __init__(self, train: TrainConfig | None = None, **params: Any):
        self._set_params((train,), params)

    @classmethod
    def _from_saved(cls, path: Path, config: dict[str, Any]) -> MultiInterest:
        """Files saved before a parameter was renamed load with the value under its new name."""
        params = dict(config.get("params") or {})
        for old, new in RENAMED_PARAMS.items():
            if old in params:
                params.setdefault(new, params.pop(old))
        return super()._from_saved(path, {**config, "params": params})

    # ------------------------------------------------------------------ config
    def _validate_params(self) -> None:
        if self.source_weighting not in SOURCE_WEIGHTINGS:
            raise ConfigError(
                f"source_weighting must be one of {SOURCE_WEIGHTINGS}, "
                f"got {self.source_weighting!r}"
            )
        if self.source_weighting == "fixed" and not self.source_weights:
            raise ConfigError(
                "source_weighting='fixed' needs source_weights, "
                "e.g. 'behaviour:view=0.3,behaviour:buy=0.7'"
            )
        weights = parse_weights(self.source_weights)
        if weights and not sum(weights.values()) > 0:
            raise ConfigError("source_weights are all zero; give at least one positive weight")
        if self.target_behaviour is not None and self.target_behaviour not in BEHAVIOURS:
            raise ConfigError(
                f"target_behaviour must be one of {BEHAVIOURS} or None, "
                f"got {self.target_behaviour!r}"
            )
        self.config(TrainConfig)  # TrainConfig checks its own ranges

    def _resolve_sources(self, data: Dataset) -> list[str]:
        available = available_sources(data)
        if self.sources is None:
            chosen = available
        else:
            chosen = [s.strip() for s in self.sources.split(",") if s.strip()]
            known = [f"behaviour:{b}" for b in BEHAVIOURS] + ["rating", "review"]
            for source in chosen:
                if source not in known:
                    raise ConfigError(f"unknown source {source!r}; known: {', '.join(known)}")
                if source not in available:
                    what = {"rating": "ratings", "review": "review text"}.get(source, "events")
                    raise ConfigError(
                        f"{data.name}: source {source!r} has no {what} in the data; "
                        f"available: {', '.join(available)}"
                    )
        weights = parse_weights(self.source_weights)
        unknown = [s for s in weights if s not in chosen]
        if unknown:
            raise ConfigError(
                f"source_weights name {unknown[0]!r}, which is not among the sources "
                f"{', '.join(chosen)}"
            )
        if not chosen:
            raise ConfigError(f"{data.name}: no source to learn from")
        return chosen

    def _fixed_weights(self) -> list[float] | None:
        if self.source_weighting != "fixed":
            return None
        weights = parse_weights(self.source_weights)
        return [weights.get(s, 0.0) for s in self.sources_]

    # --------------------------------------------------------------------- fit
    def _review_vectors(self, data: Dataset) -> np.ndarray | None:
        if "review" not in self.sources_:
            return None
        from lmrec.text.item_text import encode_texts

        reviews = data.interactions["review"].tolist()
        return encode_texts(reviews, self.text_model, self.text_cache_dir, self.progress)

    def _fit(self, train_data: Dataset, valid: Dataset | None) -> None:
        torch.manual_seed(self.seed)
        self.sources_ = self._resolve_sources(train_data)
        reviews = self._review_vectors(train_data)
        text_dim = 0 if reviews is None else reviews.shape[1]
        self.text_dim_ = text_dim
        self.data_ = SourceData.from_dataset(train_data, self.sources_, reviews)
        self.net_ = MultiInterestNet(
            train_data.n_items, self.dim, self.sources_, text_dim, self._fixed_weights()
        )
        self.seen_ = self._exclusion(train_data)  # also what validation masks
        self.history_ = self._train(train_data, valid)

    def _exclusion(self, data: Dataset) -> sp.csr_matrix:
        behaviours = None if self.target_behaviour is None else (self.target_behaviour,)
        return data.matrix("binary", behaviours=behaviours)

    def _train(self, data: Dataset, valid: Dataset | None) -> TrainHistory:
        behaviour = data.interactions["behaviour"].astype(str).to_numpy()
        events = np.arange(len(behaviour))
        if self.target_behaviour is not None:
            events = events[behaviour == self.target_behaviour]
        sizes = np.bincount(self.data_.users, minlength=data.n_users)
        events = events[sizes[self.data_.users[events]] >= 2]  # something must remain
        if len(events) == 0:
            raise ConfigError(f"{data.name}: no user has 2 or more events to learn from")
        from lmrec.evaluate.ranking import validation_ndcg

        validate = validation_ndcg(self, data, valid, self.seen_)
        objective = HeldOutEvent(self.data_, events)
        config = self.config(TrainConfig)
        return train(self.net_, objective, config, validate=validate, progress=self.progress)

    def fit_split(self, split: Split, on: Part = "test") -> MultiInterest:
        """Train on ``split.train`` stopping early on validation; for ``test``, then use
        train + valid as every user's evidence without retraining."""
        self.fit(split.train, valid=split.train.with_interactions(split.valid))
        self.extend_fit(split, on)
        return self

    def extend_fit(self, split: Split, on: Part) -> bool:
        """From a fit for ``valid`` to one for ``on``: for test, condition on train + valid."""
        if on == "test":
            self.set_history(split.fit_data("test"))
        return True

    def set_history(self, data: Dataset) -> MultiInterest:
        """Use ``data`` (same id map) as the users' evidence from now on."""
        self._check_fitted()
        self.data_ = SourceData.from_dataset(data, self.sources_, self._review_vectors(data))
        self.seen_ = self._exclusion(data)
        return self

    # ------------------------------------------------------------------- score
    @torch.no_grad()
    def _user_vectors(self, users: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        self.net_.eval()
        return self.net_.fuse(*self.data_.inputs(users))

    @torch.no_grad()
    def _score(self, users: np.ndarray, chunk: int = 1024) -> np.ndarray:
        out = np.empty((len(users), self.idmap_.n_items), dtype=np.float32)
        for lo in range(0, len(users), chunk):
            user, _ = self._user_vectors(users[lo : lo + chunk])
            out[lo : lo + chunk] = (user @ self.net_.item_emb.T + self.net_.item_bias).numpy()
        return out

    def source_weights_of(self, user_ids: list[object] | np.ndarray) -> pd.DataFrame:
        """Each user's fusion weights α over the sources (rows sum to 1; 0 for sources the
        user has no evidence in, and all 0 for a user with no evidence at all)."""
        self._check_fitted()
        users = self.idmap_.user_index(list(user_ids))
        _, alpha = self._user_vectors(users)
        frame = pd.DataFrame(alpha.numpy(), columns=self.sources_)
        frame.index = pd.Index([str(u) for u in user_ids], name="user_id")
        return frame

    def _item_vectors(self) -> np.ndarray:
        return self.net_.item_emb.detach().numpy()

    # ----------------------------------------------------------------- persist
    def _state(self) -> dict[str, np.ndarray]:
        state = module_arrays(self.net_)
        state["sources"] = np.frombuffer(",".join(self.sources_).encode(), dtype=np.uint8)
        d = self.data_
        state["events.users"] = d.users.astype(np.int64)
        state["events.items"] = d.items.astype(np.int64)
        for s, w in enumerate(d.event_weights):
            state[f"events.weights.{s}"] = w.astype(np.float64)
        if d.review_vectors is not None:
            state["events.reviews"] = d.review_vectors.astype(np.float32)
        return state

    def _load_state(self, arrays: dict[str, Any]) -> None:
        self.sources_ = bytes(arrays["sources"]).decode().split(",")
        reviews = arrays.get("events.reviews")
        self.text_dim_ = 0 if reviews is None else int(reviews.shape[1])
        self.net_ = MultiInterestNet(
            self.idmap_.n_items, self.dim, self.sources_, self.text_dim_, self._fixed_weights()
        )
        load_module(self.net_, arrays)
        self.net_.eval()
        self.data_ = SourceData(
            self.idmap_.n_users,
            self.idmap_.n_items,
            self.sources_,
            arrays["events.users"],
            arrays["events.items"],
            [arrays[f"events.weights.{s}"] for s in range(len(self.sources_))],
            None if reviews is None else np.array(reviews),
        )


__all__ = [
    "SOURCE_WEIGHTINGS",
    "MultiInterest",
    "MultiInterestNet",
    "available_sources",
    "parse_weights",
]
