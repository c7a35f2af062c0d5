"""Helpers of the hostile-input suite (see conftest.py): run the CLI, edit CSV inventories, watch the tree."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

AS_OF = "2026-11-01"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def pdn_process(*args: str | bytes | Path, cwd: Path | None = None, timeout: float = 60) -> Outcome:
    """``.venv/bin/pdn ARGS`` as a user runs it (UTF-8 terminal, no debug tracebacks)."""
    binary = Path(sys.executable).with_name("pdn")
    env = {k: v for k, v in os.environ.items() if k != "PDN_DEBUG"} | {"COLUMNS": "250", "LC_ALL": "C.UTF-8"}
    done = subprocess.run(
        [os.fsencode(binary), *(os.fsencode(arg) if not isinstance(arg, bytes) else arg for arg in args)],
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )
    return Outcome(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def set_cell(path: Path, app_id: str, column: str, value: str) -> int:
    """Set ``column`` of the row of ``app_id`` (also renaming it in ``depends_on`` when the column
    is ``app_id``); returns the row's physical line (no multi-line cells before it)."""
    header, rows = read_rows(path)
    line = 0
    for index, row in enumerate(rows):
        if row[header.index("app_id")] == app_id:
            row[header.index(column)] = value
            line = index + 2
        elif column == "app_id":
            deps = row[header.index("depends_on")].split(";")
            row[header.index("depends_on")] = ";".join(value if dep == app_id else dep for dep in deps)
    assert line, f"{app_id} not in {path}"
    write_rows(path, header, rows)
    return line


def tree(root: Path) -> set[Path]:
    """Every path under ``root`` (files, folders, links), relative to it."""
    return {path.relative_to(root) for path in root.rglob("*")}


def written_outside(root: Path, out: Path, before: set[Path]) -> set[Path]:
    """What appeared under ``root`` since ``before`` that is not inside ``out`` (or ``out`` and its parents)."""
    inside = out.relative_to(root)
    return {
        path for path in tree(root) - before if path not in (inside, *inside.parents) and inside not in path.parents
    }


def leftovers(out: Path) -> list[Path]:
    """Temporary files of an interrupted atomic write (``.<name>.<random>``)."""
    return [path for path in out.rglob(".*") if path.is_file() and not path.name.endswith(".lock")]
