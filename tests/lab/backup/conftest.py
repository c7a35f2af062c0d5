"""Fixtures of the drill tests: the four stacks' backup objects and a Velero server per site.

Needs the shared ``lab`` fixture (all four sites: every site's stack writes to two partners).
The stacks are brought up only when their Velero locations are missing, and left up (the stacks
tests reuse them and destroy them at the end). For this package only, a Velero server runs per
site; afterwards the servers it started are stopped and the Velero CRDs it installed are deleted
again (with them every Backup and Restore object), so the stacks' destroy test still finds
nothing of Velero's left.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pdn.backup import kube, velero
from pdn.lab import layout

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _stacks_missing() -> list[str]:
    missing = []
    for site in layout.site_ids():
        try:
            locations = kube.velero_list(site, "backupstoragelocations")
        except Exception:
            locations = []
        if not any(item["metadata"]["name"].startswith("to-") for item in locations):
            missing.append(site)
    return missing


@pytest.fixture(scope="package")
def backup_lab(lab: Any) -> Iterator[Any]:
    """The lab with the stacks' backup policy in every site and Velero running on every site."""
    if _stacks_missing():
        from pdn.stacks import crds
        from pdn.stacks.runner import run
        from pdn.stacks.workspace import lab_workspace, stack_sites

        workspace = lab_workspace(stack_sites(), crds.fetch())
        run(workspace, stack_sites(), "up", policy=False)
    assert not _stacks_missing()
    sites = layout.site_ids()
    before = {site: {item["metadata"]["name"] for item in kube.list_items(site, CRDS)} for site in sites}
    started = velero.ensure_servers(sites)
    yield lab
    for site in started:
        velero.stop_server(site)
    for site in sites:
        for item in kube.list_items(site, CRDS, "app.kubernetes.io/managed-by=pdn-backup"):
            if item["metadata"]["name"] not in before[site]:
                kube.request(site, "DELETE", f"{CRDS}/{item['metadata']['name']}")
