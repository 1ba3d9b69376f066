"""The one cache: an SQLite file of JSON values keyed by the sha256 of a canonical JSON request.

Model calls are keyed by :meth:`Cache.key` over ``{backend, endpoint, model, input, parameters}``
(see :meth:`pnyx.queries.client.ModelRequest.key`). The endpoint's base URL is deliberately *not*
part of the key: the same model answers the same request wherever it is served, so a cache filled
against one host or port stays valid behind another. Serve different weights under different model
names.

Every :meth:`Cache.put` commits at once (WAL mode), so a process killed mid-run loses at most the
calls in flight. One connection, guarded by a lock, serves all threads of a process; other
processes may read and write the same file concurrently (SQLite's own locking).

Other expensive computations may use the same file: ``cache.get(key)`` / ``cache.put(key, value)``
with any JSON-serialisable value and a ``namespace`` to tell the kinds apart.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: equal objects give equal strings."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Cache:
    """A persistent key → JSON value store in one SQLite file (``":memory:"`` for a throwaway one)."""

    def __init__(self, path: str | Path = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    @staticmethod
    def key(obj: Any) -> str:
        """sha256 (hex) of the canonical JSON of ``obj``."""
        return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()

    def get(self, key: str) -> Any | None:
        """The stored value, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any, *, namespace: str = "") -> None:
        """Store ``value`` under ``key`` (replacing any older value) and commit."""
        text = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO entries (key, namespace, value, created) VALUES (?, ?, ?, ?)",
                (key, namespace, text, time.time()),
            )

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM entries WHERE key = ?", (key,)).fetchone() is not None

    def count(self, namespace: str | None = None) -> int:
        """Number of stored entries (in one namespace if given)."""
        with self._lock:
            if namespace is None:
                return self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM entries WHERE namespace = ?", (namespace,)).fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cache({self.path!r})"
