"""``pdn migrate runbook``: one Markdown cutover runbook per wave, from a Jinja2 template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from pdn import paths
from pdn.migrate.schema import App
from pdn.migrate.workspace import RUNBOOKS, atomic_write


@lru_cache(maxsize=4)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(paths.repo_root() / "templates" / "migrate")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def run(
    apps: Sequence[App],
    waves: Sequence[Mapping[str, str]],
    plan_rows: Sequence[Mapping[str, str]],
    out: Path,
    only_wave: int | None = None,
) -> list[Path]:
    by_id = {app.app_id: app for app in apps}
    template = environment().get_template("runbook.md.j2")
    groups: dict[str, dict[str, Any]] = {}
    order: dict[int, list[str]] = {}
    for row in plan_rows:  # plan.csv is already in dependency order within a wave
        wave = int(row["wave"])
        group = groups.get(row["move_group"])
        if group is None:
            group = {"id": row["move_group"], "site": row["site"], "members": [], "joins": []}
            groups[row["move_group"]] = group
            order.setdefault(wave, []).append(row["move_group"])
        app = by_id[row["app_id"]]
        group["members"].append(
            {
                "app_id": app.app_id,
                "name": _cell(app.name),
                "agency": _cell(app.agency),
                "move_type": row["move_type"],
                "super_app": row["super_app"],
                "data_gb": row["data_gb"],
            }
        )
        if row["move_type"] == "joins":
            group["joins"].append(app.app_id)
    written: list[Path] = []
    for wave_row in waves:
        number = int(wave_row["wave"])
        if only_wave is not None and number != only_wave:
            continue
        text = template.render(
            wave={
                **wave_row,
                "wave": number,
                "apps": int(wave_row["apps"]),
                "move_groups": int(wave_row["move_groups"]),
                "data_gb": float(wave_row["data_gb"]),
            },
            groups=[groups[g] for g in order.get(number, [])],
            out=str(out),
        )
        path = out / RUNBOOKS / f"wave-{number:03d}.md"
        atomic_write(path, text)
        written.append(path)
    return written
