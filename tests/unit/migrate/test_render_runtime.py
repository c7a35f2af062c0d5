"""render's runtime: production pods keep their image and reach the model's object store networks;
the lab runtime swaps in the stand-in, the lab's bridged store and scaled requests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from podsecurity import restricted_violations

from pdn.migrate import inventory
from pdn.migrate import render as render_stage
from pdn.migrate.consolidate import load_catalog
from pdn.migrate.workspace import read_csv
from pdn.safeload import load_yaml
from pdn.sites import load_sites


def _render(pipeline: Path, small_inventory: Path, out: Path, lab: render_stage.LabRuntime | None) -> list[Path]:
    apps = inventory.load(small_inventory).apps
    sites = load_sites()
    catalog, _ = load_catalog(None, sites)
    names = {item.id: item.name for item in catalog.superapps}
    return render_stage.run(apps, read_csv(pipeline / "plan.csv", "plan"), names, sites, out, wave=1, lab=lab)


def _docs(folder: Path) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in (load_yaml(path) for path in sorted(folder.glob("*.yaml")))}


def _container(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    workload = docs.get("Deployment") or docs["StatefulSet"]
    container: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return container


def test_production_pods_reach_the_model_store_with_their_own_image(
    pipeline: Path, small_inventory: Path, tmp_path: Path
) -> None:
    folders = _render(pipeline, small_inventory, tmp_path, None)
    assert folders
    sites = load_sites()
    for folder in folders:
        docs = _docs(folder)
        config = docs["ConfigMap"]["data"]
        site = sites.site(config["PDN_SITE"])
        assert config["PDN_S3_ENDPOINT"] == site.object_storage.endpoint
        container = _container(docs)
        assert container["image"].endswith(":migrated") and "args" not in container
        name = docs["Service"]["metadata"]["name"]
        assert {"secretRef": {"name": f"{name}-s3"}} in container["envFrom"]
        store_rules = [rule for rule in docs["NetworkPolicy"]["spec"]["egress"] if "ipBlock" in rule["to"][0]]
        assert store_rules == [
            {
                "to": [{"ipBlock": {"cidr": str(net)}} for net in site.object_storage.networks],
                "ports": [{"port": 443, "protocol": "TCP"}],
            }
        ]
        assert int(container["resources"]["requests"]["cpu"].rstrip("m")) >= 50


def test_lab_runtime_runs_the_stand_in_against_the_bridged_store(
    pipeline: Path, small_inventory: Path, tmp_path: Path
) -> None:
    def store(site_id: str) -> render_stage.ObjectStore:
        return render_stage.ObjectStore(f"http://10.250.{len(site_id)}.1:27109", (f"10.250.{len(site_id)}.1/32",))

    production = {f.name: _docs(f) for f in _render(pipeline, small_inventory, tmp_path / "prod", None)}
    folders = _render(pipeline, small_inventory, tmp_path / "lab", render_stage.LabRuntime(store))
    assert {f.name for f in folders} == set(production)
    for folder in folders:
        docs = _docs(folder)
        site = docs["ConfigMap"]["data"]["PDN_SITE"]
        assert docs["ConfigMap"]["data"]["PDN_S3_ENDPOINT"] == f"http://10.250.{len(site)}.1:27109"
        container = _container(docs)
        assert container["image"] == "localhost/pdn/migrate:lab"
        assert container["args"] == ["-m", "pdn.migrate.standin"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        egress = docs["NetworkPolicy"]["spec"]["egress"]
        assert {
            "to": [{"ipBlock": {"cidr": f"10.250.{len(site)}.1/32"}}],
            "ports": [{"port": 27109, "protocol": "TCP"}],
        } in egress
        cpu = int(container["resources"]["requests"]["cpu"].rstrip("m"))
        prod_cpu = int(_container(production[folder.name])["resources"]["requests"]["cpu"].rstrip("m"))
        assert 10 <= cpu < prod_cpu
        pod = (docs.get("Deployment") or docs["StatefulSet"])["spec"]["template"]["spec"]
        assert restricted_violations(pod) == []
        # everything but the runtime is the production object
        for kind in ("Service",):
            assert docs[kind] == production[folder.name][kind]


def test_resources_are_whole_quantities_with_their_floors() -> None:
    tiny, lab_tiny = render_stage._resources(0.01, 1.0), render_stage._resources(0.01, 0.05)
    assert tiny == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    assert lab_tiny == {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "192Mi"}}
    assert render_stage._resources(2.0, 1.0)["requests"] == {"cpu": "2000m", "memory": "2048Mi"}


def test_a_model_store_without_networks_gets_no_store_egress() -> None:
    assert render_stage._store_egress(render_stage.ObjectStore("https://s3.example.go.id", ())) == []
    assert render_stage.ObjectStore("https://s3.example.go.id:9443", ("10.0.0.0/24",)).port == 9443
    assert render_stage.ObjectStore("http://s3.example.go.id", ()).port == 80
