"""SequenceTransformer: the behaviour-sequence Transformer behind the Recommender protocol.

    p(i_{t+1} = j | i_1..i_t) = softmax_j( h_t · e_j + b_j )

where ``h_t`` is the Transformer state after the user's history (see
:mod:`lmrec.models.transformer`). ``objective="causal"`` trains next-item prediction
(SASRec with full-softmax cross-entropy); ``objective="masked"`` trains masked-item
prediction (BERT4Rec) and scores by appending a [MASK] to the history.

Fitting with ``valid`` (a Dataset whose interactions are each user's held-out next event)
evaluates full-ranking NDCG@10 after every epoch, keeps the best epoch and stops early.
Scoring conditions on the history the model was fitted on; :meth:`set_history` swaps in a
longer one (train + validation for the test split) without retraining, as SASRec does.
With ``checkpoint_dir`` every epoch is checkpointed (safetensors + JSON) and a new fit with
the same directory resumes where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.data.split import Part, Split
from lmrec.errors import ConfigError, DataError
from lmrec.evaluate.calibration import expected_calibration_error, fit_temperature, nll
from lmrec.models.base import Recommender, check_k
from lmrec.models.checks import check_float
from lmrec.models.compress import check_compression, int8_scoring_net, prune_magnitude
from lmrec.models.configured import Configured
from lmrec.models.explain import Attribution, gradient_x_input
from lmrec.models.fusion import FUSIONS, TextBasis, fit_text_basis
from lmrec.models.interests import Interests, category_matrix, summarise
from lmrec.models.sources import (
    SOURCE_WEIGHTINGS,
    fixed_source_weights,
    parse_sources,
    transformer_source_names,
)
from lmrec.models.torch_state import load_module, module_arrays, module_state
from lmrec.models.transformer import (
    DATA_FIELDS,
    SequenceTransformerNet,
    TransformerConfig,
    convert_legacy_state,
)
from lmrec.train.loop import TrainConfig, TrainHistory
from lmrec.train.loop import train as run_training
from lmrec.train.objectives import (
    SEQUENCE_OBJECTIVES,
    CategoryMix,
    objective_class,
    sequence_objective,
)
from lmrec.train.peft import FINETUNE_MODES, add_lora, lora_targets, trainable_parameters
from lmrec.train.sequences import (
    UserSequences,
    keep_behaviours,
    sequence_arrays,
    sequences_from_arrays,
    user_sequences,
)

OBJECTIVES = tuple(SEQUENCE_OBJECTIVES)
#: How a multi-task model weighs its losses (TransformerConfig.task_weighting).
TASK_WEIGHTINGS = ("fixed", "uncertainty")
#: Principal components of the item text embeddings the fusion keeps (see reduce_text).
TEXT_COMPONENTS = 128
#: Principal components of the review embeddings a ``sources="review"`` model reads.
REVIEW_COMPONENTS = 64


class SequenceTransformer(Configured, Recommender):
    """Transformer over behaviour sequences; full-softmax next-item or masked-item training.

    Parameters are every field of :class:`~lmrec.models.transformer.TransformerConfig`
    (architecture; ``n_items`` and ``text_dim`` come from the data) and of
    :class:`~lmrec.train.loop.TrainConfig` (optimisation), plus the options below; give them
    as keywords, or as config objects whose fields keywords then override::

        SequenceTransformer(dim=64, ff_mult=2, clip_norm=0.5, objective="masked")
        SequenceTransformer(TransformerConfig(dim=64), TrainConfig(lr=2e-3), seed=1)
    """

    model_type = "transformer"
    capabilities = frozenset(
        {"score_histories", "interests", "predict_proba", "explain", "update", "source_weights"}
    )
    param_sources = (TransformerConfig, TrainConfig)
    data_fields = DATA_FIELDS
    #: Whether the model file keeps each event's rating (models whose heads read them).
    saves_ratings: ClassVar[bool] = False
    #: Why a model type does not take ``sources`` (None: it does, as this next-item one).
    sources_refused: ClassVar[str | None] = None
    own_params: ClassVar[dict[str, Any]] = {
        "objective": "causal",  # see lmrec.train.objectives.SEQUENCE_OBJECTIVES
        "mask_prob": 0.2,
        "text_model": None,
        "text_cache_dir": None,
        "target_behaviour": None,
        # Training: tied events (same timestamp or none, same behaviour) in random order
        # each epoch, for data whose file order is not time (lmrec.train.sequences).
        "shuffle_ties": False,
        # The behaviours the input sequences keep ("buy,view"; None = all): what a source
        # of behaviour adds is measured by leaving it out. Seen items are every behaviour's.
        "history_behaviours": None,
        "init_from": None,
        "finetune_mode": "full",
        "lora_rank": 8,
        "checkpoint_dir": None,
        "progress": True,
        # The repeat rule of early stopping on validation (lmrec.evaluate.ranking MODES):
        # None/"new-items" leaves repeat targets out; "repeats" ranks seen items too.
        "eval_mode": None,
        # λ of the diversity-aware task (lmrec.train.objectives.CategoryMix): 0 = off.
        "diversity_weight": 0.0,
        # Serving compression (lmrec.models.compress): "int8" scores through an int8 copy
        # of the net; prune records the share of each weight matrix zeroed after training.
        "quantize": None,
        "prune": 0.0,
    }

    def __init__(
        self,
        config: TransformerConfig | None = None,
        train: TrainConfig | None = None,
        **params: Any,
    ):
        self._set_params((config, train), params)

    # ------------------------------------------------------------------ config
    def _validate_params(self) -> None:
        from lmrec.evaluate.ranking import resolve_mode

        objective_class(self.objective)
        resolve_mode(self.eval_mode)
        if self.dim % self.heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.max_len < 2:
            raise ConfigError(f"max_len must be >= 2, got {self.max_len}")
        if not 0 < self.mask_prob < 1:
            raise ConfigError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if self.finetune_mode not in FINETUNE_MODES:
            raise ConfigError(
                f"finetune_mode must be one of {FINETUNE_MODES}, got {self.finetune_mode!r}"
            )
        if self.finetune_mode != "full" and self.init_from is None:
            raise ConfigError(
                f"finetune_mode={self.finetune_mode!r} needs init_from (a pretrained run dir)"
            )
        check_compression(self.quantize, self.prune)
        if self.fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if not 0 <= self.id_dropout < 1:
            raise ConfigError(f"id_dropout must be in [0, 1), got {self.id_dropout}")
        check_float(self, "text_head", low=0.0)
        check_float(self, "text_head_offset")
        text_head = self.text_head > 0
        if self.id_dropout > 0 and self.fusion not in ("add", "concat", "gate"):
            raise ConfigError(
                f"id_dropout drops ID embeddings in favour of item text: it needs fusion add, "
                f"concat or gate, not {self.fusion!r}"
            )
        if not self.id_dropout_inputs and self.id_dropout == 0:
            raise ConfigError(
                "id_dropout_inputs=False says where ID dropout applies (the output side only): "
                "it needs id_dropout > 0"
            )
        if self.task_weighting not in TASK_WEIGHTINGS:
            raise ConfigError(
                f"task_weighting must be one of {TASK_WEIGHTINGS}, got {self.task_weighting!r}"
            )
        if self.task_weighting != "fixed" and self.model_type == "transformer":
            raise ConfigError(
                "task_weighting weighs the tasks of a multi-task model; use transformer-behaviour "
                "or transformer-rating (lmrec train --tasks next,behaviour)"
            )
        if self.text_bias and not (
            self.fusion == "text"
            or (self.fusion in ("add", "concat", "gate") and (self.id_dropout > 0 or text_head))
        ):
            raise ConfigError(
                "text_bias learns a bias from the text of items seen by their text alone: it "
                "needs fusion 'text', or fusion add, concat or gate with id_dropout > 0 or "
                "text_head > 0"
            )
        if text_head and not (self.fusion in ("add", "concat", "gate") and self.text_bias):
            raise ConfigError(
                "text_head scores items by their text alone next to the fused item vectors: "
                f"it needs fusion add, concat or gate (not {self.fusion!r}) and text_bias=True "
                "(the text head's item biases)"
            )
        if text_head and self.sampled_softmax > 0:
            raise ConfigError(
                "text_head's log-probabilities need the full softmax; set sampled_softmax=0"
            )
        if text_head and (self.quantize is not None or self.prune > 0):
            raise ConfigError(
                "quantize and prune build one plain output layer, which has no text head; "
                "compress a model with text_head=0"
            )
        if self.mask_untrained and self.fusion == "id":
            raise ConfigError(
                "mask_untrained leaves untrained items out of training so that their text "
                "can rank them later: it needs item text (fusion add, concat, gate or text)"
            )
        if not self.diversity_weight >= 0:
            raise ConfigError(f"diversity_weight must be >= 0, got {self.diversity_weight}")
        if self.diversity_weight > 0 and self.sampled_softmax > 0:
            raise ConfigError(
                "diversity_weight needs the full softmax (the category mix of every item's "
                "probability); set sampled_softmax=0"
            )
        if self.target_behaviour is not None and self.target_behaviour not in BEHAVIOURS:
            raise ConfigError(
                f"target_behaviour must be one of {BEHAVIOURS} or None, "
                f"got {self.target_behaviour!r}"
            )
        if self.predict_behaviours and (
            self.objective != "causal" or self.target_behaviour is None
        ):
            raise ConfigError(
                "predict_behaviours trains the causal objective on every next event and scores "
                "the target behaviour: it needs objective='causal' and a target_behaviour"
            )
        self._kept_behaviours()
        self._validate_sources()
        self.train_config()  # TrainConfig checks its own ranges

    def _validate_sources(self) -> None:
        if self.sources and self.sources_refused:
            raise ConfigError(
                "sources (ratings, reviews as event features) are read by the next-item "
                f"transformer; {self.sources_refused}"
            )
        parse_sources(self.sources)
        if self.source_weighting not in SOURCE_WEIGHTINGS:
            raise ConfigError(
                f"source_weighting must be one of {SOURCE_WEIGHTINGS}, "
                f"got {self.source_weighting!r}"
            )
        if self.source_weights and not (self.sources and self.source_weighting == "fixed"):
            raise ConfigError(
                "source_weights are the fixed weights of sources: set sources (e.g. "
                "'rating,review') and source_weighting='fixed'"
            )
        if self.sources and self.source_weighting == "fixed":
            names = transformer_source_names(self.sources, self.use_behaviour)
            fixed_source_weights(names, self.source_weights)

    def _kept_behaviours(self) -> np.ndarray | None:
        """``history_behaviours`` as behaviour token indices (None = keep every event)."""
        if self.history_behaviours is None:
            return None
        names = [b.strip() for b in str(self.history_behaviours).split(",") if b.strip()]
        unknown = [b for b in names if b not in BEHAVIOURS]
        if not names or unknown:
            raise ConfigError(
                f"history_behaviours must name behaviours among {BEHAVIOURS} "
                f"(comma-separated), got {self.history_behaviours!r}"
            )
        return np.array([BEHAVIOURS.index(b) + 1 for b in names], dtype=np.int64)

    def _features(self) -> tuple[str, ...]:
        """The per-event source features batches carry (lmrec.train.sequences)."""
        return parse_sources(self.sources)

    def net_config(self, n_items: int, text_dim: int = 0, review_dim: int = 0) -> TransformerConfig:
        return self.config(
            TransformerConfig,
            n_items=n_items,
            text_dim=text_dim,
            review_dim=review_dim,
            **self._head_fields(),
        )

    def _head_fields(self) -> dict[str, object]:
        """The net's data-set fields a model type adds for its heads (none here)."""
        return {}

    def train_config(self) -> TrainConfig:
        return self.config(TrainConfig)

    # --------------------------------------------------------------------- fit
    def _fit(self, train_data: Dataset, valid: Dataset | None) -> None:
        torch.manual_seed(self.seed)
        self.text_basis_: TextBasis | None = None
        text = self._encode_item_texts(train_data) if self.fusion != "id" else None
        text_dim = 0 if text is None else text.shape[1]
        self.review_basis_: TextBasis | None = None
        self.sequences_ = self._sequences(train_data, fit=True)
        review_dim = 0 if self.sequences_.reviews is None else REVIEW_COMPONENTS
        self.net_ = SequenceTransformerNet(
            self.net_config(train_data.n_items, text_dim, review_dim)
        )
        trained = np.bincount(train_data.item_index(), minlength=train_data.n_items) > 0
        if text is not None:
            self.net_.fusion.set_text(text, trained)
        self.net_.set_trained(trained)
        parameters = None
        if self.init_from is not None:
            self._load_pretrained(train_data)
            if self.finetune_mode == "lora":
                add_lora(self.net_, self.lora_rank)
            parameters = trainable_parameters(self.net_, self.finetune_mode)
        # With checkpoint_dir, every epoch is checkpointed there and a rerun resumes from it.
        self.history_ = self._train(
            self.net_,
            self.sequences_,
            train_data,
            valid,
            parameters,
            checkpoint_dir=self.checkpoint_dir,
            resume=self.checkpoint_dir is not None,
        )
        if self.mask_untrained or self.text_bias:
            self.net_.new_items_start(~trained)
        self.temperature_ = 1.0
        if valid is not None and len(valid.interactions):
            self.calibrate(valid)

    def _sequences(self, data: Dataset, fit: bool = False) -> UserSequences:
        """``data``'s sequences as this model reads them: with each event's review vector
        (``sources`` with "review"; the review basis is fitted when ``fit``), keeping the
        events of ``history_behaviours``."""
        names = parse_sources(self.sources)
        inter = data.interactions
        if fit and "rating" in names and not inter["rating"].notna().any():
            raise ConfigError(
                f"{data.name}: sources='rating' reads each event's rating, and this data has "
                "no ratings; drop 'rating' from sources"
            )
        reviews = self._review_vectors(data, fit) if "review" in names else None
        seqs = user_sequences(data, reviews)
        kept = self._kept_behaviours()
        return seqs if kept is None else keep_behaviours(seqs, kept)

    def _review_vectors(self, data: Dataset, fit: bool) -> np.ndarray:
        """(n_events, REVIEW_COMPONENTS) reduced embeddings of each event's review text,
        zero rows for events without one; the basis is fitted on the fitting data's."""
        from lmrec.text.item_text import encode_texts

        z = encode_texts(
            list(data.interactions["review"]),
            text_model=self.text_model,
            cache_dir=self.text_cache_dir,
            progress=self.progress,
        )
        if fit:
            if not np.any(z):
                raise ConfigError(
                    f"{data.name}: no event has review text; sources='review' reads each "
                    "event's review, drop 'review' from sources"
                )
            self.review_basis_ = fit_text_basis(z, n_components=REVIEW_COMPONENTS)
        if self.review_basis_ is None:
            raise ConfigError("this model has no review basis; fit it before scoring reviews")
        return self.review_basis_.apply(z)

    def _encode_item_texts(self, data: Dataset) -> np.ndarray:
        """Sentence embeddings of every item's text (title, genres, tags, attributes and the
        reviews *in the fitting data*, so held-out reviews never leak); cached on disk."""
        from lmrec.text.item_text import encode_items

        z = encode_items(
            data,
            reviews=data.interactions,
            text_model=self.text_model,
            cache_dir=self.text_cache_dir,
            progress=self.progress,
        )
        if not np.any(z):
            raise ConfigError(
                f"{data.name}: no item has any text (title, categories, text or reviews); "
                f"fusion={self.fusion!r} needs item text, use fusion='id'"
            )
        self.text_basis_ = fit_text_basis(z, n_components=TEXT_COMPONENTS)
        return self.text_basis_.apply(z)

    def calibrate(self, held_out: Dataset) -> dict[str, float]:
        """Fit the softmax temperature on held-out next events (e.g. validation targets).

        Returns NLL and ECE before and after; the ranking does not change.
        """
        self._check_fitted()
        frame = held_out.interactions
        users = self.idmap_.user_index(frame["user_id"])
        targets = self.idmap_.item_index(frame["item_id"])
        logits = self.score_indices(users)
        before = {"nll": nll(logits, targets), "ece": expected_calibration_error(logits, targets)}
        self.temperature_ = fit_temperature(logits, targets)
        return {
            "temperature": self.temperature_,
            "nll_before": before["nll"],
            "ece_before": before["ece"],
            "nll": nll(logits, targets, self.temperature_),
            "ece": expected_calibration_error(logits, targets, self.temperature_),
        }

    def _load_pretrained(self, data: Dataset) -> None:
        """Start from the weights of the run in ``init_from`` (same catalogue and shapes)."""
        from lmrec.models.registry import load

        pretrained = load(self.init_from)
        if not isinstance(pretrained, SequenceTransformer):
            raise ConfigError(
                f"init_from={self.init_from!r} holds a {type(pretrained).__name__}, "
                "not a transformer run"
            )
        if not np.array_equal(pretrained.idmap_.items, data.idmap.items):
            raise ConfigError(
                f"init_from={self.init_from!r} was trained on another item catalogue "
                f"({pretrained.idmap_.n_items} items vs {data.n_items}); pretrain on this data"
            )
        mine, theirs = self.net_.config, pretrained.net_.config
        for field in ("dim", "layers", "heads", "ff_mult", "max_len", "fusion", "text_dim"):
            if getattr(mine, field) != getattr(theirs, field):
                raise ConfigError(
                    f"init_from has {field}={getattr(theirs, field)}, this model "
                    f"{getattr(mine, field)}; fine-tune with the pretrained architecture"
                )
        state = {k: v for k, v in pretrained.net_.state_dict().items() if "lora_" not in k}
        self.net_.load_state_dict(state, strict=False)

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
        objective = self._sequence_objective(net, seqs)
        if len(objective.windows.user) == 0:
            raise ConfigError(f"{data.name}: no user has 2 or more events; nothing to learn from")
        if self.diversity_weight > 0:
            objective = CategoryMix(objective, _category_weights(data), self.diversity_weight)
        from lmrec.evaluate.ranking import validation_ndcg

        return run_training(
            net,
            objective,
            self.train_config(),
            validate=validation_ndcg(self, data, valid, data.matrix("binary"), self.eval_mode),
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            progress=self.progress,
            parameters=parameters,
        )

    def _next_behaviour(self) -> int | None:
        """The target behaviour as a token index (behaviour index + 1), or None: what
        training predicts and what a masked model's trailing [MASK] carries at inference
        (the model learned to fill buys; None keeps the default)."""
        if self.target_behaviour is None:
            return None
        return BEHAVIOURS.index(self.target_behaviour) + 1

    def _sequence_objective(self, net: SequenceTransformerNet, seqs: UserSequences):
        """The next-item or masked-item objective this model's parameters name."""
        return sequence_objective(
            self.objective,
            seqs,
            self.max_len,
            mask_index=net.config.mask_index,
            mask_prob=self.mask_prob,
            target_behaviour=self._next_behaviour(),
            shuffle_ties=self.shuffle_ties,
            features=self._features(),
            tell_behaviour=self.predict_behaviours,
        )

    def fit_split(self, split: Split, on: Part = "test") -> SequenceTransformer:
        """Train on ``split.train`` stopping early on the validation targets; for ``test``,
        then condition on train + valid without retraining (the SASRec protocol)."""
        self.fit(split.train, valid=split.train.with_interactions(split.valid))
        self.extend_fit(split, on)
        return self

    def extend_fit(self, split: Split, on: Part) -> bool:
        """From a fit for ``valid`` to one for ``on``: for test, condition on train + valid."""
        if on == "test":
            self.set_history(split.fit_data("test"))
        return True

    def set_history(self, data: Dataset) -> SequenceTransformer:
        """Condition future scores on ``data``'s sequences (same id map) without retraining."""
        self._check_fitted()
        if not self.idmap_.same_as(data.idmap):
            raise ConfigError("set_history needs data with the id map the model was fitted on")
        self.sequences_ = self._sequences(data)
        self.seen_ = data.matrix("binary")
        return self

    # ------------------------------------------------------------------- score
    def _score(self, users: np.ndarray) -> np.ndarray:
        net = self._scoring_net()
        cache = self.__dict__.get("_user_states")
        if cache is not None and cache[0] is self.sequences_ and cache[1] is net:
            with torch.no_grad():
                return net.logits(cache[2][torch.as_tensor(users)]).numpy()
        return self._score_sequences(self.sequences_, users)

    def prepare_for_serving(self) -> None:
        """Encode every known user's history once and keep the final states (n_users × dim
        floats), so that scoring one such user is a product with the item table instead of
        a pass through the Transformer (that pass was 87% of a served request).

        Scores are the same as without the cache. The states are tied to the sequences and
        the scoring net they came from: :meth:`set_history`, refitting, loading or
        :meth:`compress` make them stale, and stale states are never read.
        """
        self._check_fitted()
        net = self._scoring_net()
        rows = np.arange(len(self.sequences_.items))
        states = self._last_states(net, self.sequences_, rows)
        self.__dict__["_user_states"] = (self.sequences_, net, states)

    @torch.no_grad()
    def _last_states(
        self, net: torch.nn.Module, seqs: UserSequences, rows: np.ndarray, chunk: int = 1024
    ) -> torch.Tensor:
        """(len(rows), dim) state after each history: what the output layer scores."""
        states = torch.empty(len(rows), net.config.dim)
        for part, inputs in self._inference_chunks(net, seqs, rows, chunk):
            h = net.encode(
                inputs["items"],
                inputs["behaviours"],
                inputs["gaps"],
                inputs["causal"],
                ratings=inputs.get("ratings"),
                reviews=inputs.get("reviews"),
                next_behaviours=inputs.get("next_behaviours"),
            )
            states[torch.as_tensor(part)] = h[:, -1]
        return states

    def _inference_chunks(
        self, net: torch.nn.Module, seqs: UserSequences, rows: np.ndarray, chunk: int
    ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """(positions in ``rows``, net inputs) per chunk of histories.

        Rows go in order of history length, so a chunk is padded only to its own longest
        history: most Beauty users have a handful of events, and scoring them padded to
        ``max_len`` (as when one long history shares their chunk) was most of the time.
        """
        inference = objective_class(self.objective).inference
        rows = np.asarray(rows)
        lengths = np.array([min(len(seqs.items[r]), self.max_len) for r in rows])
        order = np.argsort(lengths, kind="stable")
        for lo in range(0, len(rows), chunk):
            part = order[lo : lo + chunk]
            yield (
                part,
                inference(
                    seqs,
                    rows[part],
                    self.max_len,
                    net.config.mask_index,
                    self._next_behaviour(),
                    self._features(),
                ),
            )

    @torch.no_grad()
    def _score_sequences(
        self, seqs: UserSequences, rows: np.ndarray, chunk: int = 1024
    ) -> np.ndarray:
        """Next-item scores after sequences ``rows`` of ``seqs``; reads nothing else that
        scoring could change, so concurrent calls on different sequences are safe."""
        net = self._scoring_net()
        out = np.empty((len(rows), self.idmap_.n_items), dtype=np.float32)
        for part, inputs in self._inference_chunks(net, seqs, rows, chunk):
            logits, _ = net(**inputs)
            out[part] = logits.numpy()
        return out

    def _scoring_net(self) -> torch.nn.Module:
        """The net that scores: the trained one, or its int8 copy with ``quantize="int8"``
        (built once per fitted or loaded net)."""
        net = self.net_
        if net.training:
            net.eval()
        if self.quantize != "int8":
            return net
        cached = getattr(self, "_int8_net", None)
        if cached is None or cached[0] is not net:
            cached = (net, int8_scoring_net(net))
            self._int8_net = cached
        return cached[1]

    def compress(self, quantize: str | None = None, prune: float = 0.0) -> SequenceTransformer:
        """Prune (``prune``: share of each weight matrix zeroed by magnitude) and/or score
        in int8 (``quantize="int8"``) from now on, in place; see :mod:`lmrec.models.compress`.
        Returns self, whose parameters now say what was done (saved with the model)."""
        self._check_fitted()
        check_compression(quantize, prune)
        if 0 < prune < self.prune:
            raise ConfigError(f"this model is already pruned by {self.prune}; prune >= that")
        if prune > 0:
            prune_magnitude(self.net_, prune)
            self.prune = prune
        self.quantize = quantize or self.quantize
        self._int8_net = None
        self.__dict__.pop("_user_states", None)  # pruning changed the weights in place
        return self

    # ------------------------------------------------------------------ update
    def update(
        self,
        events: Dataset | pd.DataFrame,
        items: pd.DataFrame | None = None,
        *,
        epochs: int = 3,
        replay: float = 1.0,
        lr: float | None = None,
        text_model: str | None = None,
    ) -> SequenceTransformer:
        """Continue training on ``events`` (a Dataset, or a frame with ``user_id``,
        ``item_id`` and optionally ``timestamp``, ``behaviour``), in place; returns self.

        New users and items join at the end of the id map (old indices keep their meaning);
        a new item starts from its text (``items``: a table with ``item_id`` and ``title`` /
        ``text`` / ``categories``, or the Dataset's own item table), see
        :mod:`lmrec.models.grow`, and from the mean output bias. Then ``epochs`` epochs of the
        model's own objective run over the users with new events plus ``replay`` times as
        many other users drawn at random (so the update does not forget the rest), with a
        fresh optimizer at ``lr`` (default: the model's). Nothing is validated or stopped
        early: an update is a short, fixed amount of training.

        Events older than the model's latest event are refused: an update adds what
        happened after the model's data (retrain to insert the past).
        """
        from lmrec.models.grow import append_events, grow_item_rows, grown_idmap, new_ids

        self._check_fitted()
        self._check_updatable(epochs, replay)
        new = _as_dataset(events, items)
        self._check_not_older(new)
        users_new = new_ids(self.idmap_.users, new.interactions["user_id"])
        items_new = new_ids(self.idmap_.items, new.interactions["item_id"])
        idmap = grown_idmap(self.idmap_, users_new, items_new)
        frame = new.interactions
        sources = parse_sources(self.sources)  # the new events' ratings and reviews
        seqs = append_events(
            self.sequences_,
            idmap.n_users,
            idmap.user_index(frame["user_id"]),
            idmap.item_index(frame["item_id"]) + 1,
            frame["behaviour"].cat.codes.to_numpy().astype(np.int64) + 1,
            frame["timestamp"].to_numpy(dtype=np.float64),
            ratings=frame["rating"].to_numpy(dtype=np.float64) if "rating" in sources else None,
            reviews=self._review_vectors(new, fit=False) if "review" in sources else None,
        )
        kept = self._kept_behaviours()
        if kept is not None:
            seqs = keep_behaviours(seqs, kept)
        n_old = self.idmap_.n_items
        net = SequenceTransformerNet(replace(self.net_.config, n_items=idmap.n_items))
        net.load_state_dict(grow_item_rows(self.net_.state_dict(), net.state_dict(), n_old))
        trained = np.zeros(idmap.n_items, dtype=bool)
        trained[np.concatenate(seqs.items) - 1] = True
        # Dataset.from_frames gave every item of the events a row (empty text if unknown).
        added = new.items.set_index("item_id").loc[items_new]
        self._start_new_items(net, added, n_old, text_model)
        if net.fusion is not None:
            text = net.fusion.text[1 : idmap.n_items + 1].numpy()
            net.fusion.set_text(text, trained)
        net.set_trained(trained)
        touched = np.unique(idmap.user_index(frame["user_id"]))
        rows = _with_replay(touched, seqs, replay, self.seed)
        part = UserSequences(
            [seqs.items[r] for r in rows],
            [seqs.behaviours[r] for r in rows],
            [seqs.timestamps[r] for r in rows],
            None if seqs.ratings is None else [seqs.ratings[r] for r in rows],
            None if seqs.reviews is None else [seqs.reviews[r] for r in rows],
        )
        objective = self._sequence_objective(net, part)
        config = replace(self.train_config(), epochs=epochs, lr=lr or self.lr, patience=epochs)
        steps = epochs * len(objective.batches(np.random.default_rng(0), config.batch_size))
        config = replace(config, warmup_steps=max(1, min(config.warmup_steps, steps // 10)))
        if len(objective.windows.user):  # history_ stays the fit's (its early stopping)
            self.update_history_ = run_training(
                net, objective, config, validate=None, progress=self.progress
            )
        net.eval()
        #: Who the update trained on (users with new events and the replay draw).
        self.update_users_ = idmap.user_ids(rows)
        self.net_ = net
        self.idmap_ = idmap
        self.sequences_ = seqs
        self.seen_ = _seen_matrix(seqs, idmap.n_items)
        self.item_titles_ = np.concatenate(
            [self.item_titles_, added["title"].astype(str).to_numpy(dtype=object)]
        )
        self.item_categories_ = [
            *self.item_categories_,
            *([str(c) for c in cats] for cats in added["categories"]),
        ]
        self._int8_net = None
        self.__dict__.pop("_user_states", None)
        return self

    def _check_updatable(self, epochs: int, replay: float) -> None:
        if not self.supports("update"):
            self._require("update", "retrain the model on all its data instead")
        if self.quantize is not None or self.prune > 0:
            raise ConfigError(
                "this model is compressed (quantize/prune); update the uncompressed run, "
                "then compress the result"
            )
        if self.finetune_mode == "lora":
            raise ConfigError("update a LoRA fine-tune's merged weights: not supported; retrain")
        if epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {epochs}")
        if not replay >= 0:
            raise ConfigError(f"replay must be >= 0, got {replay}")

    def _check_not_older(self, new: Dataset) -> None:
        """Refuse events before the model's latest event, naming the first one."""
        stamps = np.concatenate(self.sequences_.timestamps)
        if not len(stamps) or np.isnan(stamps).all():
            return
        latest = float(np.nanmax(stamps))
        times = new.interactions["timestamp"].to_numpy(dtype=np.float64)
        if np.isnan(times).any():
            row = int(np.flatnonzero(np.isnan(times))[0])
            raise DataError(
                f"{new.name}: row {row + 1} has no timestamp; the model's events have "
                "timestamps, so the update's must too (is the time column named differently?)"
            )
        older = np.flatnonzero(times < latest)
        if len(older):
            first = new.interactions.iloc[older[0]]
            raise DataError(
                f"{new.name}: {len(older)} event(s) are older than the model's latest event "
                f"(timestamp {latest:.0f}), e.g. user {first['user_id']!r}, item "
                f"{first['item_id']!r} at {times[older[0]]:.0f}; an update adds what happened "
                "after the model's data; retrain to add the past"
            )

    def _start_new_items(
        self,
        net: SequenceTransformerNet,
        added: pd.DataFrame,
        n_old: int,
        text_model: str | None,
    ) -> None:
        """New rows n_old+1.. of ``net`` for the item-table rows ``added`` (in id-map order):
        ID embedding from the text neighbours (mean embedding without text), the start bias
        of :meth:`~lmrec.models.transformer.SequenceTransformerNet.new_items_start` (the
        mean, or the text's with ``text_bias``), and (with fusion) their text."""
        if not len(added):
            return
        from lmrec.text.item_text import describe_item, encode_texts
        from lmrec.text.neighbours import text_neighbours

        texts = [
            describe_item(title, categories, text)
            for title, categories, text in zip(
                added["title"], added["categories"], added["text"], strict=True
            )
        ]
        rows = torch.arange(n_old + 1, n_old + 1 + len(added))
        with torch.no_grad():
            ids = net.item_emb.weight
            old_ids = ids[1 : n_old + 1]
            ids[rows] = old_ids.mean(0)
            has = np.array([bool(t) for t in texts])
            if has.any():
                kw = {"text_model": text_model or self.text_model, "progress": False}
                titles, categories = self.item_titles_, self.item_categories_
                catalogue = [describe_item(t, c) for t, c in zip(titles, categories, strict=True)]
                z_cat = encode_texts(catalogue, cache_dir=self.text_cache_dir, **kw)
                z_new = encode_texts([t for t in texts if t], cache_dir=self.text_cache_dir, **kw)
                if z_cat.any():  # else nothing to borrow from: the mean embedding stays
                    top, w = text_neighbours(z_new, z_cat)  # (n_new, m) each
                    neighbours = old_ids[torch.as_tensor(top)]  # (n_new, m, dim)
                    weights = torch.as_tensor(w)[..., None]  # (n_new, m, 1)
                    ids[rows[torch.as_tensor(has)]] = (neighbours * weights).sum(1)
                if net.fusion is not None:
                    if self.text_basis_ is None:
                        raise ConfigError(
                            "this text-fusion model was saved before updates could place new "
                            "items' text (it has no text basis); retrain it to add new items"
                        )
                    reduced = torch.from_numpy(self.text_basis_.apply(z_new))
                    # has_text follows in update(): fusion.set_text reads it off these rows
                    net.fusion.text[rows[torch.as_tensor(has)]] = reduced
            net.new_items_start(np.arange(net.config.n_items) >= n_old)

    def _score_histories(
        self,
        indices: list[np.ndarray],
        behaviours: Sequence[Sequence[str]] | None,
        timestamps: Sequence[Sequence[float]] | None,
    ) -> np.ndarray:
        """Scores after raw histories, exactly as a known user with that sequence.

        ``behaviours`` (default: all "click") and ``timestamps`` (unix seconds; default:
        unknown) describe each event. Histories longer than ``max_len`` keep their latest
        ``max_len`` events, as in training. The base has checked ids and lengths.
        """
        # Scored from their own sequences: nothing on the model changes (thread-safe).
        seqs = _raw_sequences(indices, behaviours, timestamps)
        kept = self._kept_behaviours()
        if kept is not None:
            seqs = keep_behaviours(seqs, kept)
        return self._score_sequences(seqs, np.arange(len(indices)))

    def source_weights_of(self, user_ids: Sequence[object]) -> pd.DataFrame:
        """How much each source counts for each user now (rows sum to 1): the weights at the
        last event of the user's history (see ``sources``; fixed weights are the same for
        everyone). A model without ``sources`` reads one source, its behaviour sequence."""
        self._check_fitted()
        users = self.idmap_.user_index(list(user_ids))
        net = self.net_
        names = net.config.source_names if net.config.sources else ("behaviour",)
        weights = np.empty((len(users), len(names)), dtype=np.float64)
        with torch.no_grad():
            for part, inputs in self._inference_chunks(net, self.sequences_, users, 1024):
                weights[part] = net.source_weights(**inputs).numpy()
        return pd.DataFrame(weights, index=pd.Index(list(user_ids), name="user_id"), columns=names)

    def predict_proba(self, user_ids: Sequence[object]) -> np.ndarray:
        """Calibrated p(item | history) over every item (rows sum to 1)."""
        return _softmax(self.score(user_ids), self.temperature_)

    def interests(
        self,
        user_id: object | None = None,
        *,
        history: Sequence[object] | None = None,
        top_items: int = 10,
        top_categories: int = 10,
    ) -> Interests:
        """The user's calibrated next-item distribution and its category aggregate.

        Give a known ``user_id`` or a raw ``history`` of item ids.
        """
        self._check_fitted()
        if (user_id is None) == (history is None):
            raise ConfigError("give exactly one of user_id or history")
        logits = self.score([user_id]) if history is None else self.score_histories([history])
        probs = _softmax(logits, self.temperature_)[0]
        names, w = category_matrix(self.item_categories_)
        return summarise(
            probs, self.idmap_.items, names, w, self.temperature_, top_items, top_categories
        )

    def explain(
        self,
        user_id: object | None = None,
        item_id: object | None = None,
        *,
        history: Sequence[object] | None = None,
        top: int | None = 5,
    ) -> list[Attribution]:
        """Gradient × input attribution of ``item_id``'s score to each event of the user's
        history (or of a raw ``history`` of item ids), strongest first, the ``top`` ones
        (None: every event read); each split by source (``Attribution.sources``; see
        :mod:`lmrec.models.explain`). Only the last ``max_len`` events are read, as in
        scoring."""
        self._check_fitted()
        if top is not None:
            check_k(top, "top")
        if (user_id is None) == (history is None):
            raise ConfigError("give exactly one of user_id or history")
        if item_id is None:
            raise ConfigError("give the item_id to explain")
        (item,) = self.idmap_.item_index([item_id])
        if history is None:
            (row,) = self.idmap_.user_index([user_id])
            seqs = self.sequences_
        else:
            seqs = _raw_sequences(self._history_indices([history]), None, None)
            row = 0
        net = self.net_
        if net.training:
            net.eval()
        inputs = objective_class(self.objective).inference(
            seqs,
            np.array([row]),
            self.max_len,
            net.config.mask_index,
            self._next_behaviour(),
            self._features(),
        )
        grads = gradient_x_input(net, inputs, int(item))
        attribution = grads.attribution
        items, kinds = inputs["items"][0].numpy(), inputs["behaviours"][0].numpy()
        real = np.flatnonzero((items != 0) & (items <= self.idmap_.n_items))
        total = float(np.abs(attribution[real]).sum()) or 1.0
        out = [
            Attribution(
                position=int(j),
                item_id=str(self.idmap_.items[items[p] - 1]),
                behaviour=BEHAVIOURS[kinds[p] - 1] if kinds[p] > 0 else "click",
                attribution=float(attribution[p]),
                share=float(abs(attribution[p]) / total),
                sources={name: float(part[p]) for name, part in grads.parts.items()},
            )
            for j, p in enumerate(real)
        ]
        return sorted(out, key=lambda a: -a.attribution)[:top]

    def _item_vectors(self) -> np.ndarray:
        """The items' output vectors (fused with text when the model uses text)."""
        with torch.no_grad():
            return self.net_.item_table()[1 : self.idmap_.n_items + 1].numpy()

    # ----------------------------------------------------------------- persist
    def _state(self) -> dict[str, np.ndarray]:
        state = module_arrays(self.net_)
        state["temperature"] = np.array([self.temperature_], dtype=np.float64)
        keep_ratings = self.saves_ratings or "rating" in parse_sources(self.sources)
        state.update(sequence_arrays(self.sequences_, ratings=keep_ratings))
        # The text basis lets an update place new items' text (models saved since), the
        # review basis set_history reduce new reviews as in training.
        for name in ("text_basis", "review_basis"):
            basis = getattr(self, f"{name}_", None)
            if basis is not None:
                state[f"{name}.mean"] = basis.mean
                state[f"{name}.components"] = basis.components
                state[f"{name}.scale"] = np.array([basis.scale])
        return state

    def _load_state(self, arrays: dict[str, Any]) -> None:
        text = arrays.get("net.fusion.text")
        text_dim = 0 if text is None else int(text.shape[1])
        review = arrays.get("net.review_proj.weight")
        review_dim = 0 if review is None else int(review.shape[1])
        self.net_ = SequenceTransformerNet(
            self.net_config(self.idmap_.n_items, text_dim, review_dim)
        )
        # Files saved before the block was written out hold torch's nn.TransformerEncoder
        # layout; convert_legacy_state maps them to this one (same scores).
        state = module_state(arrays, convert=convert_legacy_state)
        if self.init_from is not None and self.finetune_mode == "lora":
            add_lora(self.net_, self.lora_rank, targets=lora_targets(state))
        load_module(self.net_, state)
        self.net_.eval()
        self.temperature_ = float(arrays["temperature"][0]) if "temperature" in arrays else 1.0
        self.sequences_ = sequences_from_arrays(arrays)
        for name in ("text_basis", "review_basis"):
            basis = None
            if f"{name}.mean" in arrays:
                basis = TextBasis(
                    np.asarray(arrays[f"{name}.mean"]),
                    np.asarray(arrays[f"{name}.components"]),
                    float(arrays[f"{name}.scale"][0]),
                )
            setattr(self, f"{name}_", basis)


def _as_dataset(events: Dataset | pd.DataFrame, items: pd.DataFrame | None) -> Dataset:
    """The update's events as a Dataset (a frame is checked as any interactions are)."""
    if isinstance(events, Dataset):
        if items is None:
            return events
        return Dataset.from_frames(events.interactions, items, name=events.name)
    if not isinstance(events, pd.DataFrame):
        raise ConfigError(
            f"update expects a Dataset or a DataFrame of events, got {type(events).__name__}"
        )
    return Dataset.from_frames(events, items, name="update events")


def _with_replay(touched: np.ndarray, seqs: UserSequences, replay: float, seed: int) -> np.ndarray:
    """The users an update trains on: those with new events plus ``replay`` times as many
    others (with 2 or more events) drawn at random, seeded."""
    lengths = np.array([len(s) for s in seqs.items])
    others = np.setdiff1d(np.flatnonzero(lengths >= 2), touched)
    n = min(len(others), round(replay * len(touched)))
    drawn = np.random.default_rng(seed).choice(others, size=n, replace=False) if n else []
    return np.sort(np.concatenate([touched, np.asarray(drawn, dtype=np.int64)]))


def _seen_matrix(seqs: UserSequences, n_items: int) -> sp.csr_matrix:
    """Users × items, 1 where the user's sequence holds the item."""
    lengths = [len(s) for s in seqs.items]
    rows = np.repeat(np.arange(len(lengths)), lengths)
    cols = np.concatenate(seqs.items) - 1 if sum(lengths) else np.zeros(0, np.int64)
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(lengths), n_items)
    )
    m.data[:] = 1.0  # duplicates summed by the constructor count once
    return m


def _raw_sequences(
    indices: list[np.ndarray],
    behaviours: Sequence[Sequence[str]] | None,
    timestamps: Sequence[Sequence[float]] | None,
) -> UserSequences:
    """Raw histories (item indices) as sequences the net reads: behaviours default to
    "click", timestamps to unknown; an unknown behaviour is a :class:`ConfigError`."""
    kinds, stamps = [], []
    for n, history in enumerate(indices):
        if behaviours is None:
            kinds.append(np.full(len(history), BEHAVIOURS.index("click") + 1))
        else:
            unknown = [b for b in behaviours[n] if b not in BEHAVIOURS]
            if unknown:
                raise ConfigError(f"unknown behaviour {unknown[0]!r}; expected one of {BEHAVIOURS}")
            kinds.append(np.array([BEHAVIOURS.index(b) + 1 for b in behaviours[n]]))
        if timestamps is None:
            stamps.append(np.full(len(history), np.nan))
        else:
            stamps.append(np.asarray(timestamps[n], dtype=np.float64))
    return UserSequences([h + 1 for h in indices], kinds, stamps)


def _category_weights(data: Dataset) -> torch.Tensor:
    """(n_items + 2, n_categories) category weights in the net's rows (item index + 1;
    padding and [MASK] rows zero) for :class:`~lmrec.train.objectives.CategoryMix`."""
    item_categories = list(data.items["categories"])  # rows follow the id map
    if not any(item_categories):
        raise ConfigError(
            f"{data.name}: no item has a category, so diversity_weight has no category mix "
            "to learn; set diversity_weight=0"
        )
    _, w = category_matrix(item_categories)
    rows = np.zeros((data.n_items + 2, w.shape[1]), dtype=np.float32)
    rows[1 : data.n_items + 1] = w.toarray()
    return torch.from_numpy(rows)


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


__all__ = ["OBJECTIVES", "SequenceTransformer"]
