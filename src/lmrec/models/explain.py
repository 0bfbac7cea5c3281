"""Why the Transformer scores an item: gradient × input over the events of a history.

For a history ``i_1..i_T`` and a candidate item ``j``, the score ``s_j = h_T · e_j + b_j``
is differentiated with respect to each event's item vector ``x_t`` (the vector the model
reads at position ``t``); the attribution of event ``t`` is ``∂s_j/∂x_t · x_t``: how much the
score moves along that event's own vector. Positive events pushed ``j`` up, negative ones
down. One backward pass per (history, item) pair; the weights are not touched, so it is
safe next to concurrent scoring. ``benchmarks/explain.py`` checks the attributions with a
deletion test: removing the top-attributed events should lower the score more than
removing random ones.

Which sources drove it: the blocks read, at each event, the sum of the item vector and
what each source adds (``SequenceTransformerNet.event_features``: behaviour token, rating,
review; weighed by the source gate when the model has one). With ``g_t`` the gradient of
the score at that sum, each part's attribution is ``g_t · part``: gradient × input one
step later, where the parts are still separate, so an event's behaviour, rating and review
each get their share (``Attribution.sources``, ``"item"`` the item vector's own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    #: the event's attribution split by what the blocks read: "item" (its vector) and each
    #: source the model reads ("behaviour", "rating", "review"), in score units
    sources: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "position": self.position,
            "item_id": self.item_id,
            "behaviour": self.behaviour,
            "attribution": self.attribution,
            "share": self.share,
            "sources": dict(self.sources),
        }


@dataclass(frozen=True)
class Gradients:
    """One (history, item) pair's gradient × input (:func:`gradient_x_input`)."""

    score: float
    attribution: np.ndarray  # (T,) per position, through every path; padding 0
    parts: dict[str, np.ndarray]  # name -> (T,): "item" and each source, at the blocks' input


def source_shares(attributions: list[Attribution]) -> dict[str, float]:
    """Each source's share of a score's attribution over the given events: the sum of
    |part| per name over the sum of all, so the shares add up to 1 (empty: no events)."""
    totals: dict[str, float] = {}
    for a in attributions:
        for name, value in a.sources.items():
            totals[name] = totals.get(name, 0.0) + abs(value)
    whole = sum(totals.values())
    return {name: value / whole for name, value in totals.items()} if whole > 0 else {}


def gradient_x_input(net, inputs: dict, item_index: int) -> Gradients:
    """The score of catalogue item ``item_index`` after the one history in ``inputs`` (a
    batch of one, as the objectives' ``inference`` builds it), each position's attribution
    and its split into the parts the blocks read (see the module docstring)."""
    items = inputs["items"]
    features = {
        "behaviours": inputs.get("behaviours"),
        "ratings": inputs.get("ratings"),
        "reviews": inputs.get("reviews"),
    }
    with torch.enable_grad():
        table = net.item_table().detach()
        vectors = table[items].clone().requires_grad_(True)
        offset = vectors.new_zeros(vectors.shape, requires_grad=True)  # at the blocks' input
        states = net.encode(
            items,
            features["behaviours"],
            inputs.get("gaps"),
            causal=inputs.get("causal", True),
            table=table,
            item_vectors=vectors,
            ratings=features["ratings"],
            reviews=features["reviews"],
            next_behaviours=inputs.get("next_behaviours"),
            input_offset=offset,
        )
        score = net.logits(states[:, -1], table)[0, item_index]
        grad, at_input = torch.autograd.grad(score, [vectors, offset])
    padding = items[0] == PAD
    attribution = (grad * vectors.detach()).sum(-1)[0]
    attribution[padding] = 0.0
    with torch.no_grad():
        terms = {
            "item": vectors.detach(),
            **net.event_features(vectors.detach(), items, **features),
        }
    parts = {}
    for name, term in terms.items():
        part = (at_input * term).sum(-1)[0]
        part[padding] = 0.0
        parts[name] = part.numpy()
    return Gradients(float(score.detach()), attribution.numpy(), parts)
