"""The shard plan of a copy Job: the source listing, sorted and cut into shards, as store objects.

The operator lists the source once; keys are sorted (code point order) and cut, in that order,
into shards of at most ``max_objects`` objects and ``max_bytes`` bytes (a shard always holds at
least one object, so one object larger than ``max_bytes`` is a shard of its own). The same
listing and options always give the same shards and the same plan id (a digest of all of it), so
a re-run of the same command finds its own Job and ledgers again.

Everything lives in the ledger bucket of the target site (:func:`pdn.naming.copy_ledger_bucket`),
under one root per target bucket and prefix (:func:`pdn.migrate.jobrun.ledger_root`)::

    <bucket>[/p-<digest of prefix>]/current.json      the plan id of the latest plan
    .../<plan id>/plan.json                           what the plan copies where, shard count
    .../<plan id>/shard-00007.json                    shard 7: its objects (key, size, identity)
    .../<plan id>/shard-00007.sqlite                  shard 7's ledger, uploaded by its pod

Shard files are JSON written by ``json.dumps``: a key holding newlines, quotes, ``../`` or any
other character stays one string. Reading one back is bounded and checks every field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pdn.errors import InputError, PdnError
from pdn.migrate.sources import SourceObject
from pdn.safeload import json_text

FORMAT = 1
MAX_SHARDS = 100_000  # an Indexed Job's completions (with backoffLimitPerIndex) may not exceed it
MAX_KEY_BYTES = 1024  # S3's limit on a key
SHARD_FILE_LIMIT = 256 * 1024 * 1024  # bytes of one shard file read back
PLAN_FILE_LIMIT = 1024 * 1024
IDENTITY = re.compile(r"[\x21-\x7e]{0,256}")  # printable ASCII: it becomes an object metadata header


def split(items: Iterable[SourceObject], max_objects: int, max_bytes: int) -> list[list[SourceObject]]:
    """Sorted by key, cut into shards of at most ``max_objects`` objects and ``max_bytes`` bytes.

    Raises :class:`InputError` for a key listed twice (it would be copied by two pods) or one that
    no target can hold, and when there would be more shards than an Indexed Job can run."""
    if max_objects < 1 or max_bytes < 1:
        raise InputError("--shard-size and --shard-bytes must be at least 1")
    ordered = sorted(items, key=lambda item: item.key)
    shards: list[list[SourceObject]] = []
    current: list[SourceObject] = []
    size = 0
    previous: str | None = None
    for item in ordered:
        if item.key == previous:
            raise InputError(
                f"the source lists the key {item.key!r} twice", hint="two source keys map to one target key"
            )
        previous = item.key
        if not item.key or len(item.key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise InputError(f"source key {item.key[:80]!r}...: empty or longer than {MAX_KEY_BYTES} bytes")
        if not IDENTITY.fullmatch(item.identity):
            raise InputError(f"source key {item.key[:80]!r}: its ETag {item.identity[:80]!r} is not printable ASCII")
        if current and (len(current) >= max_objects or size + item.size > max_bytes):
            shards.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        shards.append(current)
    if len(shards) > MAX_SHARDS:
        raise InputError(
            f"{len(shards)} shards: an Indexed Job runs at most {MAX_SHARDS}",
            hint="raise --shard-size or --shard-bytes",
        )
    return shards


@dataclass(frozen=True)
class Plan:
    """What a copy Job copies: the source, the target bucket and prefix, and its shards."""

    source: str
    bucket: str
    prefix: str
    shards: list[list[SourceObject]]
    max_objects: int
    max_bytes: int
    probe: bool = False  # the target already held objects: each pod HEADs its keys before copying

    @property
    def plan_id(self) -> str:
        """Digest of everything the plan copies (not of where the store is reached from)."""
        digest = hashlib.sha256()
        head = [FORMAT, self.source, self.bucket, self.prefix, self.max_objects, self.max_bytes]
        digest.update(json.dumps(head).encode())
        for number, shard in enumerate(self.shards):
            digest.update(json.dumps([number, *_rows(shard)], ensure_ascii=True).encode())
        return digest.hexdigest()[:16]

    @property
    def objects(self) -> int:
        return sum(len(shard) for shard in self.shards)

    @property
    def bytes(self) -> int:
        return sum(item.size for shard in self.shards for item in shard)

    @property
    def largest(self) -> int:
        return max((item.size for shard in self.shards for item in shard), default=0)

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "plan": self.plan_id,
            "source": self.source,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "shards": len(self.shards),
            "objects": self.objects,
            "bytes": self.bytes,
            "max_objects": self.max_objects,
            "max_bytes": self.max_bytes,
            "probe": self.probe,
        }


def _rows(shard: Sequence[SourceObject]) -> list[list[Any]]:
    return [[item.key, item.size, item.identity] for item in shard]


def current_key(root: str) -> str:
    return f"{root}/current.json"


def plan_key(root: str, plan_id: str) -> str:
    return f"{root}/{plan_id}/plan.json"


def shard_key(root: str, plan_id: str, index: int) -> str:
    return f"{root}/{plan_id}/shard-{index:05d}.json"


def ledger_key(root: str, plan_id: str, index: int) -> str:
    return f"{root}/{plan_id}/shard-{index:05d}.sqlite"


def shard_bytes(shard: Sequence[SourceObject]) -> bytes:
    return json.dumps({"format": FORMAT, "objects": _rows(shard)}, ensure_ascii=True).encode()


def parse_shard(data: bytes, where: str) -> list[SourceObject]:
    """A shard file read back: every row checked (a wrong field fails naming the row)."""
    try:
        document = json_text(data.decode("utf-8"), where)
    except UnicodeDecodeError:
        raise PdnError(f"{where}: not UTF-8") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or not isinstance(document.get("objects"), list)
    ):
        raise PdnError(f"{where}: not a shard file of format {FORMAT}")
    items: list[SourceObject] = []
    for number, row in enumerate(document["objects"]):
        if not (
            isinstance(row, list)
            and len(row) == 3
            and isinstance(row[0], str)
            and row[0]
            and isinstance(row[1], int)
            and not isinstance(row[1], bool)
            and row[1] >= 0
            and isinstance(row[2], str)
            and IDENTITY.fullmatch(row[2])
        ):
            raise PdnError(f"{where}: objects[{number}] is not [key, size, identity]")
        items.append(SourceObject(row[0], row[1], row[2]))
    return items


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        document = json_text(data.decode("utf-8"), where)
    except UnicodeDecodeError:
        raise PdnError(f"{where}: not UTF-8") from None
    wanted = {"plan": str, "source": str, "bucket": str, "prefix": str, "shards": int, "objects": int, "bytes": int}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PdnError(f"{where}: not a copy plan of format {FORMAT}")
    for name, kind in wanted.items():
        if not isinstance(document.get(name), kind):
            raise PdnError(f"{where}: field {name} missing or not {kind.__name__}")
    return document
