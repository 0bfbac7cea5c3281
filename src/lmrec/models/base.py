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
- ``_state()`` / ``_load_state(arrays)``: the learned arrays to write to safetensors;

and, for each capability they declare, its method (``_score_histories(indices, behaviours,
timestamps)`` for ``score_histories``: the base checks the histories first).

Columns of every score matrix follow ``model.item_ids`` (the id map's item order).

Beyond that core, a model declares what else it can do in ``capabilities`` (a subset of
:data:`CAPABILITIES`); ``model.supports("score_histories")`` asks, and calling an undeclared
capability raises :class:`~lmrec.errors.CapabilityError` (a ``NotImplementedError``).
:func:`capabilities_table` lists every registered model's capabilities::

    ids, scores = model.recommend_histories([["i1", "i7"]], k=10)  # a visitor it never saw

Bad input is refused on entry with an :class:`~lmrec.errors.LmrecError` that names it: an
unknown user or item id (:class:`~lmrec.errors.UnknownIdError`), ``k`` that is not an int
>= 1, an empty list of ids or histories, an empty history, or a bare string where a list of
ids is expected (:class:`~lmrec.errors.ConfigError`).

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
#: ``predict_behaviour``: ``predict_behaviour(user_ids, item_ids)`` gives calibrated
#: probabilities that the user does the target behaviour (buy, like) to the item;
#: ``source_weights``: per-user weights of interest sources (behaviours, ratings, reviews);
#: ``explain``: which history events drove an item's score (``explain(user, item)``).
CAPABILITIES: tuple[str, ...] = (
    "score_histories",
    "interests",
    "predict_proba",
    "predict_ratings",
    "predict_behaviour",
    "source_weights",
    "explain",
    "update",
)


def capabilities_table() -> dict[str, tuple[str, ...]]:
    """Each registered model type and the capabilities it declares (in :data:`CAPABILITIES`
    order), for documentation and ``lmrec models``; every model also has the core protocol."""
    return {
        name: tuple(c for c in CAPABILITIES if c in cls.capabilities)
        for name, cls in _registered_types().items()
    }


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

    def extend_fit(self, split: Split, on: Part) -> bool:
        """Turn a model fitted by ``fit_split(split, "valid")`` into what
        ``fit_split(split, on)`` gives, without training again, where the model can.

        Returns whether it did (False: call ``fit_split``). Models that train on train and
        stop early on validation (the Transformer, MultiInterest) train the same way for
        valid and test and only condition on train + valid for test, so they can; the
        experiment path uses this so a tuning fit with seed 0 is not trained twice.
        """
        return on == "valid"

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

    def prepare_for_serving(self) -> None:
        """Precompute what makes one known user's request fast (the service calls it after
        loading a run). Scores stay the same; models with nothing to precompute do nothing."""

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
        """Scores of every item (columns follow :attr:`item_ids`) for a list of external user ids.

        Returns a ``(len(user_ids), n_items)`` float32 array; higher is better. Unknown ids
        raise :class:`UnknownIdError`, an empty list or a bare string :class:`ConfigError`.
        """
        self._check_fitted()
        return self.score_indices(self.idmap_.user_index(_id_list(user_ids, "user_ids")))

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
        single = _is_single_id(user_ids)
        ids = [user_ids] if single else _id_list(user_ids, "user_ids")
        check_k(k)
        allowed = self._allowed(items)
        users = self.idmap_.user_index(ids)
        scores = self.score_indices(users).astype(np.float32, copy=True)
        if exclude_seen:
            mask_seen(scores, self.seen_, users)
        out_ids, top_scores = self._top(scores, k, allowed)
        if single:
            return out_ids[0], top_scores[0]
        return out_ids, top_scores

    def recommend_histories(
        self,
        histories: Sequence[Sequence[object]],
        k: int = 10,
        exclude_seen: bool = True,
        items: Sequence[object] | None = None,
        behaviours: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[float]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item ids and scores, best first, for raw histories (a list of lists of
        external item ids, oldest first): ``(len(histories), k)`` arrays.

        What a service does for a visitor the model never saw: :meth:`score_histories`, then
        ``exclude_seen`` drops each history's own items and ``items`` restricts the
        candidates, as in :meth:`recommend`. Re-entrant: it changes nothing on the model.
        Needs capability ``score_histories``.
        """
        self._require("score_histories", "recommend for known users with recommend()")
        self._check_fitted()
        histories = _id_list(histories, "histories")
        check_k(k)
        allowed = self._allowed(items)
        indices = self._history_indices(histories, behaviours, timestamps)
        scores = self.score_histories(histories, behaviours, timestamps)
        scores = np.asarray(scores, dtype=np.float32).copy()
        if exclude_seen:
            for row, idx in enumerate(indices):
                scores[row, idx] = -np.inf
        return self._top(scores, k, allowed)

    def similar_items(
        self, item_ids: object | Sequence[object], k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each given item (the item itself excluded).

        One item id gives 1-D arrays, a list 2-D ones, padded like :meth:`recommend`. Uses
        cosine similarity of the model's item vectors when it has them, otherwise cosine
        similarity of the items' user columns in the fitting data.
        """
        self._check_fitted()
        single = _is_single_id(item_ids)
        ids = [item_ids] if single else _id_list(item_ids, "item_ids")
        check_k(k)
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
        out_ids, top_scores = self._top(sims, k, None)
        if single:
            return out_ids[0], top_scores[0]
        return out_ids, top_scores

    def _allowed(self, items: Sequence[object] | None) -> np.ndarray | None:
        """A boolean candidate mask for ``items=`` (None: every item)."""
        if items is None:
            return None
        allowed = np.zeros(self.idmap_.n_items, dtype=bool)
        allowed[self.idmap_.item_index(_id_list(items, "items"))] = True
        return allowed

    def _top(
        self, scores: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """External ids and scores of each row's top ``k`` among ``allowed`` (padded)."""
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        top, top_scores = top_k(scores, k)
        return np.where(top >= 0, self.idmap_.items[np.maximum(top, 0)], ""), top_scores

    def _history_indices(
        self,
        histories: Sequence[Sequence[object]],
        behaviours: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[float]] | None = None,
    ) -> list[np.ndarray]:
        """Check raw histories (and their per-event lists) and map them to item indices.

        The one place that enforces :meth:`score_histories`'s input rules, so every model
        refuses the same things with the same messages.
        """
        rows = _id_list(histories, "histories")
        out = []
        for n, history in enumerate(rows):
            if isinstance(history, str | bytes) or not isinstance(history, Sequence | np.ndarray):
                raise ConfigError(
                    f"history {n} is {history!r}, not a list of item ids; histories is a list "
                    "of histories, e.g. [['i1', 'i7']] for one user"
                )
            if len(history) == 0:
                raise ConfigError(
                    f"history {n} is empty; give at least one item id (for users with no "
                    "history, recommend with a popularity model)"
                )
            out.append(self.idmap_.item_index(history))
        for name, per_event in (("behaviours", behaviours), ("timestamps", timestamps)):
            if per_event is None:
                continue
            if len(per_event) != len(rows):
                raise ConfigError(f"{len(rows)} histories but {len(per_event)} {name} lists")
            for n, (history, events) in enumerate(zip(rows, per_event, strict=True)):
                if len(events) != len(history):
                    raise ConfigError(
                        f"history {n} has {len(history)} items but {len(events)} {name}"
                    )
        return out

    def _history_matrix(self, indices: list[np.ndarray], counts: bool = False) -> sp.csr_matrix:
        """Histories as a ``(len(indices), n_items)`` matrix: 1 per distinct item, or the
        number of times each item occurs with ``counts``; rows like those of ``seen_``."""
        rows = np.repeat(np.arange(len(indices)), [len(i) for i in indices])
        cols = np.concatenate(indices) if indices else np.empty(0, dtype=np.int64)
        shape = (len(indices), self.idmap_.n_items)
        matrix = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=shape)
        matrix.sum_duplicates()
        if not counts:
            matrix.data[:] = 1.0
        return matrix

    def titles(self, item_ids: Sequence[object]) -> list[str]:
        """Item titles from the fitting data ("" where there are none)."""
        self._check_fitted()
        idx = self.idmap_.item_index(_id_list(item_ids, "item_ids"))
        return [str(self.item_titles_[i]) for i in idx]

    # ----------------------------------------------------------- capabilities
    def score_histories(
        self,
        histories: Sequence[Sequence[object]],
        behaviours: Sequence[Sequence[str]] | None = None,
        timestamps: Sequence[Sequence[float]] | None = None,
    ) -> np.ndarray:
        """Scores of every item (columns follow :attr:`item_ids`) after raw histories.

        ``histories`` is a list of histories, each a non-empty list of external item ids
        (oldest first) of a user the model need not know: a ``(len(histories), n_items)``
        float32 array, as :meth:`score` gives for known users. ``behaviours`` and
        ``timestamps`` (one list per history, one entry per event) describe each event where
        the model uses them; others ignore them.

        The same in every model that declares it: an unknown item id raises
        :class:`UnknownIdError` naming it; an empty list of histories, an empty history or
        a bare string raises :class:`ConfigError` (a user with no history has nothing to
        condition on: recommend with ``popular``). Re-entrant and thread-safe: nothing on
        the model changes while it scores, so a service may call it from many threads.
        How a model scores a history (exactly as a known user with that history, or by
        folding it in) is stated on the model. Capability ``score_histories``.
        """
        self._require("score_histories")
        self._check_fitted()
        indices = self._history_indices(histories, behaviours, timestamps)
        scores = self._score_histories(indices, behaviours, timestamps)
        return np.asarray(scores, dtype=np.float32)

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        """Scores for checked histories given as item indices (models declaring
        ``score_histories`` implement this; :meth:`score_histories` has checked the input).
        Must not change ``self``: pass state as arguments."""
        raise NotImplementedError(f"{type(self).__name__} declares no score_histories")

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

    def predict_behaviour(
        self, user_ids: Sequence[object], item_ids: Sequence[object]
    ) -> np.ndarray:
        """Calibrated probabilities that each user does the target behaviour (buy, like) to
        the paired item. Capability ``predict_behaviour``."""
        self._require("predict_behaviour", "use transformer-behaviour")
        raise NotImplementedError  # pragma: no cover

    def explain(
        self,
        user_id: object | None = None,
        item_id: object | None = None,
        *,
        history: Sequence[object] | None = None,
        top: int | None = 5,
    ) -> Any:
        """Which events of the user's history (or a raw ``history``) drove ``item_id``'s
        score, strongest first, and which of their sources (:class:`~lmrec.models.explain.
        Attribution` list; ``top=None``: every event). Capability ``explain``."""
        self._require("explain")
        raise NotImplementedError  # pragma: no cover

    def update(self, events: Any, items: Any = None, **options: Any) -> Self:
        """Continue training on new events (new users and items included) without
        retraining from scratch; returns self. Capability ``update``."""
        self._require("update", "retrain the model on all its data instead")
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
            # a path given as a Path (text_cache_dir, init_from) is saved as its text
            "params": {
                k: str(v) if isinstance(v, Path) else v for k, v in self.get_params().items()
            },
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
        state = {k[len("state.") :]: v for k, v in arrays.items() if k.startswith("state.")}
        try:
            model._load_state(state)
        except ModelFileError as exc:  # the model's own words; say which file
            raise ModelFileError(f"{path / 'model.safetensors'} (state.* arrays): {exc}") from None
        except (KeyError, ValueError, RuntimeError) as exc:
            # A model that does not name its missing arrays (check_state) still gets a
            # message naming the file, not a bare KeyError or torch's state_dict error.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(
                f"{path / 'model.safetensors'}: its state.* arrays do not fit "
                f"{cls.__name__} ({first[:300]}); the file is not from {cls.__name__}.save or "
                "is corrupted, save the model again"
            ) from None
        return model


def _registered_types() -> dict[str, type[Recommender]]:
    from lmrec.models.registry import MODEL_TYPES  # registry imports base: import late

    return MODEL_TYPES


def check_k(k: object, name: str = "k") -> None:
    """Raise :class:`ConfigError` unless ``k`` (a list length) is an int >= 1."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {k!r}")


def _is_single_id(ids: object) -> bool:
    return isinstance(ids, str | int | np.integer)


def _id_list(ids: object, name: str) -> list[Any]:
    """``ids`` as a non-empty list; a bare string or an empty list is a clear error."""
    if isinstance(ids, str | bytes):
        raise ConfigError(
            f"{name} must be a list, got the string {ids!r}; wrap a single one in a list"
        )
    try:
        out = list(ids)  # type: ignore[call-overload]
    except TypeError:
        raise ConfigError(f"{name} must be a list, got {type(ids).__name__} {ids!r}") from None
    if not out:
        raise ConfigError(f"{name} is empty; give at least one")
    return out


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
