"""The copy ledger: one SQLite file per app, one row per object, SHA-256 of every object.

Rows move ``pending`` -> ``copied`` -> ``verified`` (or ``mismatch``). A row is marked copied
only after the target store confirmed the whole object. Confirmations are committed in small
batches (WAL journal; at least once a second and always on exit or error), so killing ``copy``
at any moment loses at most the objects in flight and the last second of confirmations, which
the next run copies again: a row never says ``copied`` for an object the store did not confirm.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pdn.errors import InputError
from pdn.safeload import shown

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    identity TEXT NOT NULL,        -- source mtime_ns or ETag: tells whether the source changed
    sha256 TEXT,                   -- of the source bytes, computed by copy
    state TEXT NOT NULL CHECK (state IN ('pending', 'copied', 'verified', 'mismatch')),
    target_etag TEXT,
    verified_sha256 TEXT,          -- of the target bytes, computed by verify
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- source entries copy did not copy (symbolic links, special files, unreadable folders, names that
-- are not UTF-8): verify counts each of them as not verified
CREATE TABLE IF NOT EXISTS skipped (key TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    size: int
    identity: str
    sha256: str | None
    state: str
    target_etag: str | None
    verified_sha256: str | None


class Ledger:
    def __init__(self, path: Path, exclusive: bool = True) -> None:
        try:
            self._open(path, exclusive)
        except (OSError, sqlite3.Error) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise InputError(
                f"cannot open the copy ledger {shown(path)}: {reason}", hint="choose another --out"
            ) from None

    def _open(self, path: Path, exclusive: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One copy/verify per ledger at a time: copy aborts stale multipart uploads of its bucket,
        # which must never be the live uploads of a second run. Released when the process dies.
        # Readers (``show``) pass exclusive=False.
        self._lock = (path.parent / f".{path.name}.lock").open("w") if exclusive else None
        if self._lock is not None:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.close()
                raise InputError(f"another pdn process is using {path}", hint="wait for it to finish") from None
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One explicit transaction: the connection is in autocommit mode, where ``executemany``
        would otherwise commit (and sync the WAL) once per row."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def set_meta(self, **values: str) -> None:
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT name, value FROM meta").fetchall())

    def get(self, key: str) -> Entry | None:
        row = self.db.execute(
            "SELECT key, size, identity, sha256, state, target_etag, verified_sha256 FROM objects WHERE key = ?",
            (key,),
        ).fetchone()
        return Entry(*row) if row else None

    def entries(self, states: tuple[str, ...] | None = None) -> Iterator[Entry]:
        query = "SELECT key, size, identity, sha256, state, target_etag, verified_sha256 FROM objects"
        params: tuple[Any, ...] = ()
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            params = states
        for row in self.db.execute(query + " ORDER BY key", params).fetchall():
            yield Entry(*row)

    def upsert_pending(self, items: list[tuple[str, int, str]]) -> None:
        """Record source objects that are new or changed since the last run."""
        now = time.time()
        with self._transaction():
            self.db.executemany(
                "INSERT INTO objects (key, size, identity, state, updated) VALUES (?, ?, ?, 'pending', ?) "
                "ON CONFLICT(key) DO UPDATE SET size = excluded.size, identity = excluded.identity, "
                "sha256 = NULL, state = 'pending', target_etag = NULL, verified_sha256 = NULL, "
                "updated = excluded.updated",
                [(key, size, identity, now) for key, size, identity in items],
            )

    def mark_copied(self, key: str, sha256: str, etag: str) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE objects SET sha256 = ?, state = 'copied', target_etag = ?, verified_sha256 = NULL, "
                "updated = ? WHERE key = ?",
                (sha256, etag, time.time(), key),
            )

    def mark_copied_many(self, rows: list[tuple[str, str, str]]) -> None:
        """``(key, sha256, etag)`` rows, all in one transaction (one commit for many objects)."""
        if not rows:
            return
        now = time.time()
        with self._transaction():
            self.db.executemany(
                "UPDATE objects SET sha256 = ?, state = 'copied', target_etag = ?, verified_sha256 = NULL, "
                "updated = ? WHERE key = ?",
                [(sha256, etag, now, key) for key, sha256, etag in rows],
            )

    def mark_verified_many(self, rows: list[tuple[str, str, bool]]) -> None:
        """``(key, sha256 read back, ok)`` rows, all in one transaction."""
        if not rows:
            return
        now = time.time()
        with self._transaction():
            self.db.executemany(
                "UPDATE objects SET state = ?, verified_sha256 = ?, updated = ? WHERE key = ?",
                [("verified" if ok else "mismatch", sha256, now, key) for key, sha256, ok in rows],
            )

    def mark_verified(self, key: str, sha256: str, ok: bool) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE objects SET state = ?, verified_sha256 = ?, updated = ? WHERE key = ?",
                ("verified" if ok else "mismatch", sha256, time.time(), key),
            )

    def set_skipped(self, items: list[tuple[str, str]]) -> None:
        """What the last listing of the source left out, ``(key, reason)``; replaces the previous list."""
        with self._transaction():
            self.db.execute("DELETE FROM skipped")
            self.db.executemany("INSERT OR REPLACE INTO skipped VALUES (?, ?)", items)

    def skipped(self) -> list[tuple[str, str]]:
        return [(key, reason) for key, reason in self.db.execute("SELECT key, reason FROM skipped ORDER BY key")]

    def snapshot(self, path: Path) -> None:
        """A consistent copy of the ledger in one file at ``path`` (SQLite's online backup: the
        committed state, without the WAL), for a copy Job's pod to upload."""
        target = sqlite3.connect(str(path))
        try:
            self.db.backup(target)
        finally:
            target.close()

    def merge_from(self, path: Path) -> int:
        """Take every object row of another ledger file (a copy Job shard's snapshot); returns how many."""
        self.db.execute("ATTACH DATABASE ? AS part", (str(path),))
        try:
            with self._transaction():
                cursor = self.db.execute(
                    "INSERT OR REPLACE INTO objects (key, size, identity, sha256, state, target_etag, verified_sha256, "
                    "updated) SELECT key, size, identity, sha256, state, target_etag, verified_sha256, updated "
                    "FROM part.objects"
                )
        finally:
            self.db.execute("DETACH DATABASE part")
        return cursor.rowcount

    def summary(self) -> dict[str, Any]:
        rows = self.db.execute("SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM objects GROUP BY state").fetchall()
        counts = {state: {"objects": count, "bytes": total} for state, count, total in rows}
        skipped = len(self.skipped())
        return {"ledger": str(self.path), **self.meta(), "states": counts, "skipped (not copied)": skipped}
