"""Drill comparison: server-owned fields are ignored, every real change is reported."""

from __future__ import annotations

import copy
from typing import Any

from pdn.backup.compare import compare, normalize


def config_map(name: str = "settings", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "tenant-kemenkes",
            "uid": "1111",
            "resourceVersion": "42",
            "creationTimestamp": "2026-11-28T00:00:00Z",
            "labels": {"app": "simpeg", "velero.io/backup-name": "b1"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "owner": "bkn"},
        },
        "data": data or {"mode": "prod"},
    }


def service(cluster_ip: str) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": "web", "uid": cluster_ip},
        "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": [{"port": 80}]},
        "status": {"loadBalancer": {}},
    }


def test_normalize_drops_server_and_tool_fields_only() -> None:
    clean = normalize(config_map())
    assert clean["metadata"] == {"name": "settings", "labels": {"app": "simpeg"}, "annotations": {"owner": "bkn"}}
    assert clean["data"] == {"mode": "prod"}


def test_identical_after_restore_is_ok() -> None:
    restored = copy.deepcopy(config_map())
    restored["metadata"].update(uid="2222", resourceVersion="7", namespace="drill-tenant-kemenkes")
    restored["metadata"]["labels"]["velero.io/restore-name"] = "r1"
    result = compare([config_map(), service("10.0.0.1")], [restored, service("10.96.0.9")])
    assert result.ok and result.equal == 2 and result.compared == 2


def test_changed_data_and_labels_are_reported_with_their_path() -> None:
    restored = config_map(mode="test")
    restored["metadata"]["labels"]["app"] = "sipkd"
    result = compare([config_map()], [restored])
    assert not result.ok
    assert {d.path for d in result.differences} == {"data.mode", "metadata.labels.app"}
    assert "ConfigMap/settings data.mode: source='prod' restored='test'" in {str(d) for d in result.differences}


def test_missing_and_unexpected_objects() -> None:
    result = compare([config_map("a"), config_map("b")], [config_map("b"), config_map("c")])
    assert result.missing == [("ConfigMap", "a")]
    assert result.unexpected == [("ConfigMap", "c")]
    assert not result.ok


def test_list_length_change_is_a_difference() -> None:
    left, right = service("10.0.0.1"), service("10.0.0.2")
    right["spec"]["ports"].append({"port": 443})
    result = compare([left], [right])
    assert [d.path for d in result.differences] == ["spec.ports"]
