"""Where copy reads an app's legacy data: a directory tree or an S3 bucket (``s3://bucket/prefix``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from pdn.errors import InputError
from pdn.migrate.s3 import CHUNK


@dataclass(frozen=True, slots=True)
class SourceObject:
    key: str
    size: int
    identity: str  # what tells a changed object from the copied one: mtime (files) or ETag (S3)


class Source(Protocol):
    description: str
    skipped: list[tuple[str, str]]  # (key, reason) of entries the last ``list()`` did not yield

    def list(self) -> Iterator[SourceObject]: ...

    def open(self, key: str) -> IO[bytes]: ...


class DirectorySource:
    """A directory tree; keys are POSIX relative paths; identity is mtime_ns."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InputError(f"source {root} is not a directory")
        self.root = root
        self.description = str(root)
        self.skipped: list[tuple[str, str]] = []

    def list(self) -> Iterator[SourceObject]:
        """Regular files in sorted order, each folder's files before its sub-folders (as a sorted
        top-down ``os.walk``). Symbolic links (never followed: one could lead out of the tree),
        special files, unreadable folders and names that are not UTF-8 (no S3 key can hold them)
        are not yielded but recorded in :attr:`skipped`, for copy to report and verify to count.
        ``scandir`` entries give the file type without a system call: one ``lstat`` per file."""
        self.skipped = []
        yield from self._walk(str(self.root), "")

    def _walk(self, folder: str, key_prefix: str) -> Iterator[SourceObject]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            self.skipped.append((key_prefix or "./", f"folder cannot be read: {error.strerror}"))
            return
        subfolders = []
        for entry in entries:
            key = key_prefix + entry.name
            if not _utf8(entry.name):
                shown = key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                self.skipped.append((shown, "name is not UTF-8"))
            elif entry.is_symlink():
                kind = "folder" if entry.is_dir() else "file" if entry.is_file() else "missing target"
                self.skipped.append((key, f"symbolic link ({kind}), not followed"))
            elif entry.is_dir(follow_symlinks=False):
                subfolders.append(entry)
            elif entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                yield SourceObject(key, stat.st_size, str(stat.st_mtime_ns))
            else:
                self.skipped.append((key, "special file (FIFO, socket or device)"))
        for entry in subfolders:
            yield from self._walk(entry.path, f"{key_prefix}{entry.name}/")

    def open(self, key: str) -> IO[bytes]:
        return (self.root / key).open("rb")


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the file name, kept as surrogates
        return False
    return True


class BucketSource:
    """An S3 bucket (``s3://bucket/prefix``) on the legacy store; identity is the ETag."""

    def __init__(self, s3: Any, url: str) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise InputError(f"source {url!r} must look like s3://bucket/prefix")
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        self.description = url
        self.skipped: list[tuple[str, str]] = []  # every S3 key is a valid key: nothing is left out

    def list(self) -> Iterator[SourceObject]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) :].lstrip("/")
                yield SourceObject(key, int(item["Size"]), str(item["ETag"]).strip('"'))

    def open(self, key: str) -> IO[bytes]:
        full = f"{self.prefix.rstrip('/')}/{key}" if self.prefix else key
        body: IO[bytes] = self.s3.get_object(Bucket=self.bucket, Key=full)["Body"]
        return body


def sha256_of(stream: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    total = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        total += len(chunk)
    return digest.hexdigest(), total
