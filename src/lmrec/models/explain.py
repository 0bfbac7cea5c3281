"""Why the Transformer scores an item: gradient × input over the events of a history.

For a history ``i_1..i_T`` and a candidate item ``j``, the score ``s_j = h_T · e_j + b_j``
is differentiated with respect to each event's item vector ``x_t`` (the vector the model
reads at position ``t``); the attribution of event ``t`` is ``∂s_j/∂x_t · x_t``: how much the
score moves along that event's own vector. Positive events pushed ``j`` up, negative ones
down. One backward pass per (history, item) pair; the weights are not touched, so it is
safe next to concurrent scoring. ``benchmarks/explain.py`` checks the attributions with a
deletion test: removing the top-attributed events should lower the score more than
removing random ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmrec.models.transformer import PAD


@dataclass(frozen=True)
class Attribution:
    """One history event's share in an item's score."""

    position: int  # 0 = the oldest event of the history the model read
    item_id: str
    behaviour: str
    attribution: float  # gradient × input, in score units
    share: float  # |attribution| over the sum of |attributions|

    def as_dict(self) -> dict[str, object]:
        return {
            "position": self.position,
            "item_id": self.item_id,
            "behaviour": self.behaviour,
            "attribution": self.attribution,
            "share": self.share,
        }


def gradient_x_input(net, inputs: dict, item_index: int) -> tuple[float, np.ndarray]:
    """The score of catalogue item ``item_index`` after the one history in ``inputs`` (a
    batch of one, as the objectives' ``inference`` builds it) and each position's
    attribution (padding positions 0)."""
    items = inputs["items"]
    with torch.enable_grad():
        table = net.item_table().detach()
        vectors = table[items].clone().requires_grad_(True)
        states = net.encode(
            items,
            inputs.get("behaviours"),
            inputs.get("gaps"),
            causal=inputs.get("causal", True),
            table=table,
            item_vectors=vectors,
            ratings=inputs.get("ratings"),
            reviews=inputs.get("reviews"),
            next_behaviours=inputs.get("next_behaviours"),
        )
        score = net.logits(states[:, -1], table)[0, item_index]
        (grad,) = torch.autograd.grad(score, vectors)
    attribution = (grad * vectors.detach()).sum(-1)[0]
    attribution[items[0] == PAD] = 0.0
    return float(score.detach()), attribution.numpy()
