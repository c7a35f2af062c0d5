"""What a step of ``pdn up`` last succeeded with: digests of its inputs, kept in the lab's state.

A record is written right after a step (or one node, site or app of it) succeeded, holding the
digest of everything its result depends on. The next run computes the digest again: equal, and
the result still there (checked live by the caller: the node container, the cluster, the bucket),
means there is nothing to do. Records live under the lab's state folder, so ``pdn lab down
--purge`` forgets them together with what they describe.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pdn import paths
from pdn.errors import PdnError

#: Files that never change what a step does: byte-code caches and editor or Ansible leftovers.
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
IGNORED_SUFFIXES = {".pyc", ".retry", ".swp", ".tmp"}


def records_file() -> Path:
    return paths.lab_dir() / "converge" / "up.json"


def _files(root: Path) -> Iterable[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not IGNORED_PARTS & set(path.parts) and path.suffix not in IGNORED_SUFFIXES:
            yield path


def tree_digest(*roots: Path) -> str:
    """SHA-256 over the names (relative to the repository when inside it) and contents of every
    file under ``roots``; a missing root counts as its name alone, so creating it changes the digest."""
    digest = hashlib.sha256()
    base = paths.repo_root()
    for root in roots:
        if not root.exists():
            digest.update(f"missing:{root}\n".encode())
            continue
        for path in _files(root):
            name = path.relative_to(base) if path.is_relative_to(base) else path
            digest.update(f"{name}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def value_digest(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON (sorted keys): equal values, equal digests."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Record:
    digest: str
    at: datetime
    extra: dict[str, Any]

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.at).total_seconds()

    def describe(self) -> str:
        return f"unchanged since {self.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC (inputs {self.digest[:12]})"


class Records:
    """The records file: one JSON object, key -> record, rewritten whole on every change (atomic)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or records_file()
        self._data: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise PdnError(
                    f"{self.path}: unreadable step records ({error})",
                    hint="delete the file: the next run then does every step again",
                ) from None
            if not isinstance(loaded, dict):
                raise PdnError(f"{self.path}: step records are not a JSON object", hint="delete the file")
            self._data = {str(k): v for k, v in loaded.items() if isinstance(v, dict)}

    def get(self, key: str) -> Record | None:
        entry = self._data.get(key)
        if not entry or not isinstance(entry.get("digest"), str):
            return None
        try:
            at = datetime.fromisoformat(str(entry["at"]))
        except (KeyError, ValueError):
            return None
        return Record(entry["digest"], at, dict(entry.get("extra") or {}))

    def matches(self, key: str, digest: str) -> Record | None:
        """The record of ``key`` when it was made with ``digest``, else ``None``."""
        record = self.get(key)
        return record if record is not None and record.digest == digest else None

    def put(self, key: str, digest: str, **extra: Any) -> None:
        self._data[key] = {"digest": digest, "at": datetime.now(UTC).isoformat(), "extra": extra}
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(self._data, indent=1, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
