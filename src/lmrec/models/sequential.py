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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lmrec.data.schema import Dataset
from lmrec.errors import ConfigError
from lmrec.models.base import Recommender
from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig
from lmrec.train.loop import TrainConfig, TrainHistory, train
from lmrec.train.sequences import (
    UserSequences,
    bucketed_batches,
    causal_batch,
    inference_batch,
    masked_batch,
    training_windows,
    user_sequences,
)

OBJECTIVES = ("causal", "masked")


class SequenceTransformer(Recommender):
    """Transformer over behaviour sequences; full-softmax next-item or masked-item training."""

    model_type = "transformer"

    def __init__(
        self,
        dim: int = 64,
        layers: int = 2,
        heads: int = 2,
        max_len: int = 50,
        dropout: float = 0.2,
        objective: str = "causal",
        mask_prob: float = 0.2,
        use_behaviour: bool = True,
        use_time_gaps: bool = True,
        sampled_softmax: int = 0,
        epochs: int = 200,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 100,
        patience: int = 10,
        seed: int = 0,
        threads: int = 0,
        progress: bool = True,
    ):
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.max_len = max_len
        self.dropout = dropout
        self.objective = objective
        self.mask_prob = mask_prob
        self.use_behaviour = use_behaviour
        self.use_time_gaps = use_time_gaps
        self.sampled_softmax = sampled_softmax
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.patience = patience
        self.seed = seed
        self.threads = threads
        self.progress = progress

    # ------------------------------------------------------------------ config
    def _validate_params(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.dim % self.heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.max_len < 2:
            raise ConfigError(f"max_len must be >= 2, got {self.max_len}")
        if not 0 < self.mask_prob < 1:
            raise ConfigError(f"mask_prob must be in (0, 1), got {self.mask_prob}")

    def net_config(self, n_items: int) -> TransformerConfig:
        return TransformerConfig(
            n_items=n_items,
            dim=self.dim,
            layers=self.layers,
            heads=self.heads,
            max_len=self.max_len,
            dropout=self.dropout,
            use_behaviour=self.use_behaviour,
            use_time_gaps=self.use_time_gaps,
            sampled_softmax=self.sampled_softmax,
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            patience=self.patience,
            seed=self.seed,
            threads=self.threads,
        )

    # --------------------------------------------------------------------- fit
    def _fit(self, train_data: Dataset, valid: Dataset | None) -> None:
        torch.manual_seed(self.seed)
        self.net_ = SequenceTransformerNet(self.net_config(train_data.n_items))
        self.sequences_ = user_sequences(train_data)
        self.history_ = self._train(self.net_, self.sequences_, train_data, valid)

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
        # Causal inputs drop each window's last event (it is only a target); masked inputs
        # keep every event, so their windows are one shorter to fit max_len positions.
        span = self.max_len if self.objective == "causal" else self.max_len - 1
        windows = training_windows(seqs, span)
        if len(windows.user) == 0:
            raise ConfigError(f"{data.name}: no user has 2 or more events; nothing to learn from")
        config = self.train_config()
        mask_index = net.config.mask_index

        def make_batch(idx: np.ndarray, rng: np.random.Generator):
            if self.objective == "causal":
                return causal_batch(seqs, windows, idx), True
            return masked_batch(seqs, windows, idx, mask_index, self.mask_prob, rng), False

        def batches(rng: np.random.Generator):
            return bucketed_batches(windows.lengths, config.batch_size, rng)

        validate = None
        if valid is not None and len(valid.interactions):
            from lmrec.evaluate.ranking import evaluate_targets

            exclude = data.matrix("binary")

            def validate() -> float:
                result = evaluate_targets(
                    self, data, valid.interactions, ks=(10,), exclude=exclude, progress=False
                )
                return result.metrics["ndcg@10"]

        return train(
            net,
            len(windows.user),
            make_batch,
            batches,
            config,
            validate=validate,
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            progress=self.progress,
            parameters=parameters,
        )

    def set_history(self, data: Dataset) -> SequenceTransformer:
        """Condition future scores on ``data``'s sequences (same id map) without retraining."""
        self._check_fitted()
        if data.idmap is not self.idmap_ and not (
            np.array_equal(data.idmap.items, self.idmap_.items)
            and np.array_equal(data.idmap.users, self.idmap_.users)
        ):
            raise ConfigError("set_history needs data with the id map the model was fitted on")
        self.sequences_ = user_sequences(data)
        self.seen_ = data.matrix("binary")
        return self

    # ------------------------------------------------------------------- score
    @torch.no_grad()
    def _score(self, users: np.ndarray, chunk: int = 1024) -> np.ndarray:
        self.net_.eval()
        mask = self.net_.config.mask_index if self.objective == "masked" else None
        out = np.empty((len(users), self.idmap_.n_items), dtype=np.float32)
        for lo in range(0, len(users), chunk):
            batch = inference_batch(self.sequences_, users[lo : lo + chunk], self.max_len, mask)
            logits, _ = self.net_(
                batch.items, batch.behaviours, batch.gaps, causal=self.objective == "causal"
            )
            out[lo : lo + chunk] = logits.numpy()
        return out

    def _item_vectors(self) -> np.ndarray:
        return self.net_.item_emb.weight[1 : self.idmap_.n_items + 1].detach().numpy()

    # ----------------------------------------------------------------- persist
    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        lengths = np.array([len(s) for s in self.sequences_.items], dtype=np.int64)
        state["seq.lengths"] = lengths
        state["seq.items"] = np.concatenate(self.sequences_.items).astype(np.int64)
        state["seq.behaviours"] = np.concatenate(self.sequences_.behaviours).astype(np.int64)
        state["seq.timestamps"] = np.concatenate(self.sequences_.timestamps).astype(np.float64)
        return state

    def _load_state(self, arrays: dict[str, Any]) -> None:
        self.net_ = SequenceTransformerNet(self.net_config(self.idmap_.n_items))
        weights = {
            k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net.")
        }
        self.net_.load_state_dict(weights)
        self.net_.eval()
        bounds = np.cumsum(arrays["seq.lengths"])[:-1]
        self.sequences_ = UserSequences(
            items=np.split(arrays["seq.items"], bounds),
            behaviours=np.split(arrays["seq.behaviours"], bounds),
            timestamps=np.split(arrays["seq.timestamps"], bounds),
        )


__all__ = ["OBJECTIVES", "SequenceTransformer"]
