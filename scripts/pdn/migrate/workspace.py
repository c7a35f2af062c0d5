"""The output folder of the pipeline: fixed file names, atomic writes, never touching inputs."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pdn import paths
from pdn.errors import InputError

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


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> int:
    """Write a CSV atomically; rows are sequences or mappings keyed by ``header``. Returns the count."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([row.get(column, "") for column in header] if isinstance(row, Mapping) else row)
        count += 1
    atomic_write(path, buffer.getvalue())
    return count


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False, default=str) + "\n")


def read_csv(path: Path, stage: str) -> list[dict[str, str]]:
    """Rows of a stage output; a clear error naming the stage to run when it is missing."""
    if not path.is_file():
        raise InputError(f"{path} does not exist", hint=f"run `pdn migrate {stage}` first (same --out)")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


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


def bucket_name(app_id: str) -> str:
    """The target bucket of an app's data (``mig-<slug>``). Here and not in ``render`` so that
    ``copy`` and ``verify`` do not import the template engine to name a bucket."""
    from pdn.sites.model import slug

    return f"mig-{slug(app_id)}"[:63]
