"""``pdn migrate assess``: one of the 6 Rs per app, with rationale, risk, effort and readiness.

Readiness (0-100) adds up how the app runs today (container > vm > shared hosting > bare
metal), whether its stack is still supported, and how recently it was released. The action
follows from status, usage and the stack; consolidation may later replace it with
"repurchase" (join a super app).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pdn import safeload
from pdn.errors import InputError
from pdn.migrate.schema import App, Criticality, Runtime, Status
from pdn.migrate.workspace import ASSESSMENT, write_csv

HEADER = (
    "app_id",
    "action",
    "rationale",
    "risk",
    "effort",
    "effort_days",
    "readiness",
    "stack_status",
    "eol_components",
)
RUNTIME_POINTS = {Runtime.CONTAINER: 40, Runtime.VM: 30, Runtime.SHARED_HOSTING: 20, Runtime.BARE_METAL: 10}
BASE_DAYS = {"rehost": 5, "replatform": 15, "refactor": 60, "repurchase": 10, "retire": 2, "retain": 1}
IDLE_USERS = 50


@dataclass(frozen=True, slots=True)
class Assessment:
    app_id: str
    action: str
    rationale: str
    risk: str
    effort: str
    effort_days: int
    readiness: int
    stack_status: str  # supported | outdated | dead | unknown
    eol_components: tuple[str, ...]


def load_eol(extra: Path | None = None) -> dict[str, dict[str, Any]]:
    text = resources.files("pdn.data").joinpath("migrate/eol.yaml").read_text(encoding="utf-8")
    table: dict[str, dict[str, Any]] = safeload.yaml_text(text, "eol.yaml (shipped)")
    if extra is not None:
        more = safeload.load_yaml(extra) or {}
        if not isinstance(more, dict):
            raise InputError(f"{extra} must map component -> {{eol: YEAR, successor: BOOL}}")
        table.update({str(k).lower(): v for k, v in more.items()})
    return table


def stack_status(stack: Sequence[str], eol: dict[str, dict[str, Any]], year: int) -> tuple[str, tuple[str, ...]]:
    known = [component for component in stack if component in eol]
    if not known:
        return "unknown", ()
    expired = tuple(c for c in known if int(eol[c]["eol"]) < year)
    if any(not eol[c].get("successor", True) for c in expired):
        return "dead", expired
    return ("outdated" if expired else "supported"), expired


def assess_app(app: App, eol: dict[str, dict[str, Any]], today: dt.date) -> Assessment:
    status, expired = stack_status(app.tech_stack, eol, today.year)
    age_years = (today - app.last_release).days / 365.25
    readiness = RUNTIME_POINTS[app.runtime]
    readiness += {"supported": 40, "outdated": 20, "unknown": 15, "dead": 0}[status]
    readiness += 20 if age_years <= 2 else 10 if age_years <= 5 else 0
    vital = app.criticality in (Criticality.VITAL, Criticality.HIGH)
    if app.status == Status.DECOMMISSIONED:
        action, why = "retire", "decommissioned: archive the data, do not move"
    elif app.status == Status.IDLE and app.monthly_users < IDLE_USERS:
        action, why = "retire", f"idle with {app.monthly_users} users a month"
    elif status == "dead":
        if vital:
            if app.runtime == Runtime.BARE_METAL:
                action, why = (
                    "retain",
                    f"{app.criticality} on bare metal with a dead stack ({', '.join(expired)}): keep until rewritten",
                )
            else:
                action, why = "refactor", f"{app.criticality} app on a dead stack ({', '.join(expired)}): rewrite"
        else:
            action, why = (
                "repurchase",
                f"dead stack ({', '.join(expired)}), not critical: replace with a shared product",
            )
    elif status == "outdated":
        action, why = "replatform", f"supported successors exist for {', '.join(expired)}: upgrade while moving"
    else:
        action, why = "rehost", f"{status} stack on {app.runtime}: containerise as is"
    dependencies = len(app.depends_on)
    days = BASE_DAYS[action] * (1 + math.log10(1 + app.data_gb) / 3) * (1 + 0.1 * dependencies)
    effort_days = max(1, round(days))
    effort = "S" if effort_days <= 5 else "M" if effort_days <= 20 else "L" if effort_days <= 60 else "XL"
    risk_points = {"low": 0, "medium": 1, "high": 2, "vital": 3}[app.criticality.value]
    risk_points += 2 if readiness < 40 else 1 if readiness < 70 else 0
    risk_points += 1 if app.data_gb > 1000 else 0
    risk = "low" if risk_points <= 1 else "medium" if risk_points <= 3 else "high"
    return Assessment(app.app_id, action, why, risk, effort, effort_days, readiness, status, expired)


def assess(apps: Sequence[App], eol: dict[str, dict[str, Any]], today: dt.date) -> list[Assessment]:
    return [assess_app(app, eol, today) for app in apps]


def run(apps: Sequence[App], out: Path, today: dt.date, eol_file: Path | None = None) -> dict[str, int]:
    results = assess(apps, load_eol(eol_file), today)
    write_csv(
        out / ASSESSMENT,
        HEADER,
        (
            (
                r.app_id,
                r.action,
                r.rationale,
                r.risk,
                r.effort,
                r.effort_days,
                r.readiness,
                r.stack_status,
                ";".join(r.eol_components),
            )
            for r in results
        ),
    )
    counts: dict[str, int] = {}
    for r in results:
        counts[r.action] = counts.get(r.action, 0) + 1
    return counts
