"""Reading the JSON files lmrec writes (run.json, config.json): an object or a clear error.

One place for "not valid JSON" and "not an object", so a damaged run directory and a
damaged model directory are refused in the same words, naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmrec.errors import ModelFileError


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`ModelFileError` naming the file if it cannot be
    read, is not JSON, or holds something other than an object."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw
