"""API keys (stored hashed), roles, per-key rate limits and pseudonymised ids for logs.

A keys file is JSON: ``{"keys": [{"id", "hash", "role", "rate_per_minute", "created"}]}``.
Only the SHA-256 of each key is stored; the key itself is printed once by
``lmrec keys create`` and cannot be recovered. Keys are 32 random bytes, so a plain hash
is safe against guessing (no password-style stretching is needed).

Roles nest: ``read`` (recommend, predict, interests, similar items) < ``write`` (also post
events) < ``admin`` (also reload the model).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lmrec.errors import ConfigError, DataError

ROLES: tuple[str, ...] = ("read", "write", "admin")
KEY_PREFIX = "lmrec_"


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    hash: str
    role: str
    rate_per_minute: int = 600
    created: str = ""

    def allows(self, role: str) -> bool:
        """Whether this key's role includes ``role`` (read < write < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def read_keys(path: str | Path) -> list[ApiKey]:
    """The keys of a keys file; a missing or malformed file is a :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no keys file; create one with lmrec keys create --keys {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [ApiKey(**k) for k in raw["keys"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a keys file ({exc})") from None


def create_key(path: str | Path, role: str, rate_per_minute: int = 600) -> tuple[str, ApiKey]:
    """Add a new key with ``role`` to the keys file (created if absent); returns the key
    (shown once) and its stored record."""
    check_role(role)
    if rate_per_minute < 1:
        raise ConfigError(f"rate_per_minute must be at least 1, got {rate_per_minute}")
    path = Path(path)
    keys = read_keys(path) if path.exists() else []
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(key)
    record = ApiKey(
        id=digest[7:19],
        hash=digest,
        role=role,
        rate_per_minute=rate_per_minute,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"keys": [asdict(k) for k in [*keys, record]]}, indent=2))
    tmp.replace(path)  # never a half-written keys file
    return key, record


@dataclass
class KeyRing:
    """The service's view of the keys: lookup by key, and a token bucket per key."""

    keys: list[ApiKey]
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def find(self, key: str) -> ApiKey | None:
        digest = hash_key(key)
        for k in self.keys:
            if hmac.compare_digest(k.hash, digest):
                return k
        return None

    def take(self, key: ApiKey, now: float | None = None) -> bool:
        """Spend one request from ``key``'s bucket (``rate_per_minute``, refilled
        continuously); False when it is empty."""
        now = time.monotonic() if now is None else now
        rate = key.rate_per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key.id, (float(key.rate_per_minute), now))
            tokens = min(float(key.rate_per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key.id] = (tokens, now)
                return False
            self._buckets[key.id] = (tokens - 1.0, now)
            return True


def pseudonym(user_id: str, secret: bytes) -> str:
    """A keyed hash of a user id for logs: stable per secret, not reversible without it."""
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()[:16]


__all__ = [
    "ROLES",
    "ApiKey",
    "KeyRing",
    "check_role",
    "create_key",
    "hash_key",
    "pseudonym",
    "read_keys",
]
