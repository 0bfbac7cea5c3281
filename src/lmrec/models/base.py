"""The contract every lmrec model keeps.

A model is configured by keyword arguments to ``__init__`` (stored as is, validated in
``fit``), learns state in attributes ending in ``_``, and speaks external ids::

    model = EASE(l2=100.0).fit(train)                  # Dataset in, self out
    scores = model.score(["196", "186"])                # (2, n_items) float32, all items
    ids, scores = model.recommend("196", k=10)          # 1-D for one user
    ids, scores = model.recommend(["196", "186"], k=10) # 2-D for several
    ids, scores = model.similar_items("242", k=10)
    model.save("runs/ease"); model = lmrec.load("runs/ease")

Subclasses implement three things:

- ``_fit(data)``: learn from a :class:`~lmrec.data.schema.Dataset`;
- ``_score(users)``: a ``(len(users), n_items)`` float32 array for internal user indices;
- ``_state()`` / ``_load_state(arrays)``: the learned arrays to write to safetensors.

Columns of every score matrix follow ``model.item_ids`` (the id map's item order).
Saved models are directories: ``config.json`` (model type, lmrec version, parameters),
``model.safetensors`` (arrays; never pickle), ``idmap.json`` and ``items.json`` (titles).
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from lmrec.data.idmap import IdMap
from lmrec.data.schema import Dataset
from lmrec.data.split import Part, Split
from lmrec.errors import CapabilityError, ConfigError, ModelFileError, NotFittedError

#: Bumped when the on-disk layout changes; ``load`` refuses other versions.
FORMAT_VERSION = 1

#: What a model may be able to do beyond fit/score/recommend/similar_items/save.
#: ``score_histories``: score raw histories of external item ids (users it never saw);
#: ``interests``: an explicit p(item | history) and p(category | history);
#: ``predict_proba``: calibrated p(item | history) rows;
#: ``predict_ratings``: ``predict(user_ids, item_ids)`` gives ratings;
#: ``source_weights``: per-user weights of interest sources (behaviours, ratings, reviews).
CAPABILITIES: tuple[str, ...] = (
    "score_histories",
    "interests",
    "predict_proba",
    "predict_ratings",
    "source_weights",
)


class Recommender(ABC):
    """Base class: fit / score / recommend / similar_items / save, with external ids."""

    #: Key in ``config.json`` and in :data:`lmrec.models.registry.MODEL_TYPES`.
    model_type: ClassVar[str] = ""
    #: What this model can do beyond the core protocol; a subset of :data:`CAPABILITIES`.
    #: Declared, never probed: callers ask :meth:`supports` instead of ``hasattr``.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: False for a model whose scores of a user's own items mean nothing (evaluating it with
    #: ``--protocol repeats`` then stops with an error); every model today can score them.
    scores_seen_items: ClassVar[bool] = True

    @classmethod
    def supports(cls, capability: str) -> bool:
        """Whether this model declares ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ConfigError(
                f"unknown capability {capability!r}; known capabilities: {', '.join(CAPABILITIES)}"
            )
        return capability in cls.capabilities

    @property
    def predicts_ratings(self) -> bool:
        """Whether ``predict`` returns ratings (the ``predict_ratings`` capability)."""
        return "predict_ratings" in self.capabilities

    def _require(self, capability: str, hint: str = "") -> None:
        """Raise :class:`CapabilityError` unless this model declares ``capability``."""
        if not self.supports(capability):
            able = [n for n, c in _registered_types().items() if capability in c.capabilities]
            raise CapabilityError(
                f"{type(self).__name__} does not support {capability!r}"
                + (f"; models that do: {', '.join(able)}" if able else "")
                + (f" ({hint})" if hint else "")
            )

    # ------------------------------------------------------------- parameters
    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """Every parameter's name and default: what ``--param`` and ``make_model`` accept.

        Read from ``__init__``'s signature; models configured by dataclasses override it to
        list the dataclasses' fields.
        """
        signature = inspect.signature(cls.__init__)
        return {name: p.default for name, p in signature.parameters.items() if name != "self"}

    def get_params(self) -> dict[str, Any]:
        """The parameters of :meth:`param_defaults`, read back from attributes of the same name."""
        return {name: getattr(self, name) for name in self.param_defaults()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -------------------------------------------------------------- fitting
    def fit(self, train: Dataset, valid: Dataset | None = None) -> Self:
        """Learn from ``train`` (``valid`` is used by models that tune or stop early)."""
        if not isinstance(train, Dataset):
            raise ConfigError(
                f"{type(self).__name__}.fit expects an lmrec Dataset, got {type(train).__name__}; "
                "build one with lmrec.load_dataset(...) or Dataset.from_frames(...)"
            )
        self._validate_params()
        self.idmap_ = train.idmap
        self.seen_ = train.matrix("binary")
        self.item_titles_ = train.items["title"].to_numpy(dtype=object)
        self.item_categories_ = [list(map(str, c)) for c in train.items["categories"]]
        self._fit(train, valid)
        return self

    def fit_split(self, split: Split, on: Part = "test") -> Self:
        """Fit so that ``split.targets(on)`` can be scored.

        Default: refit on ``split.fit_data(on)`` (train for ``valid``, train + valid for
        ``test``). Models that stop early on validation override this: they train on train
        with the validation targets and, for ``test``, then condition on train + valid.
        """
        return self.fit(split.fit_data(on))

    def _validate_params(self) -> None:
        """Raise :class:`ConfigError` for parameter values outside their range."""

    @abstractmethod
    def _fit(self, train: Dataset, valid: Dataset | None) -> None: ...

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for internal user indices ``users``: (len(users), n_items)."""

    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (besides the id map and seen matrix)."""
        return {}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_state` returned."""

    def _item_vectors(self) -> np.ndarray | None:
        """Item embeddings for :meth:`similar_items`; None to use score co-occurrence."""
        return None

    # ---------------------------------------------------------------- queries
    def _check_fitted(self) -> None:
        if not hasattr(self, "idmap_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. "
                "Call 'fit' with a Dataset, or lmrec.load(path), before using it."
            )

    @property
    def item_ids(self) -> np.ndarray:
        """External item ids in the column order of :meth:`score`."""
        self._check_fitted()
        return self.idmap_.items

    def score_indices(self, users: np.ndarray) -> np.ndarray:
        """Scores for internal user indices (the evaluator's fast path)."""
        self._check_fitted()
        return np.asarray(self._score(np.asarray(users, dtype=np.int64)), dtype=np.float32)

    def score(self, user_ids: Sequence[object]) -> np.ndarray:
        """Scores of every item (columns follow :attr:`item_ids`) for external user ids."""
        self._check_fitted()
        return self.score_indices(self.idmap_.user_index(user_ids))

    def recommend(
        self,
        user_ids: object | Sequence[object],
        k: int = 10,
        exclude_seen: bool = True,
        items: Sequence[object] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` external item ids and scores, best first.

        One user id gives 1-D arrays; a list gives 2-D ``(n_users, k)`` arrays.
        ``exclude_seen`` drops items the user had in the fitting data; ``items`` restricts
        the candidates to those ids. Fewer than ``k`` candidates pad ids with "" and scores
        with -inf.
        """
        self._check_fitted()
        single = isinstance(user_ids, str | int | np.integer)
        ids = [user_ids] if single else list(user_ids)
        if k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        users = self.idmap_.user_index(ids)
        scores = self.score_indices(users).astype(np.float32, copy=True)
        if exclude_seen:
            mask_seen(scores, self.seen_, users)
        if items is not None:
            allowed = np.zeros(self.idmap_.n_items, dtype=bool)
            allowed[self.idmap_.item_index(items)] = True
            scores[:, ~allowed] = -np.inf
        top, top_scores = top_k(scores, k)
        out_ids = np.where(top >= 0, self.idmap_.items[np.maximum(top, 0)], "")
        if single:
            return out_ids[0], top_scores[0]
        return out_ids, top_scores

    def similar_items(
        self, item_ids: object | Sequence[object], k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each given item (the item itself excluded).

        Uses cosine similarity of the model's item vectors when it has them, otherwise
        cosine similarity of the items' user columns in the fitting data.
        """
        self._check_fitted()
        single = isinstance(item_ids, str | int | np.integer)
        ids = [item_ids] if single else list(item_ids)
        query = self.idmap_.item_index(ids)
        vectors = self._item_vectors()
        if vectors is None:
            cols = self.seen_.T.tocsr().astype(np.float32)
            norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            sims = (cols[query] @ cols.T).toarray() / norms[query, None] / norms[None, :]
        else:
            normed = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            sims = normed[query] @ normed.T
        sims = sims.astype(np.float32)
        sims[np.arange(len(query)), query] = -np.inf
        top, top_scores = top_k(sims, k)
        out_ids = np.where(top >= 0, self.idmap_.items[np.maximum(top, 0)], "")
        if single:
            return out_ids[0], top_scores[0]
        return out_ids, top_scores

    def titles(self, item_ids: Sequence[object]) -> list[str]:
        """Item titles from the fitting data ("" where there are none)."""
        self._check_fitted()
        idx = self.idmap_.item_index(item_ids)
        return [str(self.item_titles_[i]) for i in idx]

    # ----------------------------------------------------------- capabilities
    def score_histories(
        self,
        histories: Sequence[Sequence[object]],
        behaviours: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[float]] | None = None,
    ) -> np.ndarray:
        """Scores of every item (columns follow :attr:`item_ids`) after raw histories.

        ``histories`` are lists of external item ids, oldest first, of users the model need
        not know; ``behaviours`` and ``timestamps`` describe each event where the model uses
        them. Re-entrant and thread-safe: nothing on the model changes while it scores.
        Capability ``score_histories``.
        """
        self._require("score_histories")
        raise NotImplementedError  # pragma: no cover - subclasses that declare it override

    def interests(
        self,
        user_id: object | None = None,
        *,
        history: Sequence[object] | None = None,
        top_items: int = 10,
        top_categories: int = 10,
    ) -> Any:
        """The user's calibrated next-item distribution and its category aggregate
        (an :class:`~lmrec.models.interests.Interests`). Capability ``interests``."""
        self._require("interests")
        raise NotImplementedError  # pragma: no cover

    def predict_proba(self, user_ids: Sequence[object]) -> np.ndarray:
        """Calibrated p(item | history) over every item; rows sum to 1.
        Capability ``predict_proba``."""
        self._require("predict_proba")
        raise NotImplementedError  # pragma: no cover

    def predict(self, user_ids: Sequence[object], item_ids: Sequence[object]) -> np.ndarray:
        """Predicted ratings of (user, item) pairs. Capability ``predict_ratings``."""
        self._require("predict_ratings", "use a rating model such as svd or svdpp")
        raise NotImplementedError  # pragma: no cover

    def source_weights_of(self, user_ids: Sequence[object]) -> Any:
        """Per-user weights of each interest source (a DataFrame, rows sum to 1).
        Capability ``source_weights``."""
        self._require("source_weights")
        raise NotImplementedError  # pragma: no cover

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write a self-describing directory.

        Files: config.json, model.safetensors, idmap.json and items.json.
        """
        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        from lmrec import __version__

        config = {
            "model_type": self.model_type,
            "format_version": FORMAT_VERSION,
            "lmrec_version": __version__,
            "params": self.get_params(),
        }
        (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        seen = self.seen_.tocsr()
        arrays = {
            "seen.indptr": seen.indptr.astype(np.int64),
            "seen.indices": seen.indices.astype(np.int64),
        }
        for name, value in self._state().items():
            arrays[f"state.{name}"] = np.ascontiguousarray(value)
        save_file(arrays, str(out / "model.safetensors"))
        self.idmap_.to_json(out / "idmap.json")
        (out / "items.json").write_text(
            json.dumps(
                {"titles": [str(t) for t in self.item_titles_], "categories": self.item_categories_}
            ),
            encoding="utf-8",
        )
        return out

    @classmethod
    def _from_saved(cls, path: Path, config: dict[str, Any]) -> Self:
        try:
            model = cls(**config["params"])
        except TypeError as exc:
            raise ModelFileError(
                f"{path / 'config.json'}: parameters do not fit {cls.__name__} ({exc})"
            ) from None
        try:
            arrays = load_file(str(path / "model.safetensors"))
        except (OSError, SafetensorError) as exc:
            raise ModelFileError(
                f"{path / 'model.safetensors'}: cannot be read ({exc}); "
                "the file is missing or corrupted, save the model again"
            ) from None
        model.idmap_ = IdMap.from_json(path / "idmap.json")
        indptr, indices = arrays["seen.indptr"], arrays["seen.indices"]
        model.seen_ = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(model.idmap_.n_users, model.idmap_.n_items),
        )
        try:
            items = json.loads((path / "items.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            items = {}
        n = model.idmap_.n_items
        model.item_titles_ = np.asarray(items.get("titles", [""] * n), dtype=object)
        model.item_categories_ = items.get("categories", [[] for _ in range(n)])
        model._load_state(
            {k[len("state.") :]: v for k, v in arrays.items() if k.startswith("state.")}
        )
        return model


def _registered_types() -> dict[str, type[Recommender]]:
    from lmrec.models.registry import MODEL_TYPES  # registry imports base: import late

    return MODEL_TYPES


def mask_seen(scores: np.ndarray, seen: sp.csr_matrix, users: np.ndarray) -> None:
    """Set, in place, the score of every item each user has seen to -inf."""
    rows = seen[users]
    r, c = rows.nonzero()
    scores[r, c] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the k largest entries per row, best first; -inf entries become -1.

    Inside the list, equal scores are ordered by item index. Which of several items tied
    at the k-th score enter the list is unspecified (``argpartition``), but deterministic.
    """
    n = scores.shape[1]
    k_eff = min(k, n)
    part = (
        np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        if k_eff < n
        else np.tile(np.arange(n), (len(scores), 1))
    )
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(part_scores, order, axis=1)
    top = np.where(np.isneginf(vals), -1, top)
    if k_eff < k:
        pad = k - k_eff
        top = np.pad(top, ((0, 0), (0, pad)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, pad)), constant_values=-np.inf)
    return top, vals
