"""Checks shared by the models: hyper-parameters (one message style) and saved state.

Models call the parameter checks from ``_validate_params`` (run at the top of ``fit`` and by
:func:`lmrec.models.make_model`), never from ``__init__``, which stores its arguments as is::

    The 'k' parameter of ItemKNN must be an int >= 1, got 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from lmrec.errors import ConfigError, ModelFileError


def check_state(model: object, arrays: dict[str, np.ndarray], names: Sequence[str]) -> None:
    """Raise :class:`ModelFileError` unless every array in ``names`` was saved."""
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ModelFileError(
            f"model.safetensors has no {', '.join('state.' + n for n in missing)}; it was not "
            f"written by {type(model).__name__}.save or is corrupted, save the model again"
        )


def check_int(model: object, name: str, low: int | None = None, high: int | None = None) -> None:
    """Raise :class:`ConfigError` unless ``model.<name>`` is an int within ``[low, high]``."""
    value = getattr(model, name)
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return
    raise ConfigError(_message(model, name, "an int", value, low, high, low_open=False))


def check_float(
    model: object,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless ``model.<name>`` is a finite real number in range.

    The range is ``[low, high]``, or ``(low, high]`` with ``low_open=True``.
    """
    value = getattr(model, name)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    ok = ok and (low is None or (value > low if low_open else value >= low))
    if ok and (high is None or value <= high):
        return
    raise ConfigError(_message(model, name, "a number", value, low, high, low_open=low_open))


def check_choice(model: object, name: str, choices: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless ``model.<name>`` is one of ``choices``."""
    value = getattr(model, name)
    if isinstance(value, str) and value in choices:
        return
    raise ConfigError(
        f"The {name!r} parameter of {type(model).__name__} must be one of "
        f"{', '.join(repr(c) for c in choices)}, got {value!r}."
    )


def _message(
    model: object,
    name: str,
    kind: str,
    value: object,
    low: float | None,
    high: float | None,
    *,
    low_open: bool,
) -> str:
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        bounds.append(f"<= {high}")
    rule = f"{kind} {' and '.join(bounds)}" if bounds else kind
    return f"The {name!r} parameter of {type(model).__name__} must be {rule}, got {value!r}."
