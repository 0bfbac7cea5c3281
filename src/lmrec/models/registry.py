"""One explicit table from a model name (``config.json``'s ``model_type``) to a class.

:func:`make_model` builds a model from its name and keyword parameters (what the CLI does
with ``--model ease --param l2=50``); :func:`load` restores a saved model directory.

The table maps each name to ``"module:Class"`` and imports the class on first use, so
listing the names (``lmrec --help``, error messages) imports no model code and no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmrec.errors import ConfigError, ModelFileError
from lmrec.jsonfile import read_json_object

if TYPE_CHECKING:
    from lmrec.models.base import Recommender

#: Every loadable model type, as ``"module:Class"``. Add a line here when you add a model.
_CLASS_PATHS: dict[str, str] = {
    "popular": "lmrec.models.popular:MostPopular",
    "random": "lmrec.models.random_baseline:RandomRanking",
    "itemknn": "lmrec.models.neighbours:ItemKNN",
    "ease": "lmrec.models.neighbours:EASE",
    "als": "lmrec.models.factorization:ALS",
    "bpr": "lmrec.models.factorization:BPR",
    "svd": "lmrec.models.ratings:SVD",
    "svdpp": "lmrec.models.ratings:SVDpp",
    "transformer": "lmrec.models.sequential:SequenceTransformer",
    "transformer-rating": "lmrec.models.rating_transformer:RatingTransformer",
    "transformer-behaviour": "lmrec.models.behaviour_transformer:BehaviourTransformer",
    "lightgbm": "lmrec.models.gbdt:LightGBMBehaviour",
    "content": "lmrec.models.content:ContentKNN",
    "multi-interest": "lmrec.models.multi_interest:MultiInterest",
    "repeat": "lmrec.models.repeat:RepeatBaseline",
}


class _LazyTypes(Mapping[str, "type[Recommender]"]):
    """A read-only name -> class mapping that imports each class when it is first looked up.

    Iterating yields the names without importing anything; ``MODEL_TYPES[name]`` and
    ``.items()`` import the classes (and so, for the Transformer, torch).
    """

    def __init__(self, paths: Mapping[str, str]):
        self._paths = dict(paths)

    def __getitem__(self, name: str) -> type[Recommender]:
        module, _, attr = self._paths[name].partition(":")
        return getattr(import_module(module), attr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"MODEL_TYPES({self._paths!r})"


#: Every loadable model type: name -> class, each class imported on first lookup.
MODEL_TYPES: Mapping[str, type[Recommender]] = _LazyTypes(_CLASS_PATHS)


def model_names() -> list[str]:
    """The registered model names, in registry order (imports no model code)."""
    return list(_CLASS_PATHS)


def model_class(name: str) -> type[Recommender]:
    """The class registered as ``name``; :class:`ConfigError` listing the known names if none."""
    if name not in _CLASS_PATHS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(_CLASS_PATHS)}")
    return MODEL_TYPES[name]


def model_params(cls: type[Recommender]) -> dict[str, Any]:
    """A model class's parameters and their defaults (:meth:`Recommender.param_defaults`)."""
    return cls.param_defaults()


def make_model(name: str, **params: Any) -> Recommender:
    """Build the model registered as ``name`` with keyword ``params``, checked up front.

    Raises :class:`ConfigError` for an unknown name (listing the known ones), an unknown
    parameter (listing the allowed ones with their defaults) or a value out of range.
    """
    cls = model_class(name)
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
    from lmrec.models.base import FORMAT_VERSION

    root = Path(path)
    config_path = root / "config.json"
    if not config_path.is_file():
        raise ModelFileError(
            f"{root}: no config.json; is this a directory written by model.save()?"
        )
    config = read_json_object(config_path)
    if "model_type" not in config:
        raise ModelFileError(f"{config_path}: has no 'model_type'")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{config_path}: format_version {version!r}, this lmrec reads {FORMAT_VERSION}; "
            "retrain the model or use the lmrec version that wrote it "
            f"({config.get('lmrec_version')})"
        )
    name = config["model_type"]
    if name not in _CLASS_PATHS:
        raise ModelFileError(
            f"{config_path}: unknown model_type {name!r}; known types: {sorted(_CLASS_PATHS)}"
        )
    return MODEL_TYPES[name]._from_saved(root, config)
