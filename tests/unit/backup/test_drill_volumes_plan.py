"""With volume data the drill's backup asks for file-system backups of every pod volume and its
restore brings the pods back (Velero restores a volume only into a restored pod); without, the pods
and replica sets are left to the partner's controllers as before."""

from __future__ import annotations

import pytest

from pdn.backup import drill_plan

POD_KINDS = {"pods", "replicasets.apps"}


def _plan(with_volumes: bool) -> drill_plan.Plan:
    return drill_plan.Plan(
        source="cikarang",
        partner="batam",
        run_id="1201181500",
        namespaces={"drill-1201181500": "r1201181500-drill-1201181500"},
        seed_namespace="drill-1201181500",
        seed_into_tenant=False,
        backup="drill-cikarang-1201181500",
        restore="drill-cikarang-1201181500",
        bucket="pdn-backup-cikarang",
        location="to-batam",
        restore_location="from-cikarang",
        with_volumes=with_volumes,
    )


def test_plan_defaults_to_no_volume_data() -> None:
    given = ["source", "partner", "run_id", "namespaces", "seed_namespace", "seed_into_tenant"]
    given += ["backup", "restore", "bucket", "location", "restore_location"]
    fields = {name: getattr(_plan(True), name) for name in given}
    plan = drill_plan.Plan(**fields)
    assert plan.with_volumes is False
    assert drill_plan.backup_manifest(plan)["spec"]["defaultVolumesToFsBackup"] is False


@pytest.mark.parametrize("with_volumes", [True, False])
def test_backup_asks_for_file_system_backups_only_with_volumes(with_volumes: bool) -> None:
    spec = drill_plan.backup_manifest(_plan(with_volumes))["spec"]
    assert spec["defaultVolumesToFsBackup"] is with_volumes
    assert spec["snapshotVolumes"] is False, "no CSI snapshots: the data goes through the node agents"
    assert spec["storageLocation"] == "to-batam"


def test_restore_with_volumes_brings_back_pods_and_replica_sets() -> None:
    spec = drill_plan.restore_manifest(_plan(True))["spec"]
    excluded = set(spec["excludedResources"])
    assert not excluded & POD_KINDS
    assert {"endpointslices.discovery.k8s.io", "events"} <= excluded, "derived objects are still rebuilt"
    assert "persistentvolumeclaims" not in excluded
    assert spec["namespaceMapping"] == {"drill-1201181500": "r1201181500-drill-1201181500"}


def test_restore_without_volumes_leaves_pods_to_the_partner() -> None:
    spec = drill_plan.restore_manifest(_plan(False))["spec"]
    excluded = set(spec["excludedResources"])
    assert excluded >= POD_KINDS
    assert excluded - POD_KINDS == set(drill_plan.restore_manifest(_plan(True))["spec"]["excludedResources"])
    assert len(spec["excludedResources"]) == len(excluded), "no resource listed twice"
