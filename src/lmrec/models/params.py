"""Model parameters from ``key=value`` strings: what ``--param`` on the command line means.

Each value takes the type of the parameter's default in :meth:`Recommender.param_defaults`
(``l2=200`` becomes ``200.0`` for EASE), so a typo in a name or a value is an error that
names the model, the parameter and what was expected, before any data is loaded.

This module reads only ``param_defaults()`` of the registered class; it imports no model
code itself (the registry resolves the class), so parsing a baseline's parameters does not
import torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from inspect import Parameter
from typing import Any

from lmrec.errors import ConfigError
from lmrec.models.registry import model_class, model_params

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def convert(model: str, key: str, raw: str, default: object) -> object:
    """``raw`` converted to the type of the parameter's ``default``.

    Booleans accept true/false, yes/no, 1/0, on/off; a tuple or list default takes
    comma-separated items of its first element's type; a ``None`` default takes a JSON
    number, boolean or null, and any other text as a string.
    """

    def bad(kind: str) -> ConfigError:
        return ConfigError(
            f"--param {key}={raw}: the {key!r} parameter of {model} must be {kind} "
            f"(default {default!r})"
        )

    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise bad("true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise bad("an integer") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise bad("a number") from None
    if isinstance(default, str):
        return raw
    if isinstance(default, tuple | list) and default:
        return type(default)(convert(model, key, part, default[0]) for part in raw.split(","))
    try:  # no usable default (None): a JSON literal if it is one, else the string
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, int | float | bool) or value is None else raw


def parse_params(model: str, pairs: Sequence[str], seed: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``make_model(model, ...)`` from ``key=value`` strings.

    Values take the type of the parameter's default (:meth:`Recommender.param_defaults`);
    a model with a ``seed`` parameter gets ``seed`` unless a pair sets it.
    """
    defaults = model_params(model_class(model))
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = (s.strip() for s in pair.partition("="))
        if not sep or not key:
            raise ConfigError(f"--param expects key=value, got {pair!r} (example: --param l2=100)")
        if key not in defaults:
            raise ConfigError(
                f"--param {pair}: {model} has no parameter {key!r}; "
                f"its parameters are {', '.join(defaults) or '(none)'}"
            )
        default = defaults[key]
        params[key] = convert(model, key, raw, None if default is Parameter.empty else default)
    if seed is not None and "seed" in defaults and "seed" not in params:
        params["seed"] = seed
    return params


#: ``lmrec train --tasks``: the model that trains each set of tasks on one backbone, and
#: the parameters that say so. ``lambda`` weighs the second task (L = L_next + λ·L_task).
TASK_MODELS: dict[frozenset[str], tuple[str, tuple[str, ...]]] = {
    frozenset({"next"}): ("transformer", ()),
    frozenset({"next", "behaviour"}): ("transformer-behaviour", ()),
    frozenset({"behaviour"}): ("transformer-behaviour", ("sequence_weight=0",)),
    frozenset({"next", "rating"}): ("transformer-rating", ()),
    frozenset({"rating"}): ("transformer-rating", ("sequence_weight=0",)),
}
TASKS: tuple[str, ...] = ("next", "behaviour", "rating")
_LAMBDA = {"transformer-behaviour": "behaviour_weight", "transformer-rating": "rating_weight"}


def task_model(tasks: str, pairs: Sequence[str]) -> tuple[str, list[str]]:
    """The model type for ``--tasks`` (comma-separated) and ``pairs`` with ``lambda=`` renamed
    to that model's task weight; an unknown or unsupported set is a :class:`ConfigError`."""
    names = {t.strip() for t in tasks.split(",") if t.strip()}
    unknown = sorted(names - set(TASKS))
    if unknown or not names:
        raise ConfigError(
            f"--tasks takes a comma-separated subset of {', '.join(TASKS)}, got {tasks!r}"
        )
    if frozenset(names) not in TASK_MODELS:
        raise ConfigError(
            f"--tasks {tasks}: one backbone trains next items with one head (behaviour or "
            "rating) so far; train next,behaviour and next,rating as two runs"
        )
    model, extra = TASK_MODELS[frozenset(names)]
    out = list(extra)
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key.strip() == "lambda":
            if model not in _LAMBDA:
                raise ConfigError("--param lambda weighs a second task; --tasks next has none")
            pair = f"{_LAMBDA[model]}={value}"
        out.append(pair)
    return model, out


def parse_grouped_params(
    names: Sequence[str], pairs: Sequence[str], seed: int | None = None
) -> dict[str, dict[str, Any]]:
    """Per-model parameters from ``MODEL.KEY=VALUE`` pairs (``lmrec compare --param``)."""
    grouped: dict[str, list[str]] = {name: [] for name in names}
    for pair in pairs:
        target, dot, rest = pair.partition(".")
        if not dot or target not in grouped:
            raise ConfigError(
                f"--param {pair}: compare expects MODEL.KEY=VALUE with MODEL one of "
                f"{', '.join(names)} (example: --param ease.l2=100)"
            )
        grouped[target].append(rest)
    return {name: parse_params(name, grouped[name], seed) for name in names}
