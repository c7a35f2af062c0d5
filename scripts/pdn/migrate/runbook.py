"""``pdn migrate runbook``: one Markdown cutover runbook per wave, from a Jinja2 template.

The template is ours; every value that comes from the inventory or a stage output is escaped
with :func:`pdn.markdown.text` before it reaches the template (Markdown has no autoescape), so
a name holding ``|``, HTML, a link or a line break shows as its characters. App ids also appear
raw inside commands: the inventory only accepts them as identifiers (:mod:`pdn.naming`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from pdn import naming, paths
from pdn.errors import InputError
from pdn.markdown import text
from pdn.migrate.schema import App
from pdn.migrate.smoke import read_evidence
from pdn.migrate.workspace import RUNBOOKS, atomic_write, inside


@lru_cache(maxsize=4)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(paths.repo_root() / "templates" / "migrate")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _command_id(app_id: str) -> str:
    """An app id as it appears in a command: only identifiers (the inventory accepts no other)."""
    if not naming.is_identifier(app_id):
        raise InputError(f"app_id {app_id!r}: {naming.IDENTIFIER_RULE}")
    return app_id


def _evidence_line(found: Mapping[str, Any] | None) -> str | None:
    """What the smoke check of an app saw, as one escaped line (None: not checked yet)."""
    if found is None:
        return None
    verdict = "passed" if found.get("passed") else "FAILED: " + "; ".join(map(str, found.get("problems", [])))[:300]
    return text(
        f"{found.get('site')}: {found.get('namespace')}/{found.get('service')} "
        f"Ready in {found.get('ready_seconds')} s; "
        f"configuration {'as rendered' if found.get('config_ok') else 'NOT as rendered'}; "
        f"{found.get('objects')}/{found.get('expected_objects')} objects listed, "
        f"{found.get('sha256_matching')}/{found.get('sha256_checked')} SHA-256 equal to the source; {verdict}"
    )


def run(
    apps: Sequence[App],
    waves: Sequence[Mapping[str, str]],
    plan_rows: Sequence[Mapping[str, str]],
    out: Path,
    only_wave: int | None = None,
) -> list[Path]:
    by_id = {app.app_id: app for app in apps}
    evidence = read_evidence(out, (row["app_id"] for row in plan_rows))
    template = environment().get_template("runbook.md.j2")
    groups: dict[str, dict[str, Any]] = {}
    order: dict[int, list[str]] = {}
    for row in plan_rows:  # plan.csv is already in dependency order within a wave
        wave = int(row["wave"])
        group = groups.get(row["move_group"])
        if group is None:
            group = {"id": text(row["move_group"]), "site": text(row["site"]), "members": [], "joins": []}
            groups[row["move_group"]] = group
            order.setdefault(wave, []).append(row["move_group"])
        app = by_id[row["app_id"]]
        group["members"].append(
            {
                "app_id": _command_id(app.app_id),
                "app": text(app.app_id),
                "name": text(app.name),
                "agency": text(app.agency),
                "move_type": text(row["move_type"]),
                "super_app": text(row["super_app"]),
                "data_gb": text(row["data_gb"]),
                "evidence": _evidence_line(evidence.get(app.app_id)),
            }
        )
        if row["move_type"] == "joins":
            group["joins"].append(text(app.app_id))
    written: list[Path] = []
    for wave_row in waves:
        number = int(wave_row["wave"])
        if only_wave is not None and number != only_wave:
            continue
        page = template.render(
            wave={
                **{key: text(value) for key, value in wave_row.items()},
                "wave": number,
                "apps": int(wave_row["apps"]),
                "move_groups": int(wave_row["move_groups"]),
                "data_gb": float(wave_row["data_gb"]),
            },
            groups=[groups[g] for g in order.get(number, [])],
            out=str(out),
        )
        path = inside(out, RUNBOOKS, f"wave-{number:03d}.md")
        atomic_write(path, page)
        written.append(path)
    return written
