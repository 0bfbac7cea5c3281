"""Making a trained Transformer cheaper to serve: magnitude pruning and int8 quantization.

Both are post-training and keep the model file format (safetensors + JSON):

- **Pruning** zeroes, in every weight matrix of the net (item table, position/behaviour
  embeddings, attention and feed-forward projections), the given share of entries with the
  smallest magnitude. The zeros are written to the file as they are, and ``prune`` in the
  model's parameters says how much was cut. Dense matrix products do not skip zeros, so
  pruning alone saves no time; it is the step before sparse storage or structured pruning.
- **int8** (``quantize="int8"``) builds, next to the float net, a scoring copy whose
  linear layers, including the output layer over the whole catalogue (the largest matrix
  product of a request), run as dynamically quantized int8 matrix products (fbgemm):
  weights are int8 with one scale per matrix, activations are quantized per batch. The file
  keeps the float weights and the flag; loading rebuilds the same int8 copy, because
  quantizing is a deterministic function of the weights. Training never uses it.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch import nn

from lmrec.errors import ConfigError

QUANTIZE = (None, "int8")


def check_compression(quantize: Any, prune: Any) -> None:
    """Raise :class:`ConfigError` for a quantization or pruning share lmrec cannot apply."""
    if quantize not in QUANTIZE:
        raise ConfigError(f"quantize must be one of {QUANTIZE}, got {quantize!r}")
    if isinstance(prune, bool) or not isinstance(prune, int | float) or not 0 <= prune < 1:
        raise ConfigError(f"prune must be a share in [0, 1), got {prune!r}")


def _weight_matrices(net: nn.Module) -> list[nn.Parameter]:
    """What pruning cuts: every weight matrix (biases and norms are few numbers, and zeroing
    them shifts every output)."""
    return [p for p in net.parameters() if p.dim() >= 2]


@torch.no_grad()
def prune_magnitude(net: nn.Module, amount: float) -> None:
    """Zero the ``amount`` share of smallest-magnitude entries of each weight matrix of
    ``net`` in place."""
    for param in _weight_matrices(net):
        n_cut = round(amount * param.numel())
        if n_cut:
            cut = param.abs().flatten().kthvalue(n_cut).values
            param.masked_fill_(param.abs() <= cut, 0.0)


@torch.no_grad()
def weight_sparsity(net: nn.Module) -> tuple[int, float]:
    """How many entries the weight matrices of ``net`` have, and the share that is zero."""
    matrices = _weight_matrices(net)
    total = sum(p.numel() for p in matrices)
    zeros = sum(int((p == 0).sum()) for p in matrices)
    return total, zeros / max(1, total)


@torch.no_grad()
def int8_scoring_net(net: nn.Module) -> nn.Module:
    """An inference copy of a :class:`~lmrec.models.transformer.SequenceTransformerNet` with
    int8 linear layers, its output layer (every item's vector and bias) included."""
    scoring = _merge_lora(copy.deepcopy(net).eval())
    table = scoring.item_table()
    n = scoring.config.n_items
    output = nn.Linear(table.shape[1], n)
    output.weight.copy_(table[1 : n + 1])
    output.bias.copy_(scoring.output_bias())
    scoring.output = output
    with warnings.catch_warnings():
        # torch.ao.quantization is marked deprecated (moving to torchao); the pinned torch
        # still ships and tests it, and torchao is not a dependency.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(scoring, {nn.Linear}, dtype=torch.qint8)


def _merge_lora(net: nn.Module) -> nn.Module:
    """Fold LoRA adapters into their base layers (``W + (α/r)·B·A``) and drop the wrappers,
    so quantization sees plain linear layers; scores are unchanged."""
    for name, module in list(net.named_modules()):
        if hasattr(module, "merge") and hasattr(module, "get_base_layer"):  # a peft LoRA layer
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(
                net.get_submodule(parent_name) if parent_name else net,
                child,
                module.get_base_layer(),
            )
    return net
