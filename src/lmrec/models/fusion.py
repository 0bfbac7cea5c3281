"""Item representations that fuse an item's ID embedding with its text embedding.

An item's vector ``e_i`` is used twice in the Transformer: as the input embedding of the
events that involve it and, tied, as its output vector (``logit_i = h · e_i + b_i``). With
text, ``e_i`` combines the learned ID embedding ``x_i`` with a projection ``t_i = W·z_i`` of
the frozen sentence embedding ``z_i`` of the item's text:

- ``id``:     e = x                                  (no text; the default)
- ``add``:    e = x + t
- ``concat``: e = W_c · [x ; t]
- ``gate``:   e = g ⊙ x + (1 − g) ⊙ t,  g = σ(W_g · [x ; t])   (a per-item, per-dimension gate)
- ``text``:   e = t                                  (text only: every item, seen or not, is
  represented by what its text says, so items nobody has touched yet can be recommended)

Two masks make the fallbacks explicit. Items whose text is empty get ``t = 0`` (ID only).
Items with no training interaction get ``x = 0`` in every text mode: their ID embedding was
never trained as an input, so only their text speaks for them (cold items).

**ID dropout** (``id_dropout``, training only): at every step each trained item with text
drops its ID part with that probability and is seen by its text alone, as inputs and as an
output. The model then learns to score text-only vectors on the same scale as fused ones,
which is what a cold item is at test time: without it, a cold item's text-only vector lives
in a corner of the space the output layer never learned to rank, and new items lose to
every warm item in the full catalogue.

With ``id_dropout_inputs=False`` (TransformerConfig) only the output side drops IDs: the
history's items keep theirs, so the user states are what the warm model computes, and only
the candidates learn to be ranked by their text. A new item is a candidate long before it
is anyone's history, so that is the side that matters for it.

**Text bias** (``text_bias``, with ID dropout): an item's output bias ``b_i`` (its learned
popularity) is as much an ID part as ``x_i``. With ``text_bias`` a linear map of the text
predicts a bias, ``b̂_i = w · z_i + c``, and every item seen by its text alone (dropped in
this step, or never trained) takes ``b̂_i`` instead of ``b_i``. Dropout trains the map on
warm items' popularity, so a cold item is scored ``h · t_i + b̂_i``: how well it matches
the user, plus how popular items whose text reads like its own are. Without it a cold item
gets the mean bias, which the long tail drags far below that of the items users pick.

**Text head** (``text_head`` = λ > 0, TransformerConfig): instead of hiding IDs, a second
output over the same user states scores every item by its text alone, ``h · t_i + b̂_i``,
trained next to the fused output on the same targets (L = L_fused + λ·L_text). The warm
items' vectors keep their IDs at every step. At inference each head is turned into
log-probabilities over the trained items; a new item takes the text head's, the others the
fused head's. A new item then competes at the probability its text earns among warm items,
and the warm items keep the fused head's order: what a new item costs a warm list is only
the places it wins.

Before any of this, :func:`reduce_text` centres the sentence embeddings and keeps their
leading principal components: sentence encoders put every text in a narrow cone whose shared
direction says nothing about the item, and the fused table is recomputed at every training
step, so a 384 → 128 reduction makes that step three times cheaper for little loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

FUSIONS: tuple[str, ...] = ("id", "add", "concat", "gate", "text")


@dataclass(frozen=True)
class TextBasis:
    """The centring and principal axes :func:`reduce_text` found, kept with a fitted model
    so that the text of items added later (an update) lands in the same reduced space."""

    mean: np.ndarray  # (text_dim,)
    components: np.ndarray  # (n_components, text_dim)
    scale: float

    def apply(self, embeddings: np.ndarray) -> np.ndarray:
        """Reduced rows (n, n_components) float32; zero rows (empty texts) stay zero."""
        z = np.asarray(embeddings, dtype=np.float64)
        has = np.linalg.norm(z, axis=1) > 0
        out = np.zeros((len(z), len(self.components)), dtype=np.float32)
        out[has] = ((z[has] - self.mean) @ self.components.T) / self.scale
        return out


def fit_text_basis(embeddings: np.ndarray, n_components: int = 128) -> TextBasis:
    """Centre the non-empty rows and keep their top principal components, scaled so the
    non-empty rows have unit mean norm, whatever the encoder's scale."""
    z = np.asarray(embeddings, dtype=np.float64)
    has = np.linalg.norm(z, axis=1) > 0
    k = min(n_components, z.shape[1])
    if has.sum() < 2:  # nothing to centre: every text maps to zero
        return TextBasis(np.zeros(z.shape[1]), np.zeros((k, z.shape[1])), 1.0)
    mean = z[has].mean(axis=0)
    centred = z[has] - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = np.zeros((k, z.shape[1]))
    components[: len(vt[:k])] = vt[:k]
    scale = max(float(np.linalg.norm(centred @ components.T, axis=1).mean()), 1e-12)
    return TextBasis(mean, components, scale)


def reduce_text(embeddings: np.ndarray, n_components: int = 128) -> np.ndarray:
    """Centre the non-empty rows and project them on their top principal components.

    Empty texts (zero rows) stay zero. The result is scaled so non-empty rows have unit
    mean norm, whatever the encoder's scale.
    """
    return fit_text_basis(embeddings, n_components).apply(embeddings)


class TextFusion(nn.Module):
    """Maps the ID embedding table (n_items + 2, dim) to the fused item table (same shape).

    Rows follow the Transformer's index convention: 0 is padding, 1..n the catalogue, n + 1
    ``[MASK]`` (special rows have no text and keep their ID embedding).
    """

    def __init__(
        self,
        mode: str,
        n_rows: int,
        text_dim: int,
        dim: int,
        id_dropout: float = 0.0,
        text_bias: bool = False,
    ):
        super().__init__()
        self.id_dropout = id_dropout
        if mode not in FUSIONS or mode == "id":
            raise ValueError(f"TextFusion mode must be one of {FUSIONS[1:]}, got {mode!r}")
        self.mode = mode
        # Filled by set_text (at fit time) or by load_state_dict (when loading a saved model).
        self.register_buffer("text", torch.zeros(n_rows, text_dim))
        self.register_buffer("has_text", torch.zeros(n_rows))
        self.register_buffer("id_keep", torch.ones(n_rows))
        self.proj = nn.Linear(text_dim, dim)
        if mode in ("concat", "gate"):
            self.mix = nn.Linear(2 * dim, dim)
        self.bias_proj = nn.Linear(text_dim, 1) if text_bias else None
        #: The ID mask (n_rows,) of the current training step, so that the output biases
        #: (item_bias) drop the same items the table did; None outside training.
        self.step_keep: torch.Tensor | None = None

    @torch.no_grad()
    def set_text(self, embeddings: np.ndarray, trained: np.ndarray) -> None:
        """Set the catalogue's text embeddings (n_items, text_dim) and which items trained.

        Give them through :func:`reduce_text`. Empty texts arrive as zero rows; they get
        ``t = 0``. Untrained (cold) items and, in
        ``text`` mode, every catalogue item get ``x = 0``.
        """
        z = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
        has = z.norm(dim=1) > 0
        self.text.zero_()
        self.text[1 : len(z) + 1] = z
        self.has_text.zero_()
        self.has_text[1 : len(z) + 1] = has.float()
        self.id_keep.fill_(1.0)
        keep = torch.as_tensor(np.asarray(trained, dtype=bool)).float()
        self.id_keep[1 : len(z) + 1] = 0.0 if self.mode == "text" else keep

    def forward(self, id_table: torch.Tensor, drop: bool = True) -> torch.Tensor:
        """The fused table; in training, with ID dropout unless ``drop`` is False (the
        history's inputs under output-only dropout: they leave the step's mask alone)."""
        keep = self.id_keep
        if drop:
            if self.training and self.id_dropout > 0:
                dropped = (torch.rand_like(keep) < self.id_dropout) & (self.has_text > 0)
                keep = keep * (~dropped).float()
            self.step_keep = keep if self.training else None
        x = id_table * keep[:, None]
        t = self.proj(self.text) * self.has_text[:, None]
        if self.mode == "add":
            return x + t
        if self.mode == "text":
            return x + t  # x is zero for catalogue items; [MASK] keeps its learned vector
        both = torch.cat([x, t], dim=-1)
        if self.mode == "concat":
            return self.mix(both)
        gate = torch.sigmoid(self.mix(both))
        return gate * x + (1 - gate) * t

    def text_bias(self) -> torch.Tensor:
        """The bias each row's text predicts (n_rows,); needs ``text_bias``."""
        if self.bias_proj is None:
            raise RuntimeError("this fusion has no text bias (text_bias=False)")
        return self.bias_proj(self.text).squeeze(-1)

    def item_bias(self, id_bias: torch.Tensor) -> torch.Tensor:
        """Output biases (n_rows,): ``id_bias``, except that with ``text_bias`` the items
        seen by their text alone (in this training step, or untrained) take the bias their
        text predicts."""
        if self.bias_proj is None:
            return id_bias
        keep = self.step_keep if self.training and self.step_keep is not None else self.id_keep
        return torch.where(self.text_only(keep), self.text_bias(), id_bias)

    def text_only(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Rows (n_rows,) bool seen by their text alone: no ID part under ``keep`` (by
        default the trained items' mask, so: never trained) and some text."""
        keep = self.id_keep if keep is None else keep
        return (keep == 0) & (self.has_text > 0)


__all__ = ["FUSIONS", "TextBasis", "TextFusion", "fit_text_basis", "reduce_text"]
