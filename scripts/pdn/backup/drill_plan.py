"""What a drill will touch, decided before anything is written: the partner, the namespaces, the
names of the Velero objects, and the checks that write nothing (step 1 of :mod:`pdn.backup.drill`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pdn import naming
from pdn.backup import kube, seed, store, velero
from pdn.errors import InputError, PdnError
from pdn.lab import endpoints, sitenet
from pdn.sites import load_sites

# Objects the partner's own controllers rebuild from the restored Deployments and Services; restoring
# the source's copies would only add work.
DERIVED_RESOURCES = (
    "controllerrevisions.apps",
    "endpoints",
    "endpointslices.discovery.k8s.io",
    "events",
    "events.events.k8s.io",
)
# Without volume data the pods and replica sets are rebuilt too. With it they must come back from the
# backup: Velero restores a volume only into a restored pod (its restore-wait init container holds
# the app until the data is back), and the replica set keeps that pod from being collected.
POD_RESOURCES = ("pods", "replicasets.apps")


@dataclass
class DrillOptions:
    source: str
    partner: str | None = None
    tenant: str | None = None
    seed: int = 0
    keep: bool = False
    report_dir: Path | None = None
    immutability: bool = True
    apps: int = 0  # drill apps to create (each with a volume of files)
    files: int = 300  # files per app volume
    volume_bytes: int = 10 * 1024 * 1024  # bytes per app volume
    site_loss: bool = False  # stop the source entirely before restoring its vital tenants on the partner


@dataclass
class Plan:
    """What the drill will touch, decided before anything is written."""

    source: str
    partner: str
    run_id: str
    namespaces: dict[str, str]  # source namespace -> drill namespace on the partner
    seed_namespace: str | None  # created by the drill (deleted afterwards unless --keep)
    seed_into_tenant: bool  # seeded objects go into an existing tenant namespace
    backup: str
    restore: str
    bucket: str
    location: str
    restore_location: str
    with_volumes: bool = False  # pod volumes go into the backup (the source has Velero's node agent)
    created_namespaces: list[str] = field(default_factory=list)


def run_id_now(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%m%d%H%M%S")


def drill_namespace(source_namespace: str, run_id: str) -> str:
    """``r<run id>-<source namespace>``, cut to Kubernetes' 63 characters."""
    return f"r{run_id}-{source_namespace}"[:63].rstrip("-")


def choose_partner(source: str, wanted: str | None) -> str:
    model = load_sites()
    if source not in model.ids:
        raise InputError(f"unknown site {source!r}; known sites: {', '.join(model.ids)}")
    partners = model.site(source).partner_ids
    if not partners:
        raise InputError(f"{source} has no backup partner in the site model")
    if wanted is None:
        return partners[0]
    if wanted not in partners:
        raise InputError(f"{wanted} is not a backup partner of {source} (partners: {', '.join(partners)})")
    return wanted


def tenant_namespace(tenant: str) -> str:
    return tenant if tenant.startswith("tenant-") else naming.tenant_namespace(tenant)


def _source_namespaces(options: DrillOptions, run_id: str) -> tuple[list[str], str | None]:
    """(namespaces to back up, namespace the drill creates for seeded objects)."""
    if options.site_loss:
        from pdn.backup.siteloss import vital_namespaces

        vital = vital_namespaces(options.source)
        if not vital:
            raise InputError(f"{options.source} has no vital tenant namespaces to recover",
                             hint=f"pdn stacks up --lab --site {options.source}")  # fmt: skip
        return vital, None
    if options.tenant:
        name = tenant_namespace(options.tenant)
        if kube.namespace(options.source, name) is None:
            raise InputError(f"tenant namespace {name} does not exist on {options.source}")
        return [name], None
    if options.seed > 0 or options.apps > 0:
        name = f"drill-{run_id}"
        return [name], name
    tenants = kube.list_items(options.source, "/api/v1/namespaces", f"pdn.go.id/tenant,pdn.go.id/site={options.source}")
    names = sorted(item["metadata"]["name"] for item in tenants)
    if not names:
        raise InputError(f"{options.source} has no tenant namespaces", hint="seed some with --seed N")
    return names, None


def preflight(options: DrillOptions) -> Plan:
    """Every check that needs no write; raises one clear error naming the site and endpoint."""
    partner = choose_partner(options.source, options.partner)
    for site in (options.source, partner):
        reason = kube.reachable(site)
        if reason is not None:
            raise PdnError(
                f"{site}'s Kubernetes API at {endpoints.kube_server(site)} is unreachable ({reason}); "
                "nothing was changed",
                hint=f"pdn lab up --site {site}",
            )
    bucket = store.bucket_name(options.source)
    store.check_bucket(partner, bucket)
    location, restore_location = f"to-{partner}", f"from-{options.source}"
    for site, name in ((options.source, location), (partner, restore_location)):
        if kube.velero_get(site, "backupstoragelocations", name) is None:
            raise PdnError(
                f"{site} has no Velero location {name} in namespace {velero.NAMESPACE}",
                hint=f"pdn stacks up --lab --site {site}",
            )
    run_id = run_id_now()
    namespaces, seed_namespace = _source_namespaces(options, run_id)
    return Plan(
        source=options.source,
        partner=partner,
        run_id=run_id,
        namespaces={name: drill_namespace(name, run_id) for name in namespaces},
        seed_namespace=seed_namespace,
        seed_into_tenant=bool((options.tenant or options.site_loss) and (options.seed > 0 or options.apps > 0)),
        backup=f"drill-{options.source}-{run_id}",
        restore=f"drill-{options.source}-{run_id}",
        bucket=bucket,
        location=location,
        restore_location=restore_location,
        with_volumes=sitenet.bridged(options.source) and sitenet.bridged(partner),
    )


def backup_manifest(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": plan.backup,
            "namespace": velero.NAMESPACE,
            "labels": {"pdn.go.id/site": plan.source, seed.DRILL_LABEL: plan.run_id},
        },
        "spec": {
            "includedNamespaces": sorted(plan.namespaces),
            "storageLocation": plan.location,
            "snapshotVolumes": False,
            # File-system backup of every pod volume (Kopia, by the node agents) where there are nodes.
            "defaultVolumesToFsBackup": plan.with_volumes,
            "ttl": "720h0m0s",
        },
    }


def restore_manifest(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Restore",
        "metadata": {
            "name": plan.restore,
            "namespace": velero.NAMESPACE,
            "labels": {"pdn.go.id/site": plan.partner, seed.DRILL_LABEL: plan.run_id},
        },
        "spec": {
            "backupName": plan.backup,
            "includedNamespaces": sorted(plan.namespaces),
            "namespaceMapping": dict(sorted(plan.namespaces.items())),
            "excludedResources": list(DERIVED_RESOURCES if plan.with_volumes else DERIVED_RESOURCES + POD_RESOURCES),
            "restorePVs": False,
            "existingResourcePolicy": "none",
        },
    }
