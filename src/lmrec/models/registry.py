"""One explicit table from ``config.json``'s ``model_type`` to a class, and :func:`load`."""

from __future__ import annotations

import json
from pathlib import Path

from lmrec.errors import ModelFileError
from lmrec.models.base import FORMAT_VERSION, Recommender

#: Every loadable model type. Add a class here when you add a model.
MODEL_TYPES: dict[str, type[Recommender]] = {}


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
