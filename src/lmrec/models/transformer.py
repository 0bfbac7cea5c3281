"""The behaviour-sequence Transformer: one config dataclass and small modules, nanoGPT style.

A user's history is a sequence of events; event ``t`` is embedded as

    h_t = E_item[i_t] + E_behaviour[b_t] + E_position[t] (+ E_gap[bucket(Δt_t)])

and a stack of Transformer encoder layers turns it into contextual states. The output layer is
tied to the item embedding: ``logit(j | h) = h · E_item[j] + bias_j``, so every item, seen or
not, is scored in one matrix product. With ``fusion`` other than ``"id"``, ``E_item`` is the
ID embedding fused with a projection of the item's text embedding (see
:mod:`lmrec.models.fusion`), in the input and the output alike.

Two objectives share these weights:

- **causal next-item** (SASRec): position ``t`` attends to ``≤ t`` and predicts ``i_{t+1}``;
- **masked item** (BERT4Rec): random positions are replaced by ``[MASK]``, attention is
  bidirectional, and the model predicts the hidden items.

The loss is full-softmax cross-entropy over the whole catalogue by default; with
``sampled_softmax > 0`` it uses that many uniformly sampled negatives (with log-Q correction)
for catalogues too large for the full product. Only real (non-padding) positions are
projected, so padding costs attention time but never output time.

Index conventions: item index ``0`` is padding, ``1..n_items`` are the catalogue (``index - 1``
in the id map), ``n_items + 1`` is ``[MASK]``. Behaviour index 0 is padding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmrec.data.schema import BEHAVIOURS
from lmrec.models.fusion import TextFusion

PAD = 0
#: Time-gap buckets: log2 of the gap in seconds, clipped (0 = unknown/first event).
N_GAP_BUCKETS = 32


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of :class:`SequenceTransformerNet`; serialised into config.json."""

    n_items: int = 0  # catalogue size, set from the data at fit time
    dim: int = 64
    layers: int = 2
    heads: int = 2
    ff_mult: int = 4  # feed-forward width = ff_mult × dim (torch's default 2048 is far slower)
    max_len: int = 50
    dropout: float = 0.2
    use_behaviour: bool = True
    use_time_gaps: bool = True
    sampled_softmax: int = 0  # 0 = full softmax over every item
    fusion: str = "id"  # how item text joins the ID embedding, see lmrec.models.fusion
    text_dim: int = 0  # width of the item text embeddings (0 = no text)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def mask_index(self) -> int:
        return self.n_items + 1


class SequenceTransformerNet(nn.Module):
    """Embeddings + Transformer encoder + tied output layer."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = config
        self.config = c
        self.item_emb = nn.Embedding(c.n_items + 2, c.dim, padding_idx=PAD)  # + pad + [MASK]
        self.pos_emb = nn.Embedding(c.max_len, c.dim)
        self.behaviour_emb = nn.Embedding(len(BEHAVIOURS) + 1, c.dim, padding_idx=PAD)
        self.gap_emb = nn.Embedding(N_GAP_BUCKETS, c.dim)
        self.emb_norm = nn.LayerNorm(c.dim)
        self.emb_drop = nn.Dropout(c.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=c.dim,
            nhead=c.heads,
            dim_feedforward=c.ff_mult * c.dim,
            dropout=c.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(c.dim)
        self.out_bias = nn.Parameter(torch.zeros(c.n_items + 2))
        self.fusion = (
            TextFusion(c.fusion, c.n_items + 2, c.text_dim, c.dim) if c.fusion != "id" else None
        )
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()

    # ------------------------------------------------------------------ encoding
    def item_table(self) -> torch.Tensor:
        """Every row's item vector (n_items + 2, dim): the ID embedding, fused with the
        item's text when the config says so. Inputs and the tied output layer both use it."""
        if self.fusion is None:
            return self.item_emb.weight
        return self.fusion(self.item_emb.weight)

    def encode(
        self,
        items: torch.Tensor,  # (B, T) item indices, 0 = padding
        behaviours: torch.Tensor | None = None,  # (B, T) behaviour indices, 0 = padding
        gaps: torch.Tensor | None = None,  # (B, T) gap buckets
        causal: bool = True,
        table: torch.Tensor | None = None,  # item_table(), when the caller already has it
    ) -> torch.Tensor:
        """Contextual states (B, T, dim).

        Sequences are left-padded, so the last column is each user's latest event and
        positions count back from it (position embeddings mean "k events ago").
        """
        T = items.shape[1]
        c = self.config
        table = self.item_table() if table is None else table
        positions = torch.arange(T, device=items.device).unsqueeze(0)  # (1, T)
        h = table[items] + self.pos_emb(positions + (c.max_len - T))
        if c.use_behaviour and behaviours is not None:
            h = h + self.behaviour_emb(behaviours)
        if c.use_time_gaps and gaps is not None:
            h = h + self.gap_emb(gaps)
        h = self.emb_drop(self.emb_norm(h))
        pad = items == PAD  # (B, T)
        # Padding keys are hidden, but every query may see itself: a row with no visible key
        # would give NaN, and NaN values poison later layers even at zero attention weight.
        own = torch.eye(T, dtype=torch.bool, device=items.device)
        visible = ~pad[:, None, :] | own  # (B, T, T): query t may attend key s
        if causal:
            visible = visible & torch.tril(torch.ones(T, T, dtype=torch.bool, device=items.device))
        mask = torch.zeros(visible.shape, device=items.device).masked_fill(~visible, float("-inf"))
        mask = mask.repeat_interleave(c.heads, dim=0)  # (B * heads, T, T)
        h = self.encoder(h, mask=mask)
        return self.out_norm(h)

    def logits(self, states: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of every catalogue item for states (..., dim) -> (..., n_items)."""
        table = self.item_table() if table is None else table
        weight = table[1 : self.config.n_items + 1]  # (N, dim)
        return states @ weight.T + self.out_bias[1 : self.config.n_items + 1]

    # ------------------------------------------------------------------- forward
    def forward(
        self,
        items: torch.Tensor,
        behaviours: torch.Tensor | None = None,
        gaps: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,  # (B, T) next/masked item index, 0 = no loss here
        causal: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, loss)``. With targets: logits of the positions that carry a target,
        (n_targets, n_items), and the cross-entropy. Without: logits of the last position."""
        table = self.item_table()
        states = self.encode(items, behaviours, gaps, causal=causal, table=table)  # (B, T, dim)
        if targets is None:
            return self.logits(states[:, -1], table), None
        where = targets != PAD
        if not bool(where.any()):  # e.g. no next buy in this shard: a zero loss in the graph
            return states.new_zeros((0, self.config.n_items)), states.sum() * 0.0
        h = states[where]  # (P, dim): only real positions reach the output layer
        y = targets[where] - 1  # catalogue index 0..N-1
        if self.config.sampled_softmax > 0 and self.training:
            return self._sampled_loss(h, y, table)
        logits = self.logits(h, table)  # (P, N)
        return logits, F.cross_entropy(logits, y)

    def _sampled_loss(
        self, h: torch.Tensor, y: torch.Tensor, table: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy over the target and ``sampled_softmax`` shared uniform negatives.

        Uniform sampling makes the log-Q correction a constant, so the logits need no
        adjustment; accidental hits of the target among negatives are masked out.
        """
        n = self.config.n_items
        neg = torch.randint(0, n, (self.config.sampled_softmax,), device=h.device)  # (S,)
        weight = table[1:]
        bias = self.out_bias[1:]
        pos_logit = (h * weight[y]).sum(-1, keepdim=True) + bias[y, None]  # (P, 1)
        neg_logit = h @ weight[neg].T + bias[neg]  # (P, S)
        neg_logit = neg_logit.masked_fill(neg[None, :] == y[:, None], float("-inf"))
        logits = torch.cat([pos_logit, neg_logit], dim=1)
        loss = F.cross_entropy(logits, torch.zeros(len(h), dtype=torch.long, device=h.device))
        return logits, loss


def gap_buckets(timestamps: torch.Tensor) -> torch.Tensor:
    """Bucket of the time since the previous event: 1 + floor(log2(1 + seconds)), clipped.

    ``timestamps`` is (B, T) float with NaN for unknown; unknown gaps and first events get 0.
    """
    gaps = timestamps[:, 1:] - timestamps[:, :-1]
    buckets = 1 + torch.floor(torch.log2(1 + gaps.clamp(min=0)))
    buckets = torch.nan_to_num(buckets, nan=0.0).clamp(0, N_GAP_BUCKETS - 1).long()
    # (B, 1) even when T = 1 (buckets is then (B, 0)): a batch of one-event inputs
    first = torch.zeros(timestamps.shape[0], 1, dtype=torch.long, device=timestamps.device)
    return torch.cat([first, buckets], dim=1)
