"""pdn.kube, the one Kubernetes wrapper: requests as they go out, replies and errors as they come back."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from pdn import kube
from pdn.kube import Kube, KubeError
from pdn.lab import endpoints
from pdn.lab.nodesync import converge_nodes, ready_nodes
from pdn.migrate.golive import apply_folder
from pdn.sites import load_sites


def configmap(name: str, namespace: str = "team", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
            "labels": labels}, "data": {"k": "v"}}  # fmt: skip


def test_path_of_core_and_group_objects() -> None:
    assert kube.path("v1", "namespaces") == "/api/v1/namespaces"
    assert kube.path("apps/v1", "deployments", "team", "web") == "/apis/apps/v1/namespaces/team/deployments/web"
    assert kube.path("velero.io/v1", "backups", "velero") == "/apis/velero.io/v1/namespaces/velero/backups"


def test_create_get_list_delete_round_trip(fake_api: Any, tmp_path: Path) -> None:
    client = Kube(fake_api.kubeconfig(tmp_path))
    where = "/api/v1/namespaces/team/configmaps"
    assert client.get(f"{where}/a") is None
    assert client.create(where, configmap("a", tier="web")) is not None
    assert client.create(where, configmap("a")) is None  # 409: it exists, kept
    client.create(where, configmap("b", tier="db"))
    assert client.get(f"{where}/a") == configmap("a", tier="web")
    assert [item["metadata"]["name"] for item in client.list_items(where, "tier=db")] == ["b"]
    assert fake_api.seen[-1].query == {"labelSelector": "tier=db"}
    assert client.delete(f"{where}/a") is True
    assert client.delete(f"{where}/a") is False
    assert {seen.authorization for seen in fake_api.seen} == {f"Bearer {fake_api.token}"}
    posts = [seen for seen in fake_api.seen if seen.method == "POST"]
    assert posts[0].body == configmap("a", tier="web") and posts[0].content_type == "application/json"


def test_no_discovery_happens_for_explicit_paths(fake_api: Any, tmp_path: Path) -> None:
    before = set(os.listdir("/tmp"))
    client = Kube(fake_api.kubeconfig(tmp_path))
    client.get("/api/v1/namespaces/x")
    assert [(seen.method, seen.path) for seen in fake_api.seen] == [("GET", "/api/v1/namespaces/x")]
    assert not {name for name in set(os.listdir("/tmp")) - before if name.startswith("osrcp")}


def test_an_http_error_is_one_line_with_status_and_the_servers_message(fake_api: Any, tmp_path: Path) -> None:
    fake_api.fail["/api/v1/nodes"] = (403, 'nodes is forbidden: User "x" cannot list resource "nodes"')
    client = Kube(fake_api.kubeconfig(tmp_path))
    with pytest.raises(KubeError) as caught:
        client.list_items("/api/v1/nodes")
    assert caught.value.status == 403
    text = str(caught.value)
    assert "\n" not in text and "GET /api/v1/nodes" in text and 'cannot list resource "nodes"' in text
    assert fake_api.url in text


def test_an_unreachable_server_is_a_kube_error_without_status(tmp_path: Path, fake_api: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    client = Kube(fake_api.kubeconfig(tmp_path, server=f"http://127.0.0.1:{closed}"), timeout=2)
    with pytest.raises(KubeError) as caught:
        client.get("/api/v1/namespaces/x")
    assert caught.value.status is None and "unreachable" in str(caught.value)
    reason = client.reachable(timeout=2)
    assert reason is not None and f"127.0.0.1:{closed}" in reason
    assert Kube(fake_api.kubeconfig(tmp_path)).reachable() is None


def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    with pytest.raises(KubeError, match=r"kubeconfig .*missing\.yaml"):
        Kube(tmp_path / "missing.yaml").get("/version")


def test_merge_patch_sends_the_merge_patch_type(fake_api: Any, tmp_path: Path) -> None:
    client = Kube(fake_api.kubeconfig(tmp_path))
    client.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    patched = client.merge_patch("/api/v1/nodes/n1", {"metadata": {"labels": {"a": "b"}}})
    assert patched["metadata"] == {"name": "n1", "labels": {"a": "b"}}
    assert fake_api.seen[-1].content_type == "application/merge-patch+json"
    assert fake_api.seen[-1].body == {"metadata": {"labels": {"a": "b"}}}


def test_server_side_apply_finds_the_plural_by_discovery(fake_api: Any, tmp_path: Path) -> None:
    client = Kube(fake_api.kubeconfig(tmp_path))
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "team"}}
    client.apply(deployment, field_manager="pdn-migrate")
    client.apply({**deployment, "metadata": {"name": "api", "namespace": "team"}}, field_manager="pdn-migrate")
    applies = [seen for seen in fake_api.seen if seen.method == "PATCH"]
    assert [seen.path for seen in applies] == ["/apis/apps/v1/namespaces/team/deployments/web",
                                               "/apis/apps/v1/namespaces/team/deployments/api"]  # fmt: skip
    assert all(seen.content_type == "application/apply-patch+yaml" for seen in applies)
    assert applies[0].query == {"fieldManager": "pdn-migrate"} and applies[0].body == deployment
    assert [seen.path for seen in fake_api.seen if seen.method == "GET"] == ["/apis/apps/v1"]  # discovery once
    client.apply(configmap("c"), field_manager="m", force=True)
    assert fake_api.seen[-1].path == "/api/v1/namespaces/team/configmaps/c"
    assert fake_api.seen[-1].query == {"fieldManager": "m", "force": "true"}


def test_apply_refuses_what_the_server_does_not_serve(fake_api: Any, tmp_path: Path) -> None:
    client = Kube(fake_api.kubeconfig(tmp_path))
    with pytest.raises(KubeError, match=r"serves no CronTab in apps/v1"):
        client.apply({"apiVersion": "apps/v1", "kind": "CronTab", "metadata": {"name": "x"}}, field_manager="m")
    with pytest.raises(KubeError, match=r"ConfigMap/c has no metadata\.namespace"):
        client.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, field_manager="m")


@pytest.fixture
def lab_site(fake_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A lab site whose admin kubeconfig points at the fake API server."""
    monkeypatch.setenv("PDN_LAB_DIR", str(tmp_path / "lab"))
    site = load_sites().ids[0]
    path = endpoints.kubeconfig_path(site)
    path.parent.mkdir(parents=True)
    path.write_text(fake_api.kubeconfig(tmp_path).read_text())
    return site


def test_site_clients_follow_the_kubeconfig_file(lab_site: str) -> None:
    first = kube.site(lab_site)
    assert kube.site(lab_site) is first  # one client (one connection pool) per kubeconfig
    path = endpoints.kubeconfig_path(lab_site)
    text = path.read_text()
    path.unlink()
    path.write_text(text)  # the lab rebuilt its certificates: a new file
    assert kube.site(lab_site) is not first


def test_up_applies_a_manifest_folder_in_name_order(lab_site: str, fake_api: Any, tmp_path: Path) -> None:
    folder = tmp_path / "manifests" / "app-1"
    folder.mkdir(parents=True)
    (folder / "b-configmap.yaml").write_text(json.dumps(configmap("second")))
    (folder / "a-configmap.yaml").write_text(json.dumps(configmap("first")))
    (folder / "notes.txt").write_text("not a manifest")
    assert apply_folder(kube.site(lab_site), folder) == 2
    applies = [seen for seen in fake_api.seen if seen.method == "PATCH"]
    assert [seen.path.rsplit("/", 1)[1] for seen in applies] == ["first", "second"]
    assert {seen.query["fieldManager"] for seen in applies} == {"pdn-migrate"}


def test_lab_nodes_converge_and_only_kwok_nodes_count(fake_api: Any, tmp_path: Path) -> None:
    client = Kube(fake_api.kubeconfig(tmp_path))

    def node(name: str, kwok: bool = True) -> dict[str, Any]:
        annotations = {"kwok.x-k8s.io/node": "fake"} if kwok else {}
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"zone": "a"}, "annotations": annotations}}  # fmt: skip

    assert converge_nodes(client, [node("k1"), node("k2")]) == 2
    assert converge_nodes(client, [node("k1"), node("k2")]) == 0
    drifted = node("k1")
    drifted["metadata"]["labels"] = {"zone": "b"}
    assert converge_nodes(client, [drifted, node("k2")]) == 1
    assert fake_api.objects["/api/v1/nodes/k1"]["metadata"]["labels"] == {"zone": "b"}
    fake_api.objects["/api/v1/nodes/k1"]["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    real = node("real-1", kwok=False)
    real["status"] = {"conditions": [{"type": "Ready", "status": "False"}]}
    fake_api.objects["/api/v1/nodes/real-1"] = real
    assert ready_nodes(client) == (1, 2)  # the real node that joined is not one of kwok's
