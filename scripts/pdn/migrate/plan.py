"""``pdn migrate plan``: move groups, placement, ramping waves, bytes per wave, blackout dates.

* What moves: super-app bases (*becomes*), apps whose data joins a super app (*joins*), and
  standalone apps assessed rehost / replatform / refactor / repurchase. Retired and retained
  apps stay (their reason is in consolidation.csv).
* Move groups: dependency cycles are collapsed into one group (Tarjan SCC) and move together;
  a joiner depends on its super-app base, so the base always moves first or with it.
* Waves: groups are taken in dependency order, lowest criticality and risk first (pilots), into
  waves whose size ramps up (``--ramp``), with a cap on terabytes per wave. A group larger than
  a wave still moves whole, in a wave of its own: cycles are never rejected.
* Dates: one wave every ``--cadence-days`` from ``--start``; a wave falling in a blackout moves
  to the day after it.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from pdn import safeload
from pdn.errors import InputError
from pdn.migrate.graph import strongly_connected
from pdn.migrate.placement import Placer, app_vcpu
from pdn.migrate.schema import App
from pdn.migrate.workspace import PLAN, PLAN_APPS, WAVES, write_csv, write_json
from pdn.sites.model import SiteModel

MOVING_ACTIONS = {"rehost", "replatform", "refactor", "repurchase"}
CRIT = {"low": 0, "medium": 1, "high": 2, "vital": 3}
RISK = {"low": 0, "medium": 1, "high": 2}
# A joining app brings its users, not its servers: it adds a quarter of its own need to the super app.
JOIN_SHARE = 0.25
APP_HEADER = (
    "app_id",
    "wave",
    "date",
    "move_group",
    "group_size",
    "site",
    "move_type",
    "super_app",
    "data_gb",
    "vcpu",
    "placement",
)
WAVE_HEADER = ("wave", "date", "apps", "move_groups", "data_gb", "largest_group", "sites")


class Blackout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: dt.date
    end: dt.date
    reason: str


class Blackouts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    blackouts: list[Blackout]


@dataclass
class Options:
    start: dt.date = dt.date(2027, 1, 11)
    cadence_days: int = 14
    ramp: tuple[int, ...] = (25, 50, 100, 250, 500, 1000, 2000)
    max_wave_tb: float = 150.0
    overcommit: float = 16.0


@dataclass
class Group:
    id: str
    members: list[str]
    site: str = ""
    placement: str = ""
    data_gb: float = 0.0
    vcpu: float = 0.0
    depends: set[str] = field(default_factory=set)
    wave: int = 0
    seq: int = 0  # position in the wave: dependencies come first


def load_blackouts(path: Path | None) -> list[Blackout]:
    try:
        if path is None:
            text = resources.files("pdn.data").joinpath("migrate/blackouts.yaml").read_text(encoding="utf-8")
            data = safeload.yaml_text(text, "blackouts.yaml (shipped)")
        else:
            data = safeload.load_yaml(path)
        parsed = Blackouts.model_validate(data)
    except ValidationError as error:
        raise InputError(f"blackout file {path or 'blackouts.yaml'} is invalid: {error}") from None
    for item in parsed.blackouts:
        if item.end < item.start:
            raise InputError(f"blackout {item.reason!r} ends ({item.end}) before it starts ({item.start})")
    return sorted(parsed.blackouts, key=lambda b: b.start)


def next_open_day(day: dt.date, blackouts: Sequence[Blackout]) -> tuple[dt.date, list[str]]:
    """``day`` or, when it falls in blackouts, the first day after them; with the reasons."""
    moved: list[str] = []
    changed = True
    while changed:
        changed = False
        for item in blackouts:
            if item.start <= day <= item.end:
                day = item.end + dt.timedelta(days=1)
                moved.append(item.reason)
                changed = True
    return day, moved


def plan(
    apps: Sequence[App],
    decisions: Mapping[str, Mapping[str, str]],
    assessment: Mapping[str, Mapping[str, str]],
    sites: SiteModel,
    options: Options,
    blackouts: Sequence[Blackout],
) -> dict[str, Any]:
    by_id = {app.app_id: app for app in apps}
    base_of = {row["super_app"]: app_id for app_id, row in decisions.items() if row["role"] == "becomes"}
    movers = [
        app.app_id
        for app in apps
        if decisions[app.app_id]["role"] in ("becomes", "joins")
        or (decisions[app.app_id]["role"] == "standalone" and decisions[app.app_id]["action"] in MOVING_ACTIONS)
    ]
    moving = set(movers)
    edges: dict[str, list[str]] = {}
    for app_id in movers:
        targets = [dep for dep in by_id[app_id].depends_on if dep in moving]
        row = decisions[app_id]
        if row["role"] == "joins" and base_of.get(row["super_app"]) in moving:
            targets.append(base_of[row["super_app"]])
        edges[app_id] = sorted(set(targets))
    components = strongly_connected(movers, edges)
    components.sort(key=lambda members: members[0])
    groups: dict[str, Group] = {}
    group_of: dict[str, str] = {}
    for number, members in enumerate(components, start=1):
        group = Group(f"MG-{number:05d}", members)
        groups[group.id] = group
        for member in members:
            group_of[member] = group.id
    for group in groups.values():
        for member in group.members:
            group.depends |= {group_of[target] for target in edges[member]}
        group.depends.discard(group.id)
        group.data_gb = sum(by_id[m].data_gb for m in group.members)
        group.vcpu = sum(
            app_vcpu(by_id[m]) * (JOIN_SHARE if decisions[m]["role"] == "joins" else 1.0) for m in group.members
        )
    # Placement: pinned groups (super apps) first, then the rest, vital and large first.
    placer = Placer(sites, options.overcommit)

    def severity(group: Group) -> int:
        return max(CRIT[by_id[m].criticality.value] for m in group.members)

    for group in groups.values():
        pinned = next((decisions[m]["site"] for m in group.members if decisions[m]["site"]), "")
        if pinned:
            group.site = pinned
            group.placement = f"super app {decisions[group.members[0]]['super_app'] or 'member'} is hosted at {pinned}"
            placer.charge(pinned, group.vcpu, len(group.members))
    for group in sorted(groups.values(), key=lambda g: (-severity(g), -g.vcpu, g.id)):
        if not group.site:
            group.site, group.placement = placer.place([by_id[m] for m in group.members], group.vcpu)
    # Waves: Kahn's algorithm over the group DAG; pilots (low criticality, low risk) first.
    dependants: dict[str, list[str]] = {gid: [] for gid in groups}
    waiting = {gid: len(group.depends) for gid, group in groups.items()}
    for gid, group in groups.items():
        for dep in group.depends:
            dependants[dep].append(gid)

    def priority(group: Group) -> tuple[Any, ...]:
        risk = max(RISK.get(assessment[m]["risk"], 1) for m in group.members)
        return (severity(group), risk, group.data_gb, group.id)

    ready = [(priority(groups[gid]), gid) for gid, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    waves: list[list[str]] = []
    current: list[str] = []
    count = 0
    gb = 0.0
    released: list[str] = []
    while ready or released:
        if not ready:
            for gid in released:
                heapq.heappush(ready, (priority(groups[gid]), gid))
            released = []
        _, gid = heapq.heappop(ready)
        group = groups[gid]
        cap = options.ramp[min(len(waves), len(options.ramp) - 1)]
        size = len(group.members)
        if current and (count + size > cap or (gb + group.data_gb) / 1000 > options.max_wave_tb):
            waves.append(current)
            current, count, gb = [], 0, 0.0
            for later in released:  # groups unlocked by the closed wave may now join the next one
                heapq.heappush(ready, (priority(groups[later]), later))
            released = []
        current.append(gid)
        count += size
        gb += group.data_gb
        group.wave = len(waves) + 1
        group.seq = len(current)
        for child in dependants[gid]:
            waiting[child] -= 1
            if waiting[child] == 0:
                released.append(child)  # same wave allowed only after its dependency: next loop
        if not ready and released:
            for later in released:
                heapq.heappush(ready, (priority(groups[later]), later))
            released = []
    if current:
        waves.append(current)
    # Dates
    wave_rows: list[dict[str, Any]] = []
    day = options.start
    for number, gids in enumerate(waves, start=1):
        day, reasons = next_open_day(day, blackouts)
        members = [m for gid in gids for m in groups[gid].members]
        per_site: dict[str, int] = {}
        for gid in gids:
            per_site[groups[gid].site] = per_site.get(groups[gid].site, 0) + len(groups[gid].members)
        wave_rows.append(
            {
                "wave": number,
                "date": day.isoformat(),
                "apps": len(members),
                "move_groups": len(gids),
                "data_gb": round(sum(groups[g].data_gb for g in gids), 2),
                "largest_group": max(len(groups[g].members) for g in gids),
                "sites": ";".join(f"{site}={n}" for site, n in sorted(per_site.items())),
                "moved_for": "; ".join(reasons),
            }
        )
        day = day + dt.timedelta(days=options.cadence_days)
    date_of = {row["wave"]: row["date"] for row in wave_rows}
    app_rows: list[dict[str, Any]] = []
    for group in sorted(groups.values(), key=lambda g: (g.wave, g.seq)):
        for member in group.members:
            row = decisions[member]
            move_type = row["role"] if row["role"] in ("becomes", "joins") else row["action"]
            app_rows.append(
                {
                    "app_id": member,
                    "wave": group.wave,
                    "date": date_of[group.wave],
                    "move_group": group.id,
                    "group_size": len(group.members),
                    "site": group.site,
                    "move_type": move_type,
                    "super_app": row["super_app"],
                    "data_gb": by_id[member].data_gb,
                    "vcpu": round(app_vcpu(by_id[member]) * (JOIN_SHARE if row["role"] == "joins" else 1.0), 3),
                    "placement": group.placement,
                }
            )
    site_load = {
        sid: {
            "capacity_vcpu": round(load.capacity, 1),
            "used_vcpu": round(load.used, 1),
            "apps": load.apps,
            "utilisation": round(load.used / load.capacity, 3) if load.capacity else None,
        }
        for sid, load in placer.loads.items()
    }
    cycles = [g for g in groups.values() if len(g.members) > 1]
    return {
        "summary": {
            "apps": len(apps),
            "moving": len(movers),
            "staying": len(apps) - len(movers),
            "move_groups": len(groups),
            "cyclic_groups": len(cycles),
            "largest_group": max((len(g.members) for g in groups.values()), default=0),
            "waves": len(waves),
            "data_tb": round(sum(g.data_gb for g in groups.values()) / 1000, 2),
            "first_wave": wave_rows[0]["date"] if wave_rows else None,
            "last_wave": wave_rows[-1]["date"] if wave_rows else None,
            "over_capacity_groups": sum(1 for g in groups.values() if "OVER CAPACITY" in g.placement),
        },
        "options": {
            "start": options.start.isoformat(),
            "cadence_days": options.cadence_days,
            "ramp": list(options.ramp),
            "max_wave_tb": options.max_wave_tb,
            "overcommit": options.overcommit,
        },
        "blackouts": [b.model_dump(mode="json") for b in blackouts],
        "site_load": site_load,
        "waves": wave_rows,
        "apps": app_rows,
    }


def run(
    apps: Sequence[App],
    decisions: Mapping[str, Mapping[str, str]],
    assessment: Mapping[str, Mapping[str, str]],
    sites: SiteModel,
    out: Path,
    options: Options,
    blackouts_file: Path | None = None,
    chart: bool = True,
) -> dict[str, Any]:
    missing = [app.app_id for app in apps if app.app_id not in decisions or app.app_id not in assessment]
    if missing:
        raise InputError(
            f"{len(missing)} apps (e.g. {missing[0]}) have no consolidation decision or assessment",
            hint="re-run `pdn migrate assess` and `pdn migrate consolidate` on this inventory",
        )
    result = plan(apps, decisions, assessment, sites, options, load_blackouts(blackouts_file))
    write_csv(out / PLAN_APPS, APP_HEADER, result["apps"])
    write_csv(out / WAVES, (*WAVE_HEADER, "moved_for"), result["waves"])
    write_json(out / PLAN, {key: value for key, value in result.items() if key != "apps"})
    if chart:
        from pdn.migrate.chart import draw

        draw(result, out)
    return result
