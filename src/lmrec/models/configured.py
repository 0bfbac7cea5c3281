"""Parameters defined once, by dataclasses: for models whose hyper-parameters are the union
of config dataclasses' fields (architecture, optimisation) plus a few options of their own.

A subclass lists its dataclasses in ``param_sources`` and its own options in
``own_params`` (name → default); :meth:`Configured.param_defaults` is their union, so
``--param``, ``make_model``, ``get_params`` and ``config.json`` all see every field, and a
field added to a dataclass is a parameter without being copied anywhere.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from lmrec.errors import ConfigError


class Configured:
    """Mixin for :class:`~lmrec.models.base.Recommender`: keyword parameters from dataclasses.

    ``__init__(*configs, **params)``: config instances (any of ``param_sources``) give their
    fields, keywords override them; unknown names raise :class:`ConfigError` listing the
    allowed ones. Parameters are stored as attributes of the same name (scikit-learn style),
    and :meth:`config` rebuilds a dataclass from them.
    """

    #: Dataclasses whose fields are parameters.
    param_sources: ClassVar[tuple[type, ...]] = ()
    #: Fields of ``param_sources`` set from the data, not by the user.
    data_fields: ClassVar[tuple[str, ...]] = ()
    #: The model's own options, and defaults that differ from the dataclasses'.
    own_params: ClassVar[dict[str, Any]] = {}

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for source in cls.param_sources:
            for f in dataclasses.fields(source):
                if f.name not in cls.data_fields:
                    out[f.name] = f.default
        out.update(cls.own_params)
        return out

    def _set_params(self, configs: tuple[Any, ...], params: dict[str, Any]) -> None:
        allowed = self.param_defaults()
        values = dict(allowed)
        for config in configs:
            if config is None:
                continue
            if type(config) not in self.param_sources:
                names = ", ".join(s.__name__ for s in self.param_sources)
                raise ConfigError(
                    f"{type(self).__name__} takes configs of type {names}, "
                    f"got {type(config).__name__}"
                )
            values.update({k: v for k, v in dataclasses.asdict(config).items() if k in allowed})
        unknown = [name for name in params if name not in allowed]
        if unknown:
            listed = ", ".join(f"{k}={v!r}" for k, v in allowed.items())
            raise ConfigError(
                f"{type(self).__name__} has no parameter {unknown[0]!r}; "
                f"its parameters (with defaults) are: {listed}"
            )
        values.update(params)
        for name, value in values.items():
            setattr(self, name, value)

    def config(self, source: type, **data_fields: Any) -> Any:
        """An instance of dataclass ``source`` from this model's parameters (and
        ``data_fields``, e.g. ``n_items``); its ``__post_init__`` validates them."""
        names = {f.name for f in dataclasses.fields(source)}
        values = {n: getattr(self, n) for n in names if n not in self.data_fields}
        return source(**values, **data_fields)
