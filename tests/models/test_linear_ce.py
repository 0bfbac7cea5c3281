"""The chunked full-softmax loss equals F.cross_entropy in value and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lmrec.models import linear_ce
from lmrec.models.linear_ce import linear_cross_entropy


@pytest.mark.parametrize("rows", [1, 7, 64, 300])
def test_matches_cross_entropy(monkeypatch, rows: int) -> None:
    # A chunk of 16 rows (the floor) over 300 rows exercises several chunks and a ragged end.
    monkeypatch.setattr(linear_ce, "CHUNK_FLOATS", 16 * 50)
    gen = torch.Generator().manual_seed(rows)
    h = torch.randn(rows, 8, generator=gen, requires_grad=True)
    w = torch.randn(50, 8, generator=gen, requires_grad=True)
    b = torch.randn(50, generator=gen, requires_grad=True)
    y = torch.randint(0, 50, (rows,), generator=gen)

    expected = F.cross_entropy(h @ w.T + b, y)
    want = torch.autograd.grad(expected * 3.0, (h, w, b))
    got_loss = linear_cross_entropy(h, w, b, y)
    got = torch.autograd.grad(got_loss * 3.0, (h, w, b))

    torch.testing.assert_close(got_loss, expected)
    for g, e in zip(got, want, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


def test_no_rows_is_a_zero_loss_in_the_graph() -> None:
    h = torch.zeros(0, 4, requires_grad=True)
    loss = linear_cross_entropy(h, torch.zeros(5, 4), torch.zeros(5), torch.zeros(0).long())
    loss.backward()
    assert loss.item() == 0.0


def test_transformer_loss_is_the_same_with_or_without_logits() -> None:
    from lmrec.models.transformer import SequenceTransformerNet, TransformerConfig

    torch.manual_seed(0)
    net = SequenceTransformerNet(TransformerConfig(n_items=30, dim=16, layers=1, heads=2))
    net.eval()
    items = torch.randint(1, 31, (4, 6))
    targets = torch.randint(0, 31, (4, 6))
    logits, full = net(items, targets=targets)
    none, fused = net(items, targets=targets, need_logits=False)
    assert none is None and logits.shape == (int((targets != 0).sum()), 30)
    torch.testing.assert_close(fused, full)
