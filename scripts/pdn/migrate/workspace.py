"""The output folder of the pipeline: fixed file names, atomic writes, never touching inputs.

Every write goes through :func:`atomic_write` (temp file + rename, so readers never see half a
file) at a path made with :func:`inside` (resolved and checked against the output folder, so no
name taken from an inventory can lead a write out of it). Failures to write (the output is a
file, a folder is not writable, the disk is full) are one :class:`InputError` naming the path.
CSV cells that a spreadsheet would run as a formula are neutralised on the way out
(:func:`csv_cell`) and restored by :func:`read_csv`.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pdn import paths
from pdn.errors import InputError
from pdn.safeload import shown

# Stage outputs, relative to the output folder.
VALIDATION = "validation.json"
PROBLEMS = "problems.csv"
ASSESSMENT = "assessment.csv"
CLUSTERS = "clusters.csv"
CONSOLIDATION = "consolidation.csv"
CATALOG_USED = "superapps.yaml"
WAVES = "waves.csv"
PLAN = "plan.json"
PLAN_APPS = "plan.csv"
CHART = "waves.png"
RUNBOOKS = "runbooks"
MANIFESTS = "manifests"
COPY_LEDGERS = "copy"


def default_out() -> Path:
    return paths.out_dir() / "migrate"


def default_inventory() -> Path:
    return paths.out_dir() / "migrate" / "inventory"


def inside(root: Path, *parts: str) -> Path:
    """``root/part/...``, refused unless it resolves to a path inside ``root`` (no ``..``, no
    absolute part, no symlink out of the folder)."""
    base = root.resolve()
    target = base.joinpath(*parts).resolve()
    if target == base or not target.is_relative_to(base):
        raise InputError(f"refusing to write {shown(target)}: it is outside the output folder {shown(base)}")
    return target


def _write_problem(path: Path, error: OSError) -> InputError:
    reasons = {
        errno.ENOTDIR: "a parent of it is a file, not a folder",
        errno.EEXIST: "a parent of it is a file, not a folder",
        errno.EISDIR: "it is a folder",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.ENAMETOOLONG: "the name is too long",
    }
    reason = reasons.get(error.errno or 0, error.strerror or type(error).__name__)
    return InputError(f"cannot write {shown(path)}: {reason}", hint="choose another --out")


def output_folder(path: Path) -> Path:
    """``path`` as a folder to write into (created with its parents), or one clear error."""
    if path.exists() and not path.is_dir():
        raise InputError(f"output folder {shown(path)} is a file, not a folder", hint="choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _write_problem(path, error) from None
    if not path.is_dir():
        raise InputError(f"output folder {shown(path)} is a file, not a folder", hint="choose another --out")
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {shown(path)}: permission denied", hint="choose another --out")
    return path


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename: readers never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise _write_problem(path, error) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _write_problem(path, error) from None
        raise


# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_START = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def csv_cell(value: Any) -> Any:
    """``value`` safe to open in a spreadsheet: text starting with ``= + - @``, a tab or a carriage
    return gets a leading apostrophe (the spreadsheet text marker); so does text that already
    starts with one, which keeps the mapping reversible (:func:`csv_value`). Numbers and a lone
    sign (``-`` for "none") pass."""
    if not isinstance(value, str) or not value:
        return value
    first = value[0]
    if first == "'" or (first in FORMULA_START and len(value) > 1 and not _NUMBER.fullmatch(value)):
        return "'" + value
    return value


def csv_value(cell: str) -> str:
    """The value :func:`csv_cell` wrote as ``cell``."""
    if len(cell) > 1 and cell[0] == "'" and (cell[1] == "'" or cell[1] in FORMULA_START):
        return cell[1:]
    return cell


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> int:
    """Write a CSV atomically; rows are sequences or mappings keyed by ``header``. Returns the count.

    This is the one CSV writer of the toolkit: every cell passes :func:`csv_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(column) for column in header])
    count = 0
    for row in rows:
        cells = [row.get(column, "") for column in header] if isinstance(row, Mapping) else row
        writer.writerow([csv_cell(cell) for cell in cells])
        count += 1
    atomic_write(path, buffer.getvalue())
    return count


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False, default=str) + "\n")


def read_csv(path: Path, stage: str) -> list[dict[str, str]]:
    """Rows of a stage output (cells restored by :func:`csv_value`); a clear error naming the
    stage to run when it is missing."""
    from pdn import safeload

    if not path.is_file():
        raise InputError(f"{shown(path)} does not exist", hint=f"run `pdn migrate {stage}` first (same --out)")
    text = safeload.read_text(path, safeload.DATA_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    return [{column: csv_value(cell) for column, cell in zip(header, row, strict=False)} for row in reader if row]


def guard_output(out: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output folder that would overwrite an input file."""
    out = out.resolve()
    for item in inputs:
        item = item.resolve()
        if item.parent == out and item.name in {
            VALIDATION,
            PROBLEMS,
            ASSESSMENT,
            CLUSTERS,
            CONSOLIDATION,
            WAVES,
            PLAN,
            PLAN_APPS,
            CHART,
        }:
            raise InputError(f"output folder {out} would overwrite input {item}", hint="choose another --out")
