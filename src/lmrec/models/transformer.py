"""The behaviour-sequence Transformer: one config dataclass and small modules, nanoGPT style.

A user's history is a sequence of events; event ``t`` is embedded as

    h_t = E_item[i_t] + E_behaviour[b_t] + E_position[t] (+ E_gap[bucket(Δt_t)])

and a stack of pre-norm blocks (self-attention, then a feed-forward layer, each with a
residual) turns it into contextual states. The output layer is tied to the item embedding:
``logit(j | h) = h · E_item[j] + bias_j``, so every item, seen or not, is scored in one matrix
product. With ``fusion`` other than ``"id"``, ``E_item`` is the ID embedding fused with a
projection of the item's text embedding (see :mod:`lmrec.models.fusion`), in the input and
the output alike.

Two objectives share these weights (see :mod:`lmrec.train.objectives`):

- **causal next-item** (SASRec): position ``t`` attends to ``≤ t`` and predicts ``i_{t+1}``;
- **masked item** (BERT4Rec): random positions are replaced by ``[MASK]``, attention is
  bidirectional, and the model predicts the hidden items.

The loss is full-softmax cross-entropy over the whole catalogue by default; with
``sampled_softmax > 0`` it uses that many uniformly sampled negatives (with log-Q correction)
for catalogues too large for the full product. Only real (non-padding) positions are
projected, so padding costs attention time but never output time.

The attention projections are separate ``nn.Linear`` modules (``q_proj``, ``k_proj``,
``v_proj``, ``out_proj``) so that LoRA adapters (:mod:`lmrec.train.peft`) reach them.
Models saved before this layout (torch's ``nn.TransformerEncoder``) are converted on load by
:func:`convert_legacy_state`, with identical scores.

Index conventions: item index ``0`` is padding, ``1..n_items`` are the catalogue (``index - 1``
in the id map), ``n_items + 1`` is ``[MASK]``. Behaviour index 0 is padding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmrec.data.schema import BEHAVIOURS
from lmrec.models.fusion import TextFusion
from lmrec.models.linear_ce import linear_cross_entropy
from lmrec.models.sources import fixed_source_weights, transformer_source_names

PAD = 0
#: Time-gap buckets: log2 of the gap in seconds, clipped (0 = unknown/first event).
N_GAP_BUCKETS = 32
#: Rating tokens of the rating head: 0 = no rating shown, 1..10 = half stars (see
#: :func:`lmrec.train.sequences.rating_levels`).
N_RATING_LEVELS = 10


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture of :class:`SequenceTransformerNet`; serialised into config.json."""

    n_items: int = 0  # catalogue size, set from the data at fit time
    dim: int = 64
    layers: int = 2
    heads: int = 2
    ff_mult: int = 4  # feed-forward width = ff_mult × dim
    max_len: int = 50
    dropout: float = 0.2
    use_behaviour: bool = True
    use_time_gaps: bool = True
    sampled_softmax: int = 0  # 0 = full softmax over every item
    fusion: str = "id"  # how item text joins the ID embedding, see lmrec.models.fusion
    text_dim: int = 0  # width of the item text embeddings (0 = no text)
    id_dropout: float = 0.0  # training: share of items seen by their text alone (fusion.py)
    #: Whether ID dropout also hides the IDs of the history's items (the inputs), or only
    #: of the items scored at the output: a cold item is only ever a candidate until some
    #: user touches it, so output-side dropout is enough to put text-only vectors on the
    #: scale of trained ones, and the history keeps everything it knows.
    id_dropout_inputs: bool = True
    #: Training: items with no training event are left out of the softmax. They are new
    #: items, not negatives: without this every step pushes their text vectors and biases
    #: away from every user, and a new item can never win a place in the full catalogue.
    mask_untrained: bool = False
    #: Items seen by their text alone (ID dropout, untrained items) take an output bias
    #: predicted from their text instead of their ID's (fusion.py); needs id_dropout.
    text_bias: bool = False
    #: Weight λ of the text head (0 = none): a second output over the same states that
    #: scores every item by its text alone, ``h·t_i + b̂_i``, trained next to the fused one
    #: (L = L_fused + λ·L_text). At inference an item without training events is scored by
    #: it, both heads as log-probabilities over the trained items, so a new item competes
    #: with warm ones at the probability its text earns while the warm items keep the
    #: fused head's order (fusion.py). Needs fusion add, concat or gate and text_bias.
    text_head: float = 0.0
    #: Added to the new items' text-head log-probabilities at inference: 0 = as the heads
    #: say, below 0 shows new items less often (warm lists change less), above 0 more (a
    #: new-item boost). The knob that trades new items' exposure against warm accuracy.
    text_head_offset: float = 0.0
    rating_head: bool = False  # rating tokens in the input and a rating-regression head
    behaviour_head: bool = False  # a query token scoring "will the user do it to this item?"
    rating_tokens: bool = False  # rating tokens in the input without the rating head
    #: How a multi-task model weighs its losses: "fixed" (w·L_sequence + λ·L_task) or
    #: "uncertainty" (each loss scaled by a learned exp(-s_t), plus s_t: Kendall et al. 2018).
    task_weighting: str = "fixed"
    #: Evidence each event carries besides its item and behaviour ("rating", "review",
    #: comma-separated; lmrec.models.sources): its rating token, its review's text vector.
    #: With sources, every event's behaviour, rating and review features are weighed by
    #: per-user source weights (see SequenceTransformerNet.source_weights).
    sources: str = ""
    source_weighting: str = "learned"  # "learned" per user, or "fixed" (source_weights)
    source_weights: str = ""  # fixed weights, e.g. "behaviour=1,rating=1,review=2"
    review_dim: int = 0  # width of the review vectors (set from the data)
    #: Causal training on every next event (views, favourites, buys), each position told
    #: which behaviour it predicts (a learned vector in its input); scoring asks for the
    #: target behaviour. Views then teach the item table what next-buy scoring uses.
    predict_behaviours: bool = False

    @property
    def source_names(self) -> tuple[str, ...]:
        """The weighed sources: "behaviour" (its tokens; unless use_behaviour is off),
        then the extra ones of ``sources``."""
        return transformer_source_names(self.sources, self.use_behaviour)

    @property
    def reads_ratings(self) -> bool:
        return self.rating_head or self.rating_tokens or "rating" in self.source_names

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def mask_index(self) -> int:
        return self.n_items + 1


#: Fields set from the data at fit time, not by the user.
DATA_FIELDS: tuple[str, ...] = (
    "n_items",
    "text_dim",
    "rating_head",
    "behaviour_head",
    "rating_tokens",
    "review_dim",
)


class SelfAttention(nn.Module):
    """Multi-head self-attention with explicit projections (LoRA can wrap each one)."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.heads = c.heads
        self.dropout = c.dropout
        self.q_proj = nn.Linear(c.dim, c.dim)
        self.k_proj = nn.Linear(c.dim, c.dim)
        self.v_proj = nn.Linear(c.dim, c.dim)
        self.out_proj = nn.Linear(c.dim, c.dim)
        self.resid_drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        B, T, C = x.shape
        nh, hs = self.heads, C // self.heads
        q = self.q_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = self.v_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,  # (B, 1, T, T) bool, True = may attend; None = no padding
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal and mask is None,
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.resid_drop(self.out_proj(y))


class FeedForward(nn.Module):
    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.fc_in = nn.Linear(c.dim, c.ff_mult * c.dim)
        self.fc_out = nn.Linear(c.ff_mult * c.dim, c.dim)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.gelu(self.fc_in(x)))  # (B, T, ff_mult * C)
        return self.drop(self.fc_out(h))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm Transformer block: ``x + attn(norm(x))``, then ``x + ff(norm(x))``."""

    def __init__(self, c: TransformerConfig):
        super().__init__()
        self.attn_norm = nn.LayerNorm(c.dim)
        self.attn = SelfAttention(c)
        self.ff_norm = nn.LayerNorm(c.dim)
        self.ff = FeedForward(c)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, causal: bool) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), mask, causal)  # (B, T, C)
        return x + self.ff(self.ff_norm(x))  # (B, T, C)


def attention_mask(items: torch.Tensor, causal: bool) -> torch.Tensor | None:
    """(B, 1, T, T) boolean mask (True = query t may attend key s), or None without padding.

    Padding keys are hidden, but every query may see itself: a row with no visible key would
    give NaN, and NaN values poison later layers even at zero attention weight. Without
    padding (most length-bucketed batches) there is no mask at all, and causal attention
    takes sdpa's ``is_causal`` path.
    """
    pad = items == PAD  # (B, T)
    if not bool(pad.any()):
        return None
    T = items.shape[1]
    own = torch.eye(T, dtype=torch.bool, device=items.device)  # (T, T)
    visible = ~pad[:, None, None, :] | own  # (B, 1, T, T)
    if causal:
        visible = visible & torch.ones(T, T, dtype=torch.bool, device=items.device).tril()
    return visible


class SequenceTransformerNet(nn.Module):
    """Embeddings + Transformer blocks + tied output layer."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        c = config
        self.config = c
        #: An inference-only output layer replacing the tied one (the int8 scoring copy of
        #: :func:`lmrec.models.compress.int8_scoring_net`); None = tied to the item table.
        self.output: nn.Module | None = None
        self.item_emb = nn.Embedding(c.n_items + 2, c.dim, padding_idx=PAD)  # + pad + [MASK]
        self.pos_emb = nn.Embedding(c.max_len, c.dim)
        self.behaviour_emb = nn.Embedding(len(BEHAVIOURS) + 1, c.dim, padding_idx=PAD)
        self.gap_emb = nn.Embedding(N_GAP_BUCKETS, c.dim)
        self.emb_norm = nn.LayerNorm(c.dim)
        self.emb_drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.out_norm = nn.LayerNorm(c.dim)
        self.out_bias = nn.Parameter(torch.zeros(c.n_items + 2))
        # 0 for trained items, -inf for untrained ones (mask_untrained; set by set_trained).
        # Not saved: it matters in training only, and new_items_start bakes its consequence.
        self.register_buffer("untrained_penalty", torch.zeros(c.n_items), persistent=False)
        self.fusion = (
            TextFusion(c.fusion, c.n_items + 2, c.text_dim, c.dim, c.id_dropout, c.text_bias)
            if c.fusion != "id"
            else None
        )
        if c.reads_ratings:
            self.rating_emb = nn.Embedding(N_RATING_LEVELS + 1, c.dim, padding_idx=PAD)
        if c.rating_head:
            self.query_emb = nn.Embedding(1, c.dim)
            self.rating_out = nn.Linear(c.dim, 1)
            self.rating_item_bias = nn.Embedding(c.n_items + 2, 1)
            self.register_buffer("rating_mean", torch.zeros(()))
        if c.task_weighting == "uncertainty":  # s_t = log σ_t² of the sequence task, the other
            self.task_log_vars = nn.Parameter(torch.zeros(2))
        if c.behaviour_head:
            self.behaviour_query = nn.Embedding(1, c.dim)
            self.behaviour_out = nn.Linear(c.dim, 1)
            self.behaviour_item_bias = nn.Embedding(c.n_items + 2, 1)
        # A source's feature is additive (what a 5-star rating or this review says on its
        # own) plus a scaling of the event's item vector (a disliked item counts against
        # its kind): attention sums events, so without the product "which items did they
        # like" would need a second layer to even be expressed.
        self.rating_scale = None
        if "rating" in c.source_names:
            self.rating_scale = nn.Embedding(N_RATING_LEVELS + 1, c.dim, padding_idx=PAD)
        self.review_proj = self.review_scale = None
        if "review" in c.source_names:
            self.review_proj = nn.Linear(c.review_dim, c.dim, bias=False)
            self.review_scale = nn.Linear(c.review_dim, c.dim, bias=False)
        self.next_behaviour_emb = None
        if c.predict_behaviours:
            self.next_behaviour_emb = nn.Embedding(len(BEHAVIOURS) + 1, c.dim, padding_idx=PAD)
        self.source_gate = None
        if c.sources and c.source_weighting == "learned":
            self.source_gate = nn.Linear(c.dim, len(c.source_names))
        elif c.sources:
            fixed = fixed_source_weights(c.source_names, c.source_weights)
            self.register_buffer("fixed_source_weights", torch.tensor(fixed, dtype=torch.float32))
        self.apply(self._init_weights)
        if c.rating_head:
            nn.init.zeros_(self.rating_item_bias.weight)
        if c.behaviour_head:
            nn.init.zeros_(self.behaviour_item_bias.weight)
        if self.source_gate is not None:  # equal weights until the data says otherwise
            nn.init.zeros_(self.source_gate.weight)
        for scale in (self.rating_scale, self.review_scale):
            if scale is not None:  # items count as themselves until the data says otherwise
                nn.init.zeros_(scale.weight)

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
        item's text when the config says so. Inputs and the tied output layer both use it.

        At inference (eval mode, no autograd) the fused table is kept until a weight it
        depends on changes (torch counts in-place changes in ``_version``): fusing the whole
        catalogue was a quarter of the time of serving one request."""
        if self.fusion is None:
            return self.item_emb.weight
        return self._fused_table("_table_cache", lambda: self.item_emb.weight, drop=True)

    def _fused_table(self, cache: str, ids: Callable[[], torch.Tensor], drop: bool) -> torch.Tensor:
        """``self.fusion(ids(), drop)``; at inference kept under ``cache`` until a weight it
        depends on changes (``ids`` is only built when the table is)."""
        if self.training or torch.is_grad_enabled():
            return self.fusion(ids(), drop=drop)
        tensors = [self.item_emb.weight, *self.fusion.parameters(), *self.fusion.buffers()]
        key = tuple((id(t), t._version) for t in tensors)
        cached = self.__dict__.get(cache)
        if cached is None or cached[0] != key:
            cached = (key, self.fusion(ids(), drop=drop))
            self.__dict__[cache] = cached
        return cached[1]

    def input_table(self) -> torch.Tensor | None:
        """The item table of the history's events when it differs from :meth:`item_table`:
        in training with output-only ID dropout (``id_dropout_inputs=False``), the fused
        table with every trained ID kept. None otherwise (inputs use item_table())."""
        c = self.config
        if self.fusion is None or not self.training or c.id_dropout == 0 or c.id_dropout_inputs:
            return None
        return self.fusion(self.item_emb.weight, drop=False)

    def encode(
        self,
        items: torch.Tensor,  # (B, T) item indices, 0 = padding
        behaviours: torch.Tensor | None = None,  # (B, T) behaviour indices, 0 = padding
        gaps: torch.Tensor | None = None,  # (B, T) gap buckets
        causal: bool = True,
        table: torch.Tensor | None = None,  # item_table(), when the caller already has it
        item_vectors: torch.Tensor | None = None,  # (B, T, C) in place of table[items]
        ratings: torch.Tensor | None = None,  # (B, T) rating tokens (models that read them)
        reviews: torch.Tensor | None = None,  # (B, T, review_dim) review vectors (sources)
        next_behaviours: torch.Tensor | None = None,  # (B, T) predict_behaviours: asked
        queries: torch.Tensor | None = None,  # (B, Q) items to rate after the history
        query_vector: torch.Tensor | None = None,  # (C,) added to each query (default: rating)
        input_offset: torch.Tensor | None = None,  # (B, T, C) added to the blocks' input
    ) -> torch.Tensor:
        """Contextual states (B, T, dim).

        Sequences are left-padded, so the last column is each user's latest event and
        positions count back from it (position embeddings mean "k events ago").
        ``item_vectors`` lets a caller differentiate with respect to each event's item vector
        and a zero ``input_offset`` with respect to the blocks' input, where the item vector
        and each source's part are still separate (gradient × input explanations,
        :mod:`lmrec.models.explain`).

        With ``queries`` (the rating head) the result is the states of the query tokens
        (B, Q, dim): each is its item's vector plus a learned query vector, appended after the
        history without a position; a query attends to the history and to itself only, so
        its rating does not depend on which other items are rated with it.
        """
        T = items.shape[1]
        c = self.config
        if item_vectors is None or queries is not None:
            table = self.item_table() if table is None else table
        if item_vectors is None:
            item_vectors = table[items]
        positions = torch.arange(T, device=items.device).unsqueeze(0)  # (1, T)
        h = item_vectors + self.pos_emb(positions + (c.max_len - T))  # (B, T, C)
        if c.use_time_gaps and gaps is not None:
            h = h + self.gap_emb(gaps)
        if self.next_behaviour_emb is not None and next_behaviours is not None:
            # In the input, not added to the output: what a user buys next differs from
            # what they view next in ways the blocks must compute (not one global shift).
            h = h + self.next_behaviour_emb(next_behaviours)
        for term in self.event_features(item_vectors, items, behaviours, ratings, reviews).values():
            h = h + term
        if input_offset is not None:
            h = h + input_offset
        if queries is not None:
            if query_vector is None:
                query_vector = self.query_emb.weight[0]
            q = table[queries] + query_vector  # (B, Q, C)
            h = torch.cat([h, q], dim=1)  # (B, T + Q, C)
            mask, causal = query_mask(items, queries), False
        else:
            mask = attention_mask(items, causal)  # (B, 1, T, T) or None
        h = self.emb_drop(self.emb_norm(h))
        for block in self.blocks:
            h = block(h, mask, causal)  # (B, T, C)
        h = self.out_norm(h)
        return h if queries is None else h[:, T:]

    def event_features(
        self,
        item_vectors: torch.Tensor,  # (B, T, C)
        items: torch.Tensor,  # (B, T)
        behaviours: torch.Tensor | None = None,
        ratings: torch.Tensor | None = None,
        reviews: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """What each source adds to an event's input besides its item vector, by name
        ("behaviour", "rating", "review"; (B, T, C) each): with :attr:`TransformerConfig.sources`
        the weighed source features ``S · w_s f_s`` (:meth:`source_features`), otherwise the
        behaviour and rating embeddings the model reads. :meth:`encode` adds them all;
        explanations split an event's attribution by them (:mod:`lmrec.models.explain`)."""
        c = self.config
        if c.sources:
            features, weights = self.source_features(
                item_vectors, items, behaviours, ratings, reviews
            )
            weighed = len(c.source_names) * weights.unsqueeze(-1) * features  # (B, T, S, C)
            return {name: weighed[:, :, s] for s, name in enumerate(c.source_names)}
        terms = {}
        if c.use_behaviour and behaviours is not None:
            terms["behaviour"] = self.behaviour_emb(behaviours)
        if c.reads_ratings and ratings is not None:
            terms["rating"] = self.rating_emb(ratings)
        return terms

    def source_features(
        self,
        item_vectors: torch.Tensor,  # (B, T, C)
        items: torch.Tensor,  # (B, T)
        behaviours: torch.Tensor | None,
        ratings: torch.Tensor | None,
        reviews: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each event's features per source (B, T, S, C), zero where the event has none
        (no rating, no review, or not given, as in raw histories), and the source weights
        (B, T, S) that mix them into the event's input: ``S · Σ_s w_s f_s``, so equal weights
        give the plain sum.

        Learned weights at event t are a softmax over sources of a linear function of the
        mean item vector of the user's events up to t (padding and [MASK] left out): they
        read the history so far, never a later event, so causal training sees no future.
        The weights at a user's last event are what :meth:`source_weights` reports."""
        c = self.config
        zeros = item_vectors.new_zeros(item_vectors.shape)
        features = []
        for name in c.source_names:
            if name == "behaviour" and behaviours is not None:
                features.append(self.behaviour_emb(behaviours))
            elif name == "rating" and ratings is not None:
                features.append(
                    self.rating_emb(ratings) + self.rating_scale(ratings) * item_vectors
                )
            elif name == "review" and reviews is not None:
                features.append(
                    self.review_proj(reviews) + self.review_scale(reviews) * item_vectors
                )
            else:
                features.append(zeros)
        stacked = torch.stack(features, dim=2)  # (B, T, S, C)
        if self.source_gate is None:
            weights = self.fixed_source_weights.expand(*items.shape, -1)
            return stacked, weights
        real = ((items != PAD) & (items != c.mask_index)).unsqueeze(-1).to(item_vectors.dtype)
        context = (item_vectors * real).cumsum(1) / real.cumsum(1).clamp(min=1.0)
        return stacked, torch.softmax(self.source_gate(context), dim=-1)

    def source_weights(
        self,
        items: torch.Tensor,
        behaviours: torch.Tensor | None = None,
        ratings: torch.Tensor | None = None,
        reviews: torch.Tensor | None = None,
        **_: object,
    ) -> torch.Tensor:
        """(B, S) weights of :attr:`TransformerConfig.source_names` at each history's last
        event: how much each source counts for this user now. Ones when there is one."""
        if not self.config.sources:
            return torch.ones(items.shape[0], 1)
        vectors = self.item_table()[items]
        _, weights = self.source_features(vectors, items, behaviours, ratings, reviews)
        return weights[:, -1]

    def output_bias(self) -> torch.Tensor:
        """The catalogue's output biases (n_items,); in training with ``mask_untrained``,
        -inf for items that have no training event (see :meth:`set_trained`). With
        ``text_bias``, items seen by their text alone take their text's bias."""
        bias = self.out_bias if self.fusion is None else self.fusion.item_bias(self.out_bias)
        bias = bias[1 : self.config.n_items + 1]
        if self.training and self.config.mask_untrained:
            return bias + self.untrained_penalty
        return bias

    @torch.no_grad()
    def set_trained(self, trained: torch.Tensor | np.ndarray) -> None:
        """Which catalogue items (n_items,) have training events: the others are left out
        of the training softmax when the config says ``mask_untrained``."""
        keep = torch.as_tensor(np.asarray(trained, dtype=bool))
        self.untrained_penalty.copy_(torch.where(keep, 0.0, float("-inf")))

    @torch.no_grad()
    def new_items_start(self, new: torch.Tensor | np.ndarray) -> None:
        """Give catalogue items ``new`` (n_items,) bool the mean output bias of the others.

        A new item's bias was never trained (with ``mask_untrained`` it stayed at its
        initial 0, which is not where trained biases end up); the average item's bias says
        "as likely as a typical item" until events say more, and its text does the rest.
        With ``text_bias``, a new item with text starts from the bias its text predicts."""
        new = torch.as_tensor(np.asarray(new, dtype=bool))
        n = self.config.n_items
        bias = self.out_bias[1 : n + 1]
        if bool(new.any()) and not bool(new.all()):
            bias[new] = bias[~new].mean()
        if self.fusion is not None and self.fusion.bias_proj is not None:
            # has_text may not be set yet for rows an update just filled: read the text
            from_text = new & (self.fusion.text[1 : n + 1].norm(dim=1) > 0)
            bias[from_text] = self.fusion.text_bias()[1 : n + 1][from_text]

    def logits(self, states: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of every catalogue item for states (..., dim) -> (..., n_items).

        With a text head, at inference: log-probabilities over the trained items, the
        fused head's for items that have training events and the text head's for those
        known by their text alone (:meth:`text_only_items`)."""
        if self.output is not None:
            return self.output(states)
        table = self.item_table() if table is None else table
        weight = table[1 : self.config.n_items + 1]  # (N, C)
        fused = states @ weight.T + self.output_bias()
        if self.config.text_head == 0 or self.training:
            return fused
        new = self.text_only_items()
        if not bool(new.any()):
            return fused
        text = self.text_head_logits(states)
        warm = ~new
        fused = fused - torch.logsumexp(fused[..., warm], dim=-1, keepdim=True)
        text = text - torch.logsumexp(text[..., warm], dim=-1, keepdim=True)
        return torch.where(new, text + self.config.text_head_offset, fused)

    def text_only_table(self) -> torch.Tensor:
        """Every row's vector from its text alone (n_items + 2, dim): the fusion with every
        ID part zero, what ID dropout shows for a dropped item (``t`` for ``add``)."""
        weight = self.item_emb.weight
        return self._fused_table("_text_table_cache", lambda: torch.zeros_like(weight), drop=False)

    def text_only_items(self) -> torch.Tensor:
        """Catalogue items (n_items,) bool known by their text alone: no training event,
        some text. The text head scores them at inference."""
        return self.fusion.text_only()[1 : self.config.n_items + 1]

    def text_head_logits(self, states: torch.Tensor) -> torch.Tensor:
        """The text head's scores of every catalogue item, ``h·t_i + b̂_i`` (..., n_items)."""
        weight, bias = self._text_head()
        return states @ weight.T + bias

    def _text_head(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The text head's output vectors (n_items, dim) and biases (n_items,); in training
        with ``mask_untrained``, -inf biases for untrained items (they are not negatives)."""
        n = self.config.n_items
        bias = self.fusion.text_bias()[1 : n + 1]
        if self.training and self.config.mask_untrained:
            bias = bias + self.untrained_penalty
        return self.text_only_table()[1 : n + 1], bias

    def _with_text_head_loss(
        self, loss: torch.Tensor, h: torch.Tensor, y: torch.Tensor
    ) -> torch.Tensor:
        """``loss + λ·L_text``: the text head's cross-entropy on the same targets."""
        if self.config.text_head == 0:
            return loss
        weight, bias = self._text_head()
        return loss + self.config.text_head * linear_cross_entropy(h, weight, bias, y)

    # ------------------------------------------------------------------- forward
    def forward(
        self,
        items: torch.Tensor,
        behaviours: torch.Tensor | None = None,
        gaps: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,  # (B, T) next/masked item index, 0 = no loss here
        causal: bool = True,
        need_logits: bool = True,
        ratings: torch.Tensor | None = None,
        queries: torch.Tensor | None = None,
        reviews: torch.Tensor | None = None,
        next_behaviours: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(logits, loss)``. With targets: logits of the positions that carry a target,
        (n_targets, n_items), and the cross-entropy. Without: logits of the last position.

        ``need_logits=False`` (training objectives that use only the loss) returns ``None``
        for the logits and computes the full-softmax loss in cache-sized chunks
        (:func:`~lmrec.models.linear_ce.linear_cross_entropy`), about twice as fast on CPU."""
        inputs = self.input_table()  # before item_table(): that one sets the step's ID mask
        table = self.item_table()
        if queries is not None:
            return self.rate(items, behaviours, gaps, ratings, queries, table), None
        states = self.encode(
            items,
            behaviours,
            gaps,
            causal=causal,
            table=table if inputs is None else inputs,
            ratings=ratings,
            reviews=reviews,
            next_behaviours=next_behaviours,
        )  # (B, T, C)
        if targets is None:
            return self.logits(states[:, -1], table), None  # (B, N)
        where = targets != PAD
        if not bool(where.any()):  # e.g. no next buy in this shard: a zero loss in the graph
            return states.new_zeros((0, self.config.n_items)), states.sum() * 0.0
        h = states[where]  # (P, C): only real positions reach the output layer
        y = targets[where] - 1  # (P,) catalogue index 0..N-1
        if self.config.sampled_softmax > 0 and self.training:
            return self._sampled_loss(h, y, table)
        if not need_logits:
            n = self.config.n_items
            loss = linear_cross_entropy(h, table[1 : n + 1], self.output_bias(), y)
            return None, self._with_text_head_loss(loss, h, y)
        logits = self.logits(h, table)  # (P, N)
        return logits, self._with_text_head_loss(F.cross_entropy(logits, y), h, y)

    def rate(
        self,
        items: torch.Tensor,
        behaviours: torch.Tensor | None,
        gaps: torch.Tensor | None,
        ratings: torch.Tensor | None,
        queries: torch.Tensor,
        table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predicted ratings (B, Q) of items ``queries`` after each history:
        ``μ + b_u + b_i + w · h_q``, where ``b_u`` is the user's shrunk mean deviation from μ
        over the ratings shown in the history, ``Σ (r - μ) / (n + 5)`` (the baseline
        predictor every rating model starts from; the Transformer learns the rest).
        Padding queries give values to be ignored."""
        if not self.config.rating_head:
            raise RuntimeError("this net has no rating head (rating_head=False)")
        h = self.encode(
            items, behaviours, gaps, causal=False, table=table, ratings=ratings, queries=queries
        )  # (B, Q, C)
        user_bias = torch.zeros(items.shape[0], 1)
        if ratings is not None:
            shown = ratings > 0  # (B, T)
            deviation = torch.where(shown, ratings.float() / 2 - self.rating_mean, 0.0)
            user_bias = deviation.sum(1, keepdim=True) / (shown.sum(1, keepdim=True) + 5.0)
        return (
            self.rating_mean
            + user_bias
            + self.rating_out(h).squeeze(-1)
            + self.rating_item_bias(queries).squeeze(-1)
        )

    def behaviour_logits(
        self,
        items: torch.Tensor,
        behaviours: torch.Tensor | None,
        gaps: torch.Tensor | None,
        queries: torch.Tensor,
        table: torch.Tensor | None = None,
        ratings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, Q) of "the user does the target behaviour to item ``queries``" after
        each history: ``w · h_q + b_i``, where ``h_q`` is the state of a query token (the
        item's vector plus a learned behaviour-query vector) that attends to the history and
        to itself. Padding queries give values to be ignored."""
        if not self.config.behaviour_head:
            raise RuntimeError("this net has no behaviour head (behaviour_head=False)")
        h = self.encode(
            items,
            behaviours,
            gaps,
            causal=False,
            table=table,
            ratings=ratings,
            queries=queries,
            query_vector=self.behaviour_query.weight[0],
        )  # (B, Q, C)
        return self.behaviour_out(h).squeeze(-1) + self.behaviour_item_bias(queries).squeeze(-1)

    def _sampled_loss(
        self, h: torch.Tensor, y: torch.Tensor, table: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy over the target and ``sampled_softmax`` shared uniform negatives.

        Uniform sampling makes the log-Q correction a constant, so the logits need no
        adjustment; accidental hits of the target among negatives are masked out.
        """
        n = self.config.n_items
        neg = torch.randint(0, n, (self.config.sampled_softmax,), device=h.device)  # (S,)
        weight = table[1 : n + 1]
        bias = self.output_bias()
        pos_logit = (h * weight[y]).sum(-1, keepdim=True) + bias[y, None]  # (P, 1)
        neg_logit = h @ weight[neg].T + bias[neg]  # (P, S)
        neg_logit = neg_logit.masked_fill(neg[None, :] == y[:, None], float("-inf"))
        logits = torch.cat([pos_logit, neg_logit], dim=1)  # (P, 1 + S)
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


#: torch ``nn.TransformerEncoderLayer`` names (models saved before the block was written
#: out) → this module's names. LoRA's ``.base_layer`` / ``.lora_A`` suffixes follow along.
_LEGACY_NAMES = {
    "self_attn.out_proj": "attn.out_proj",
    "linear1": "ff.fc_in",
    "linear2": "ff.fc_out",
    "norm1": "attn_norm",
    "norm2": "ff_norm",
}
_LEGACY_KEY = re.compile(r"^encoder\.layers\.(\d+)\.(.+)$")


def query_mask(items: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """(B, 1, T + Q, T + Q) mask for a history of T events followed by Q query tokens:
    every token sees the history's real events and itself; no token sees a query but its
    own (True = may attend)."""
    B, T = items.shape
    Q = queries.shape[1]
    keys = torch.cat(
        [items != PAD, torch.zeros(B, Q, dtype=torch.bool, device=items.device)], dim=1
    )  # (B, T+Q)
    own = torch.eye(T + Q, dtype=torch.bool, device=items.device)
    return keys[:, None, None, :] | own  # (B, 1, T + Q, T + Q)


def is_legacy_state(state: dict[str, object]) -> bool:
    return any(_LEGACY_KEY.match(k) for k in state)


def convert_legacy_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict of the old ``nn.TransformerEncoder`` layout in this module's layout.

    torch packs the query, key and value projections into one ``in_proj`` matrix (3·dim,
    dim) in that order; it is split into ``q_proj``, ``k_proj``, ``v_proj``. The arithmetic
    is the same, so converted models give the same scores.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _LEGACY_KEY.match(key)
        if match is None:
            out[key] = value
            continue
        layer, rest = match.groups()
        prefix = f"blocks.{layer}."
        if rest.startswith("self_attn.in_proj_"):
            kind = rest.rsplit("_", 1)[1]  # weight | bias
            for name, part in zip(("q", "k", "v"), value.chunk(3, dim=0), strict=True):
                out[f"{prefix}attn.{name}_proj.{kind}"] = part.clone()
            continue
        for old, new in _LEGACY_NAMES.items():
            if rest == old or rest.startswith(old + "."):
                out[prefix + new + rest[len(old) :]] = value
                break
        else:
            out[key] = value  # unknown: load_state_dict names it
    return out
