"""A volume's files as one comparable digest, and random seed data to put in it (stdlib only).

The restore drill proves a restored volume holds the same files as the one backed up: both sides'
pods run ``python3 -m pdn.backup.volfiles manifest --dir /data`` (or the stand-in answers
``GET /volume``), and the two digests must be equal. :func:`manifest` walks the volume without
following a symbolic link anywhere (directories are opened relative to their parent's descriptor
with ``O_NOFOLLOW``, so a link swapped in mid-walk is not followed either, and the walk never
leaves the root); a link is recorded with its target text, a regular file with its size and
SHA-256, a FIFO, socket or device with its kind only (never opened). Names are bytes: one that is
not UTF-8 still hashes exactly, and shows with backslash escapes in ``entries``.

The digest is the SHA-256 of one line per entry, sorted by path bytes:
``path\\0size\\0sha256\\n`` for a file, ``path\\0link\\0sha256(target)\\n`` for a link and
``path\\0<kind>\\0\\n`` for the rest. A path holds no NUL and the other fields have a fixed
alphabet, so the lines parse back one way only: equal digests mean the same paths, sizes and
contents. What the stand-in and Velero add is left out, at the volume's root only: the stand-in's
start marker and its temporary files, Velero's restore bookkeeping (``.velero/``) and
``lost+found``.

:func:`seed` fills a volume with random files (``os.urandom``, so an app that lost its data and
re-seeded never compares equal to its backup), idempotently for one run id: a re-run after a crash
completes the missing files and keeps the complete ones.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fnmatch
import hashlib
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

#: Names left out of a manifest when they sit at the volume's root (shell patterns).
EXCLUDED = (".pdn-standin.json", ".pdn-standin-*", ".velero", "lost+found")
CHUNK = 1 << 20
LIMIT = 300  # entries listed by default
SEED_ROOT = "drill"
PER_FOLDER = 100  # seeded files per sub-folder
MAX_FILES = 100_000
MAX_BYTES = 64 << 30
RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
STAMP = ".complete"
INTENT = ".seed.json"
TEMP_PREFIX = ".partial-"
PROGRESS_SECONDS = 10.0

_KINDS = {
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char-device",
    stat.S_IFBLK: "block-device",
}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class VolumeError(Exception):
    """The volume cannot be read (or written): one line naming the path."""


def _shown(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace")


def _problem(what: str, path: bytes, error: OSError) -> VolumeError:
    return VolumeError(f"{what} {_shown(path) or '.'}: {error.strerror or type(error).__name__}")


def _sha256_of(fd: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    while True:
        got = os.readv(fd, [buffer])
        if not got:
            return size, digest.hexdigest()
        digest.update(view[:got])
        size += got


def _excluded(name: bytes, patterns: Sequence[str]) -> bool:
    text = os.fsdecode(name)
    return any(fnmatch.fnmatchcase(text, pattern) for pattern in patterns)


def _records(root: Path, exclude: Sequence[str]) -> Iterator[tuple[bytes, dict[str, Any], bytes]]:
    """(path, entry, digest line) of everything under ``root``, in no particular order."""
    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise _problem("cannot open the volume", os.fsencode(root), error) from None
    # Depth-first, one open descriptor per level: (descriptor, its path, sub-folders still to walk).
    stack: list[tuple[int, bytes, list[bytes]]] = [(top, b"", [])]
    fresh = True  # the folder on top of the stack is not listed yet
    try:
        while stack:
            fd, prefix, subdirs = stack[-1]
            if fresh:
                fresh = False
                yield from _listed(fd, prefix, subdirs, exclude if not prefix else ())
                subdirs.reverse()
            if not subdirs:
                stack.pop()
                os.close(fd)
                continue
            name = subdirs.pop()
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as error:
                if error.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):  # gone, or now a link or a file
                    continue
                raise _problem("cannot open", prefix + name, error) from None
            stack.append((child, prefix + name + b"/", []))
            fresh = True
    finally:
        for fd, _prefix, _subdirs in stack:
            os.close(fd)


def _listed(
    fd: int, prefix: bytes, subdirs: list[bytes], exclude: Sequence[str]
) -> Iterator[tuple[bytes, dict[str, Any], bytes]]:
    """The records of one folder's files, links and others; its sub-folders' names go to ``subdirs``."""
    try:
        names = sorted(os.listdir(fd))
    except OSError as error:
        raise _problem("cannot list", prefix, error) from None
    for raw in names:
        name = os.fsencode(raw)
        if exclude and _excluded(name, exclude):
            continue
        path = prefix + name
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                subdirs.append(name)
            elif stat.S_ISLNK(info.st_mode):
                target = os.readlink(name, dir_fd=fd)
                line = path + b"\0link\0" + hashlib.sha256(target).hexdigest().encode() + b"\n"
                yield path, {"path": _shown(path), "link": _shown(target)}, line
            elif stat.S_ISREG(info.st_mode):
                record = _file_record(fd, name, path)
                if record is not None:
                    yield record
            else:
                kind = _KINDS.get(stat.S_IFMT(info.st_mode), "other")
                yield path, {"path": _shown(path), "type": kind}, path + b"\0" + kind.encode() + b"\0\n"
        except FileNotFoundError:
            continue  # gone since the listing
        except OSError as error:
            raise _problem("cannot read", path, error) from None


def _file_record(dir_fd: int, name: bytes, path: bytes) -> tuple[bytes, dict[str, Any], bytes] | None:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:  # became a link since the stat: not followed
            return None
        raise _problem("cannot open", path, error) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        size, sha = _sha256_of(fd)
    except OSError as error:
        raise _problem("cannot read", path, error) from None
    finally:
        os.close(fd)
    return path, {"path": _shown(path), "size": size, "sha256": sha}, b"%s\0%d\0%s\n" % (path, size, sha.encode())


def manifest(root: Path, exclude: Sequence[str] = EXCLUDED, limit: int = LIMIT) -> dict[str, Any]:
    """Every file under ``root`` (see the module's docstring): counts, digest, first ``limit`` entries.

    ``{"files", "bytes", "links", "others", "digest", "entries", "truncated"}``; ``files`` and
    ``bytes`` count regular files, ``links`` symbolic links, ``others`` FIFOs, sockets and devices;
    ``entries`` are ``{"path", "size", "sha256"}`` for a file, ``{"path", "link"}`` for a link and
    ``{"path", "type"}`` otherwise, in path order."""
    if limit < 0:
        raise ValueError("limit must be 0 or more")
    records = sorted(_records(root, exclude), key=lambda record: record[0])
    digest = hashlib.sha256()
    files = total = links = others = 0
    for _path, entry, line in records:
        digest.update(line)
        if "sha256" in entry:
            files += 1
            total += entry["size"]
        elif "link" in entry:
            links += 1
        else:
            others += 1
    return {
        "files": files,
        "bytes": total,
        "links": links,
        "others": others,
        "digest": digest.hexdigest(),
        "entries": [entry for _path, entry, _line in records[:limit]],
        "truncated": len(records) > limit,
    }


def fitted(result: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """``result`` with as many of its first entries as keep its JSON within ``max_bytes``."""
    entries = list(result["entries"])
    sizes = [len(json.dumps(entry, ensure_ascii=True)) + 2 for entry in entries]
    room = max_bytes - len(json.dumps({**result, "entries": [], "truncated": True}, ensure_ascii=True))
    kept = 0
    while kept < len(entries) and sizes[kept] <= room:
        room -= sizes[kept]
        kept += 1
    if kept == len(entries):
        return result
    return {**result, "entries": entries[:kept], "truncated": True}


def _sizes(files: int, total_bytes: int) -> list[int]:
    base, extra = divmod(total_bytes, files)
    return [base + 1 if index < extra else base for index in range(files)]


def seed_path(run_id: str, index: int) -> str:
    """Where file ``index`` of a run goes, relative to the volume's root."""
    return f"{SEED_ROOT}/{run_id}/{index // PER_FOLDER:03d}/file-{index:06d}.bin"


def _validate(files: object, total_bytes: object, run_id: object) -> None:
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"run id {run_id!r}: 1 to 40 lowercase letters, digits and dashes, starting with a letter or digit"
        )
    if not isinstance(files, int) or isinstance(files, bool) or not 1 <= files <= MAX_FILES:
        raise ValueError(f"files {files!r}: must be a whole number from 1 to {MAX_FILES}")
    if not isinstance(total_bytes, int) or isinstance(total_bytes, bool) or not files <= total_bytes <= MAX_BYTES:
        raise ValueError(
            f"bytes {total_bytes!r}: must be a whole number from {files} (1 per file) to {MAX_BYTES} (64 GiB)"
        )


def _write_random(folder: Path, name: str, size: int) -> None:
    """``size`` random bytes to ``folder/name``, through a temporary name and a rename."""
    temp = folder / f"{TEMP_PREFIX}{name}"
    with open(temp, "wb", buffering=0) as handle:
        left = size
        while left:
            step = min(left, CHUNK)
            handle.write(os.urandom(step))
            left -= step
    os.replace(temp, folder / name)


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY if directory else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _folder(path: Path) -> None:
    """Create ``path`` (one level) unless it is there; a link or a file in its place is refused, so
    every write stays under the volume's root."""
    with contextlib.suppress(FileExistsError):
        path.mkdir()
    if path.is_symlink() or not path.is_dir():
        raise VolumeError(f"{path} is not a folder (a link or a file is in the way)")


def _clear_partials(folder: Path) -> None:
    for leftover in folder.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink()


def _intent(run: Path, wanted: dict[str, Any]) -> None:
    """Record the run's parameters, or check them against the record of an earlier attempt."""
    intent = run / INTENT
    if not intent.exists():
        _write_atomic(intent, json.dumps(wanted))
        return
    try:
        earlier = json.loads(intent.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise VolumeError(f"{intent} is not a seed record") from None
    if earlier != wanted:
        shown = f"{earlier.get('files')} files and {earlier.get('bytes')} bytes" if isinstance(earlier, dict) else "?"
        raise ValueError(f"run {run.name} was seeded with {shown}: use another run id")


def seed(
    root: Path,
    files: int,
    total_bytes: int,
    run_id: str,
    progress: Callable[[int, int, int], None] | None = None,
    limit: int = LIMIT,
) -> dict[str, Any]:
    """Write ``files`` random files summing to ``total_bytes`` under ``drill/<run_id>/`` and return
    :func:`manifest` of ``root`` with a ``seed`` summary (``run_id``, ``files``, ``bytes``,
    ``folder``, ``written``, ``kept``). ``progress(files done, files, bytes done)`` follows each file.

    The run's parameters go first into ``drill/<run_id>/.seed.json`` and a ``.complete`` stamp
    comes last, after every file and folder is fsynced: a complete run is not touched again; an
    interrupted one keeps its files that are at their expected size and writes the rest; another
    size or count under the same run id is refused."""
    _validate(files, total_bytes, run_id)
    if root.is_symlink() or not root.is_dir():
        raise VolumeError(f"{root} is not a folder")
    wanted = {"run_id": run_id, "files": files, "bytes": total_bytes}
    run = root / SEED_ROOT / run_id
    written = kept = 0
    try:
        _folder(run.parent)
        _folder(run)
        _clear_partials(run)
        _intent(run, wanted)
        if (run / STAMP).is_file():
            kept = files
        else:
            done_bytes = 0
            for index, size in enumerate(_sizes(files, total_bytes)):
                path = root / seed_path(run_id, index)
                if index % PER_FOLDER == 0:
                    _folder(path.parent)
                    _clear_partials(path.parent)
                info = path.lstat() if path.exists() or path.is_symlink() else None
                if info is not None and stat.S_ISREG(info.st_mode) and info.st_size == size:
                    kept += 1
                elif info is not None and stat.S_ISDIR(info.st_mode):
                    raise VolumeError(f"{path} is a folder, in the way of a seeded file")
                else:
                    _write_random(path.parent, path.name, size)  # replaces a link, never follows it
                    written += 1
                done_bytes += size
                if progress is not None:
                    progress(index + 1, files, done_bytes)
            for index in range(files):
                _fsync(root / seed_path(run_id, index))
            for number in range((files + PER_FOLDER - 1) // PER_FOLDER):
                _fsync(run / f"{number:03d}", directory=True)
            _fsync(run, directory=True)
            _write_atomic(run / STAMP, json.dumps(wanted))
            _fsync(run / STAMP)
            for folder in (run, run.parent, root):
                _fsync(folder, directory=True)
    except OSError as error:
        raise VolumeError(f"seeding {run}: {error.strerror or type(error).__name__}") from None
    summary = {**wanted, "folder": f"{SEED_ROOT}/{run_id}", "written": written, "kept": kept}
    return {**manifest(root, limit=limit), "seed": summary}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python3 -m pdn.backup.volfiles", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    seeding = commands.add_parser("seed", help="write random files under DIR/drill/RUN_ID and print the manifest")
    seeding.add_argument("--dir", type=Path, required=True)
    seeding.add_argument("--files", type=_count, required=True)
    seeding.add_argument("--bytes", type=_count, required=True)
    seeding.add_argument("--run-id", required=True)
    listing = commands.add_parser("manifest", help="print the manifest of DIR")
    listing.add_argument("--dir", type=Path, required=True)
    listing.add_argument("--limit", type=_count, default=LIMIT)
    return parser


def _progress(seconds: float = PROGRESS_SECONDS) -> Callable[[int, int, int], None]:
    last = [time.monotonic()]

    def report(done: int, files: int, done_bytes: int) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds or done == files:
            last[0] = now
            sys.stderr.write(f"seeded {done}/{files} files, {done_bytes} bytes\n")
            sys.stderr.flush()

    return report


def main(argv: Sequence[str] | None = None) -> int:
    """One JSON document on stdout; bad arguments: exit 2, an unreadable volume: exit 1."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "seed":
            result = seed(args.dir, args.files, args.bytes, args.run_id, progress=_progress())
        else:
            result = manifest(args.dir, limit=args.limit)
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
    except VolumeError as error:
        parser.exit(1, f"{parser.prog}: {error}\n")
    sys.stdout.write(json.dumps(result, ensure_ascii=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
