"""Which weights a fine-tune updates: all of them, all but the Transformer blocks, or LoRA.

- ``full``: every weight trains (the pretrained ones are only a starting point).
- ``frozen``: the Transformer blocks keep their pretrained weights; embeddings, output norm
  and bias adapt. Cheap, and safe when the fine-tuning data is small.
- ``lora``: low-rank adapters ``W + (α/r)·B·A`` (peft) on every linear layer of every block:
  the attention's query, key, value and output projections and the two feed-forward layers
  (:data:`LORA_TARGETS`, module names in :mod:`lmrec.models.transformer`); only the adapters
  and the output bias train. ``B`` starts at zero, so a fresh adapter changes nothing.
"""

from __future__ import annotations

from torch import nn

from lmrec.errors import ConfigError

FINETUNE_MODES: tuple[str, ...] = ("full", "frozen", "lora")
#: The block's linear layers LoRA wraps: attention projections and feed-forward layers.
LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out")


def add_lora(
    net: nn.Module,
    rank: int,
    alpha: float | None = None,
    dropout: float = 0.0,
    targets: tuple[str, ...] = LORA_TARGETS,
) -> nn.Module:
    """Inject LoRA adapters into the ``targets`` layers of ``net`` in place (also used when
    loading a LoRA model, with the targets its file has: see :func:`lora_targets`)."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha or 2 * rank,
        lora_dropout=dropout,
        target_modules=list(targets),
        bias="none",
    )
    return inject_adapter_in_model(config, net)


def lora_targets(state: dict[str, object]) -> tuple[str, ...]:
    """Which of :data:`LORA_TARGETS` carry adapters in a saved state dict (models saved
    before attention had its own projections have them on the feed-forward layers only)."""
    return tuple(t for t in LORA_TARGETS if any(f".{t}.lora_A." in k for k in state))


def trainable_parameters(net: nn.Module, mode: str) -> list[nn.Parameter]:
    """Set ``requires_grad`` for fine-tuning ``mode`` and return the parameters that train."""
    if mode not in FINETUNE_MODES:
        raise ConfigError(f"finetune_mode must be one of {FINETUNE_MODES}, got {mode!r}")
    for name, param in net.named_parameters():
        if mode == "full":
            param.requires_grad_(True)
        elif mode == "frozen":
            param.requires_grad_(not name.startswith("blocks."))
        else:
            param.requires_grad_("lora_" in name or name == "out_bias")
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"finetune_mode {mode!r} left nothing to train; was LoRA injected?")
    return params
