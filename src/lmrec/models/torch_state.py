"""A torch module's weights as named numpy arrays (``net.<state-dict key>``), the one way the
torch models put their networks into ``model.safetensors`` and take them back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from lmrec.errors import ModelFileError

PREFIX = "net."

State = dict[str, torch.Tensor]


def module_arrays(net: torch.nn.Module, prefix: str = PREFIX) -> dict[str, np.ndarray]:
    """Every entry of ``net.state_dict()`` as a numpy array under ``prefix + key``."""
    return {f"{prefix}{k}": v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def module_state(
    arrays: Mapping[str, Any],
    prefix: str = PREFIX,
    convert: Callable[[State], State] | None = None,
) -> State:
    """The state dict saved by :func:`module_arrays`; ``convert`` rewrites it (e.g. from an
    older layout of the module)."""
    state = {
        k[len(prefix) :]: torch.from_numpy(np.array(v))
        for k, v in arrays.items()
        if k.startswith(prefix)
    }
    return convert(state) if convert is not None else state


def load_module(net: torch.nn.Module, state: Mapping[str, Any], prefix: str = PREFIX) -> None:
    """Load ``state`` (a :func:`module_state` dict, or the saved arrays themselves, which are
    read with ``prefix``) into ``net``; every key must match, else :class:`ModelFileError`."""
    if any(k.startswith(prefix) for k in state):
        state = module_state(state, prefix)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = " ".join(str(exc).strip().splitlines()[:2])
        raise ModelFileError(
            f"the saved weights do not fit {type(net).__name__} ({first}); the file was "
            "written by another lmrec version or is damaged: retrain the model"
        ) from None
