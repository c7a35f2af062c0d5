"""Pure logic of the drill: seeded workloads, names, Velero manifests, partner choice, status summary."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pdn.backup import drill_plan, seed, status, store, velero
from pdn.backup.compare import compare_namespaces
from pdn.errors import InputError


def test_seeded_mix_is_deterministic_and_representative() -> None:
    objects = seed.workloads("drill-1", 200, "r1")
    assert objects == seed.workloads("drill-1", 200, "r1")
    kinds = Counter(obj["kind"] for obj in objects)
    assert kinds == {
        "ConfigMap": 70,
        "Secret": 40,
        "Service": 30,
        "Deployment": 20,
        "ServiceAccount": 10,
        "Role": 10,
        "RoleBinding": 10,
        "NetworkPolicy": 10,
    }
    names = [(obj["kind"], obj["metadata"]["name"]) for obj in objects]
    assert len(set(names)) == 200
    assert all(obj["metadata"]["labels"][seed.DRILL_LABEL] == "r1" for obj in objects)
    assert all(obj["metadata"]["namespace"] == "drill-1" for obj in objects)


def test_seeded_pods_pass_restricted_admission() -> None:
    deployments = [obj for obj in seed.workloads("ns", 40, "r") if obj["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_role_bindings_point_at_a_seeded_role() -> None:
    objects = seed.workloads("ns", 60, "r")
    roles = {obj["metadata"]["name"] for obj in objects if obj["kind"] == "Role"}
    bindings = [obj for obj in objects if obj["kind"] == "RoleBinding"]
    assert bindings and all(binding["roleRef"]["name"] in roles for binding in bindings)


def test_drill_namespace_is_a_valid_name() -> None:
    assert drill_plan.drill_namespace("tenant-kemenkes", "1128121500") == "r1128121500-tenant-kemenkes"
    long = drill_plan.drill_namespace("tenant-" + "x" * 70, "1128121500")
    assert len(long) <= 63 and not long.endswith("-")


def test_partner_choice_follows_the_site_model() -> None:
    assert drill_plan.choose_partner("cikarang", None) == "batam"
    assert drill_plan.choose_partner("ikn", "labuan-bajo") == "labuan-bajo"
    with pytest.raises(InputError, match="not a backup partner"):
        drill_plan.choose_partner("cikarang", "labuan-bajo")
    with pytest.raises(InputError, match="unknown site"):
        drill_plan.choose_partner("jakarta", None)


def _plan() -> drill_plan.Plan:
    return drill_plan.Plan(
        source="cikarang",
        partner="batam",
        run_id="1128121500",
        namespaces={"tenant-b": "r1128121500-tenant-b", "tenant-a": "r1128121500-tenant-a"},
        seed_namespace=None,
        seed_into_tenant=False,
        backup="drill-cikarang-1128121500",
        restore="drill-cikarang-1128121500",
        bucket="pdn-backup-cikarang",
        location="to-batam",
        restore_location="from-cikarang",
    )


def test_backup_goes_to_the_partner_location_without_volume_data() -> None:
    manifest = drill_plan.backup_manifest(_plan())
    spec = manifest["spec"]
    assert spec["storageLocation"] == "to-batam"
    assert spec["includedNamespaces"] == ["tenant-a", "tenant-b"]
    # the lab has no node agent: no file-system backups, no snapshots
    assert spec["snapshotVolumes"] is False and spec["defaultVolumesToFsBackup"] is False
    assert manifest["metadata"]["namespace"] == "velero"


def test_restore_maps_every_namespace_to_its_drill_namespace() -> None:
    spec = drill_plan.restore_manifest(_plan())["spec"]
    assert spec["backupName"] == "drill-cikarang-1128121500"
    assert spec["namespaceMapping"] == {"tenant-a": "r1128121500-tenant-a", "tenant-b": "r1128121500-tenant-b"}
    assert spec["existingResourcePolicy"] == "none"
    # derived objects are rebuilt by the partner's controllers, not restored
    assert {"pods", "replicasets.apps", "endpointslices.discovery.k8s.io"} <= set(spec["excludedResources"])
    assert "deployments.apps" not in spec["excludedResources"]


def test_velero_server_listens_on_loopback_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "leaked")
    spec = velero.server_spec("batam", "/bin/velero")
    argv = spec.argv
    assert argv[:2] == ["/bin/velero", "server"]
    assert f"--metrics-address=127.0.0.1:{velero.metrics_port('batam')}" in argv
    assert "--profiler-address=" in argv  # profiler off
    assert f"--plugin-dir={tmp_path / 'batam' / 'velero' / 'plugins'}" in argv
    assert "--namespace=velero" in argv
    assert spec.ports == [velero.metrics_port("batam")]
    assert spec.env["AWS_ACCESS_KEY_ID"] == "" and spec.env["TMPDIR"].startswith(str(tmp_path))
    ports = {velero.metrics_port(site) for site in ("cikarang", "batam", "ikn", "labuan-bajo")}
    assert len(ports) == 4


def _backup(name: str, location: str, phase: str, started: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {"storageLocation": location},
        "status": {"phase": phase, "startTimestamp": started},
    }


def test_status_summary_picks_the_newest_completed_backup() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    backups = [
        _backup("old", "to-batam", "Completed", "2026-11-28T10:00:00Z"),
        _backup("new", "to-batam", "Completed", "2026-11-28T11:30:00Z"),
        _backup("broken", "to-batam", "PartiallyFailed", "2026-11-28T11:50:00Z"),
        _backup("elsewhere", "to-ikn", "Completed", "2026-11-28T11:59:00Z"),
    ]
    summary = status.summarize(backups, "to-batam", now)
    assert summary["last"] == "new" and summary["rpo"] == 1800.0
    assert summary["completed"] == 2 and summary["failed"] == 1
    assert status.summarize([], "to-batam", now)["rpo"] is None


def test_human_units() -> None:
    assert status.human_age(None) == "-" and status.human_age(90) == "90 s" and status.human_age(5400) == "90 min"
    assert status.human_bytes(512) == "512 B" and status.human_bytes(3 * 1024 * 1024) == "3.0 MiB"


def test_velero_results_are_flattened_per_scope() -> None:
    results = {
        "warnings": {
            "velero": ["slow"],
            "namespaces": {"tenant-a": ["could not restore, ConfigMap kube-root-ca.crt already exists"]},
        },
        "errors": {},
    }
    assert store.flatten_results(results, "warnings") == [
        "velero: slow",
        "tenant-a: could not restore, ConfigMap kube-root-ca.crt already exists",
    ]
    assert store.flatten_results(results, "errors") == []
    assert store.archive_key("b1") == "velero/backups/b1/b1.tar.gz"


def test_namespaces_compare_under_their_source_names() -> None:
    source = {"kind": "Namespace", "metadata": {"name": "t", "labels": {"kubernetes.io/metadata.name": "t", "a": "1"}}}
    restored = {
        "kind": "Namespace",
        "metadata": {"name": "t", "labels": {"kubernetes.io/metadata.name": "r-t", "a": "1"}},
    }
    changed = {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "2"}}
    result = compare_namespaces(
        [("t", [source, {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}}], [restored, changed])]
    )
    assert result.compared == 2 and result.equal == 1
    assert [str(d) for d in result.differences] == ["ConfigMap/t/c data.k: source='1' restored='2'"]


def test_lab_down_also_stops_the_velero_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pdn.lab import layout, runtime
    from pdn.lab.processes import ProcessSpec, running_pid, start
    from pdn.sites import load_sites

    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path))
    stand_in = ProcessSpec(
        "ikn", velero.PROCESS, ["/bin/sleep", "60"], [], layout.run_dir("ikn"), layout.log_dir("ikn")
    )
    start(stand_in)
    assert running_pid(stand_in) is not None
    stopped = runtime.down_site(load_sites().site("ikn"), purge=False, report=lambda _site, _message: None)
    assert stopped == ["velero"]
    assert running_pid(stand_in) is None and not stand_in.pid_file.exists()
