"""Which lab site runs the Cluster API managers, and whose Cluster they reconcile.

Written by ``pdn lab capi up``, read by ``status``/``down``, ``pdn lab down`` and the lab
stacks (:func:`pdn.stacks.workspace.capi_overrides`); standard library only, so that reading it
costs nothing where no management plane was ever set up.
"""

from __future__ import annotations

import json
from pathlib import Path

from pdn import paths


def capi_dir() -> Path:
    return paths.lab_dir() / "capi"


def state_file() -> Path:
    return capi_dir() / "management.json"


def _state() -> dict[str, str]:
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def management_site() -> str | None:
    """The lab site whose cluster runs the managers (``None`` when they are not set up)."""
    return _state().get("site")


def workload_site() -> str | None:
    """The site whose Cluster the managers reconcile: they watch its namespace only."""
    return _state().get("workload")


def record(site_id: str, workload: str) -> None:
    capi_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps({"site": site_id, "workload": workload}) + "\n", encoding="utf-8")
    tmp.replace(state_file())


def forget() -> None:
    state_file().unlink(missing_ok=True)
