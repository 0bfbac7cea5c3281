"""Which weights a fine-tune updates: all of them, all but the Transformer blocks, or LoRA.

- ``full``: every weight trains (the pretrained ones are only a starting point).
- ``frozen``: the Transformer blocks keep their pretrained weights; embeddings, output norm
  and bias adapt. Cheap, and safe when the fine-tuning data is small.
- ``lora``: low-rank adapters ``W + (α/r)·B·A`` (peft) on the feed-forward layers of every
  block; only the adapters and the output bias train. ``nn.MultiheadAttention`` calls its
  projection weights directly, so adapters on attention would be silently ignored; the
  feed-forward layers are where LoRA takes effect here.
"""

from __future__ import annotations

from torch import nn

from lmrec.errors import ConfigError

FINETUNE_MODES: tuple[str, ...] = ("full", "frozen", "lora")
LORA_TARGETS: tuple[str, ...] = ("linear1", "linear2")


def add_lora(
    net: nn.Module, rank: int, alpha: float | None = None, dropout: float = 0.0
) -> nn.Module:
    """Inject LoRA adapters into ``net`` in place (also used when loading a LoRA model)."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha or 2 * rank,
        lora_dropout=dropout,
        target_modules=list(LORA_TARGETS),
        bias="none",
    )
    return inject_adapter_in_model(config, net)


def trainable_parameters(net: nn.Module, mode: str) -> list[nn.Parameter]:
    """Set ``requires_grad`` for fine-tuning ``mode`` and return the parameters that train."""
    if mode not in FINETUNE_MODES:
        raise ConfigError(f"finetune_mode must be one of {FINETUNE_MODES}, got {mode!r}")
    for name, param in net.named_parameters():
        if mode == "full":
            param.requires_grad_(True)
        elif mode == "frozen":
            param.requires_grad_(not name.startswith("encoder."))
        else:
            param.requires_grad_("lora_" in name or name == "out_bias")
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"finetune_mode {mode!r} left nothing to train; was LoRA injected?")
    return params
