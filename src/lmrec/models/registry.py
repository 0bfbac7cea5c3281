"""One explicit table from a model name (``config.json``'s ``model_type``) to a class.

:func:`make_model` builds a model from its name and keyword parameters (what the CLI does
with ``--model ease --param l2=50``); :func:`load` restores a saved model directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError, ModelFileError
from lmrec.models.base import FORMAT_VERSION, Recommender
from lmrec.models.baselines import ALS, BPR, EASE, SVD, ItemKNN, MostPopular, SVDpp
from lmrec.models.multi_interest import MultiInterest
from lmrec.models.repeat import RepeatBaseline
from lmrec.models.sequential import SequenceTransformer

#: Every loadable model type. Add a class here when you add a model.
MODEL_TYPES: dict[str, type[Recommender]] = {
    "popular": MostPopular,
    "itemknn": ItemKNN,
    "ease": EASE,
    "als": ALS,
    "bpr": BPR,
    "svd": SVD,
    "svdpp": SVDpp,
    "transformer": SequenceTransformer,
    "multi-interest": MultiInterest,
    "repeat": RepeatBaseline,
}


def model_params(cls: type[Recommender]) -> dict[str, Any]:
    """A model class's parameters and their defaults (:meth:`Recommender.param_defaults`)."""
    return cls.param_defaults()


def make_model(name: str, **params: Any) -> Recommender:
    """Build the model registered as ``name`` with keyword ``params``, checked up front.

    Raises :class:`ConfigError` for an unknown name (listing the known ones), an unknown
    parameter (listing the allowed ones with their defaults) or a value out of range.
    """
    cls = MODEL_TYPES.get(name)
    if cls is None:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODEL_TYPES)}")
    allowed = model_params(cls)
    unknown = [p for p in params if p not in allowed]
    if unknown:
        listed = ", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "none"
        raise ConfigError(
            f"{cls.__name__} ({name!r}) has no parameter {unknown[0]!r}; "
            f"its parameters (with defaults) are: {listed}"
        )
    model = cls(**params)
    model._validate_params()
    return model


def load(path: str | Path) -> Recommender:
    """Restore any model saved with ``model.save(path)``."""
    root = Path(path)
    config_path = root / "config.json"
    if not config_path.is_file():
        raise ModelFileError(
            f"{root}: no config.json; is this a directory written by model.save()?"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelFileError(f"{config_path}: has no 'model_type'")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{config_path}: format_version {version!r}, this lmrec reads {FORMAT_VERSION}; "
            "retrain the model or use the lmrec version that wrote it "
            f"({config.get('lmrec_version')})"
        )
    name = config["model_type"]
    cls = MODEL_TYPES.get(name)
    if cls is None:
        raise ModelFileError(
            f"{config_path}: unknown model_type {name!r}; known types: {sorted(MODEL_TYPES)}"
        )
    return cls._from_saved(root, config)
