"""Interest sources: the kinds of evidence a model reads about a user, and their weights.

MultiInterest pools each source (``behaviour:view``, ``rating``, ``review``) into its own
interest vector; the sequence Transformer reads them as per-event features of its input
(``behaviour`` tokens, ``rating`` tokens, ``review`` text vectors). Both weigh the sources
either with weights the user fixes (``source_weights="rating=1,review=2"``) or with weights
learned per user, and both show those weights per user (``lmrec sources``). Torch-free.
"""

from __future__ import annotations

import numpy as np

from lmrec.errors import ConfigError

SOURCE_WEIGHTINGS = ("learned", "fixed")
#: Per-event sources the sequence Transformer can read besides the item and its behaviour.
TRANSFORMER_SOURCES = ("rating", "review")


def parse_weights(text: str | None) -> dict[str, float]:
    """``"behaviour:view=0.2,behaviour:buy=0.8"`` → ``{"behaviour:view": 0.2, …}``."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().rpartition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not name or not np.isfinite(weight):
            raise ConfigError(
                f"source_weights entry {part.strip()!r} is not 'source=number' "
                "(e.g. 'behaviour:view=0.3,behaviour:buy=0.7')"
            )
        if weight < 0:
            raise ConfigError(f"source_weights: {name} has a negative weight ({weight})")
        out[name] = weight
    return out


def parse_sources(text: str | None) -> tuple[str, ...]:
    """The Transformer's extra sources from ``"rating,review"`` (in a fixed order); an
    unknown name is a :class:`ConfigError`."""
    names = [p.strip() for p in (text or "").split(",") if p.strip()]
    unknown = [n for n in names if n not in TRANSFORMER_SOURCES]
    if unknown:
        raise ConfigError(
            f"sources: unknown source {unknown[0]!r}; the Transformer reads "
            f"{', '.join(TRANSFORMER_SOURCES)} (comma-separated) besides its behaviour sequence"
        )
    return tuple(n for n in TRANSFORMER_SOURCES if n in names)


def transformer_source_names(sources: str | None, use_behaviour: bool = True) -> tuple[str, ...]:
    """Every source a Transformer with ``sources`` weighs: its behaviour tokens (unless
    ``use_behaviour`` is off) and the extra ones."""
    return (("behaviour",) if use_behaviour else ()) + parse_sources(sources)


def fixed_source_weights(names: tuple[str, ...], text: str | None) -> np.ndarray:
    """Normalised fixed weights of ``names`` from ``source_weights`` (equal when empty);
    a name that is not a source, or weights that are all zero, is a :class:`ConfigError`."""
    given = parse_weights(text)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(
            f"source_weights name {unknown[0]!r}, which is not among the sources {', '.join(names)}"
        )
    w = np.array([given.get(n, 0.0 if given else 1.0) for n in names], dtype=np.float64)
    if not w.sum() > 0:
        raise ConfigError("source_weights are all zero; give at least one positive weight")
    return w / w.sum()


__all__ = [
    "SOURCE_WEIGHTINGS",
    "TRANSFORMER_SOURCES",
    "fixed_source_weights",
    "parse_sources",
    "parse_weights",
    "transformer_source_names",
]
