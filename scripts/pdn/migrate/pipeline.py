"""The migration pipeline in one process: validate -> assess -> dedup -> consolidate -> plan.

``pdn migrate run`` (and through it ``pdn up``'s plan step), the benchmarks and the tests all
call :func:`run`; each stage reads what the stage before wrote into the output folder, exactly
as the one-stage commands do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdn.errors import InputError
from pdn.migrate import workspace as ws

if TYPE_CHECKING:
    from pdn.migrate.inventory import Inventory
    from pdn.migrate.plan import Options
    from pdn.sites.model import SiteModel

STAGES = ("validate", "assess", "dedup", "consolidate", "plan")
Stage = Callable[[str], AbstractContextManager[object]]


def load(inventory: Path, datacenters: Path | None, out: Path) -> Inventory:
    """The validated inventory (every stage starts here: nothing runs on an invalid one)."""
    from pdn.migrate import inventory as inv

    if not inventory.exists():
        raise InputError(f"inventory {inventory} does not exist", hint="run `pdn migrate generate` or pass --inventory")
    loaded = inv.load(inventory, datacenters)
    ws.guard_output(out, [loaded.app_file, loaded.dc_file])
    return loaded


def index(rows: Iterable[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Rows of a stage's CSV by ``app_id``."""
    return {row["app_id"]: row for row in rows}


def run(
    inventory: Path,
    out: Path,
    *,
    datacenters: Path | None = None,
    as_of: dt.date | None = None,
    options: Options | None = None,
    blackouts: Path | None = None,
    chart: bool = True,
    sites: SiteModel | None = None,
    stage: Stage = lambda _name: nullcontext(),
) -> dict[str, Any]:
    """Run every stage into ``out``; returns the plan's result (summary, site load, waves).

    ``stage(name)`` wraps each stage (the CLI shows a spinner and the time taken).
    """
    from pdn.migrate import assess, consolidate, dedup, plan
    from pdn.sites import load_sites

    model = sites or load_sites()
    with stage("validate"):
        loaded = load(inventory, datacenters, out)
        ws.write_csv(out / ws.PROBLEMS, ["file", "line", "field", "message"], [])
        ws.write_json(
            out / ws.VALIDATION, {"valid": True, "apps": len(loaded.apps), "datacenters": len(loaded.datacenters)}
        )
    with stage("assess"):
        assess.run(loaded.apps, out, as_of or dt.date.today())
    with stage("dedup"):
        dedup.run(loaded.apps, out)
    assessment = index(ws.read_csv(out / ws.ASSESSMENT, "assess"))
    with stage("consolidate"):
        consolidate.run(loaded.apps, index(ws.read_csv(out / ws.CLUSTERS, "dedup")), assessment, out, model)
    with stage("plan"):
        result: dict[str, Any] = plan.run(
            loaded.apps,
            index(ws.read_csv(out / ws.CONSOLIDATION, "consolidate")),
            assessment,
            model,
            out,
            options or plan.Options(),
            blackouts,
            chart,
        )
    return result
