"""Durable event store for the service: events are acknowledged only once committed.

The default is an embedded DuckDB file (one process). :func:`open_store` takes a URL-like
string: ``duckdb:PATH`` (or a bare path ending in ``.duckdb``) and, for several replicas,
``postgresql://user:password@host:port/db`` (psycopg): the replicas then keep no state of
their own, so an event written through one is seen by every other on its next request.
``?table=NAME`` picks the table (default ``events``).

Events are appended in one transaction per request; ``history(user)`` returns a user's
events in arrival order. The service reads a user's events on every request, so a new event
changes the next recommendation at once, without retraining.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lmrec.data.schema import BEHAVIOURS
from lmrec.errors import ConfigError
from lmrec.serve.new_items import NewItem


@dataclass(frozen=True)
class Event:
    """One event: who did what to which item, when (unix seconds; NaN = unknown)."""

    user_id: str
    item_id: str
    behaviour: str = "click"
    timestamp: float = math.nan

    def __post_init__(self) -> None:
        if not self.user_id or not self.item_id:
            raise ConfigError("an event needs a non-empty user_id and item_id")
        if self.behaviour not in BEHAVIOURS:
            raise ConfigError(
                f"unknown behaviour {self.behaviour!r}; expected one of {', '.join(BEHAVIOURS)}"
            )


class EventStore(Protocol):
    def append(self, events: list[Event]) -> int:
        """Store ``events`` durably (one transaction); the number stored."""
        ...

    def history(self, user_id: str) -> list[Event]:
        """The user's stored events, oldest first."""
        ...

    def count(self) -> int:
        """How many events are stored."""
        ...

    def add_item(self, item: NewItem) -> None:
        """Store a new item durably; an id already registered is a :class:`ConfigError`."""
        ...

    def new_items(self) -> list[NewItem]:
        """The registered items, oldest first."""
        ...

    def item_count(self) -> int:
        """How many items are registered (cheap: asked on every request)."""
        ...

    def close(self) -> None: ...


class DuckDBStore:
    """Events in an embedded DuckDB file; a lock serialises writers of this process.

    DuckDB lets one process open a file for writing, so this process sees every event the
    file will ever get: it keeps each user's events in memory as well (read once at start,
    added to after each commit), and a request reads its user's history from there instead
    of scanning the table (a scan per request was most of a recommendation's time).
    """

    def __init__(self, path: str | Path):
        import duckdb

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise ConfigError(f"cannot open the event store {self.path}: {exc}") from None
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute(
                "CREATE SEQUENCE IF NOT EXISTS event_seq START 1;"
                "CREATE TABLE IF NOT EXISTS events ("
                " seq BIGINT DEFAULT nextval('event_seq'), user_id VARCHAR NOT NULL,"
                " item_id VARCHAR NOT NULL, behaviour VARCHAR NOT NULL, ts DOUBLE);"
                "CREATE SEQUENCE IF NOT EXISTS item_seq START 1;"
                "CREATE TABLE IF NOT EXISTS items ("
                " seq BIGINT DEFAULT nextval('item_seq'), item_id VARCHAR PRIMARY KEY,"
                " title VARCHAR, text VARCHAR, categories VARCHAR);"
            )
            items = self._db.execute(
                "SELECT item_id, title, text, categories FROM items ORDER BY seq"
            ).fetchall()
            rows = self._db.execute(
                "SELECT user_id, item_id, behaviour, ts FROM events ORDER BY seq"
            ).fetchall()
        self._by_user: dict[str, list[Event]] = {}
        for row in rows:
            event = _event_row(*row)
            self._by_user.setdefault(event.user_id, []).append(event)
        self._count = len(rows)
        self._items = [_item_row(*row) for row in items]

    def append(self, events: list[Event]) -> int:
        rows = [
            (e.user_id, e.item_id, e.behaviour, None if math.isnan(e.timestamp) else e.timestamp)
            for e in events
        ]
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("BEGIN TRANSACTION")
            try:
                cursor.executemany(
                    "INSERT INTO events (user_id, item_id, behaviour, ts) VALUES (?, ?, ?, ?)",
                    rows,
                )
                cursor.execute("COMMIT")  # written to the WAL: durable when this returns
            except Exception:
                cursor.execute("ROLLBACK")
                raise
            for event in events:  # only once committed
                self._by_user.setdefault(event.user_id, []).append(event)
            self._count += len(rows)
        return len(rows)

    def history(self, user_id: str) -> list[Event]:
        with self._lock:
            return list(self._by_user.get(user_id, ()))

    def count(self) -> int:
        with self._lock:
            return self._count

    def add_item(self, item: NewItem) -> None:
        import duckdb

        with self._lock:
            try:
                self._db.cursor().execute(
                    "INSERT INTO items (item_id, title, text, categories) VALUES (?, ?, ?, ?)",
                    [item.item_id, item.title, item.text, item.categories_json()],
                )  # autocommit: durable when this returns
            except duckdb.ConstraintException:
                raise ConfigError(f"item {item.item_id!r} is already registered") from None
            self._items.append(item)

    def new_items(self) -> list[NewItem]:
        with self._lock:
            return list(self._items)

    def item_count(self) -> int:
        with self._lock:
            return len(self._items)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresStore:
    """Events in a PostgreSQL table; every replica connects to the same one.

    A commit returns once PostgreSQL has flushed it (``synchronous_commit`` on, the server
    default), so an acknowledged event survives a crash of the service or the database.
    """

    def __init__(self, url: str, table: str = "events"):
        import psycopg

        if not table.replace("_", "").isalnum():
            raise ConfigError(f"table must be letters, digits and _, got {table!r}")
        self.url, self.table = url, table
        try:
            self._db = psycopg.connect(url, connect_timeout=10)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to the event store {_redact(url)}: {exc}") from None
        self._lock = threading.Lock()
        with self._lock, self._db.cursor() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (seq BIGSERIAL PRIMARY KEY, "
                "user_id TEXT NOT NULL, item_id TEXT NOT NULL, behaviour TEXT NOT NULL, "
                "ts DOUBLE PRECISION)"
            )
            cur.execute(f"CREATE INDEX IF NOT EXISTS {table}_user ON {table} (user_id, seq)")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {table}_items (seq BIGSERIAL, "
                "item_id TEXT PRIMARY KEY, title TEXT, text TEXT, categories TEXT)"
            )
            self._db.commit()

    def append(self, events: list[Event]) -> int:
        rows = [
            (e.user_id, e.item_id, e.behaviour, None if math.isnan(e.timestamp) else e.timestamp)
            for e in events
        ]
        with self._lock:
            try:
                with self._db.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {self.table} (user_id, item_id, behaviour, ts) "
                        "VALUES (%s, %s, %s, %s)",
                        rows,
                    )
                self._db.commit()
            except Exception:
                self._db.rollback()
                raise
        return len(rows)

    def history(self, user_id: str) -> list[Event]:
        with self._lock, self._db.cursor() as cur:
            cur.execute(
                f"SELECT user_id, item_id, behaviour, ts FROM {self.table} WHERE user_id = %s "
                "ORDER BY seq",
                (user_id,),
            )
            rows = cur.fetchall()
            self._db.commit()  # end the read transaction: the next read sees new commits
        return [_event_row(*row) for row in rows]

    def count(self) -> int:
        return self._count_rows(self.table)

    def add_item(self, item: NewItem) -> None:
        import psycopg

        with self._lock:
            try:
                with self._db.cursor() as cur:
                    cur.execute(
                        f"INSERT INTO {self.table}_items (item_id, title, text, categories) "
                        "VALUES (%s, %s, %s, %s)",
                        (item.item_id, item.title, item.text, item.categories_json()),
                    )
                self._db.commit()
            except psycopg.errors.UniqueViolation:
                self._db.rollback()
                raise ConfigError(f"item {item.item_id!r} is already registered") from None
            except Exception:
                self._db.rollback()
                raise

    def new_items(self) -> list[NewItem]:
        with self._lock, self._db.cursor() as cur:
            cur.execute(
                f"SELECT item_id, title, text, categories FROM {self.table}_items ORDER BY seq"
            )
            rows = cur.fetchall()
            self._db.commit()
        return [_item_row(*row) for row in rows]

    def item_count(self) -> int:
        return self._count_rows(f"{self.table}_items")

    def _count_rows(self, table: str) -> int:
        with self._lock, self._db.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            (n,) = cur.fetchone()
            self._db.commit()  # end the read transaction: the next count sees new commits
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _event_row(user_id: str, item_id: str, behaviour: str, ts: float | None) -> Event:
    return Event(user_id, item_id, behaviour, math.nan if ts is None else float(ts))


def _item_row(item_id: str, title: str | None, text: str | None, categories: str | None):
    return NewItem(item_id, title or "", text or "", tuple(json.loads(categories or "[]")))


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url


def open_store(url: str) -> EventStore:
    """``duckdb:PATH`` or a ``*.duckdb`` path → :class:`DuckDBStore`;
    ``postgresql://…[?table=NAME]`` → :class:`PostgresStore`."""
    if url.startswith("duckdb:"):
        return DuckDBStore(url.removeprefix("duckdb:"))
    if url.startswith(("postgresql://", "postgres://")):
        base, _, query = url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        table = params.pop("table", "events")
        rest = "&".join(f"{k}={v}" for k, v in params.items())
        return PostgresStore(base + (f"?{rest}" if rest else ""), table)
    if url.endswith(".duckdb"):
        return DuckDBStore(url)
    raise ConfigError(
        f"event store must be duckdb:PATH, a .duckdb file or postgresql://…, got {url!r}"
    )


__all__ = ["DuckDBStore", "Event", "EventStore", "PostgresStore", "open_store"]
