"""The same stack with the lab's Docker infrastructure (Cluster API's Docker provider)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from harness import Registered, of_kind, run_program, stack_config
from test_crd_schemas import _closed

from pdn.errors import InputError

NODE_IMAGE = "localhost/pdn-debian12-k8s-node:v1.34.4-0123456789ab"
PREVIOUS_IMAGE = "localhost/pdn-debian12-k8s-node:v1.34.3-0123456789ab"
DOCKER = {
    "nodeImages": {"v1.34.4": NODE_IMAGE},
    "loadBalancerImageTag": "abcdef012345",
    "imagesDir": "/root/.cache/pdn/images",
    "networkSubnet": "10.249.0.0/24",
    "controlPlaneReplicas": 1,
    "workerReplicas": {"general-a": 2},
}


def _provider(resource: Registered) -> str:
    """The name of the explicit provider a resource was registered with (``URN::id``)."""
    return resource.provider.rsplit("::", 1)[0].rsplit("::", 1)[-1]


def _run(site: str = "cikarang", **infrastructure: Any) -> list[Registered]:
    config = {**stack_config(site), "infrastructure": {"kind": "docker", "docker": DOCKER, **infrastructure}}
    return run_program(site, config)


@pytest.fixture(scope="module")
def docker_resources() -> list[Registered]:
    return _run()


def test_the_lab_creates_the_docker_templates_the_class_references(docker_resources: list[Registered]) -> None:
    (cluster_template,) = of_kind(docker_resources, "DockerClusterTemplate")
    machines = {r.meta["name"].rsplit("-", 1)[0]: r for r in of_kind(docker_resources, "DockerMachineTemplate")}
    assert set(machines) == {"cikarang-control-plane", "cikarang-worker"}
    lb = cluster_template.inputs["spec"]["template"]["spec"]["loadBalancer"]
    assert lb == {
        "imageRepository": "localhost/pdn",
        "imageTag": "abcdef012345",
        "customHAProxyConfigTemplateRef": {"name": "cikarang-load-balancer"},
    }
    spec = machines["cikarang-worker"].inputs["spec"]["template"]["spec"]
    assert "customImage" not in spec  # the class's patch picks the image of the machine's release
    assert spec["extraMounts"] == [
        {"containerPath": "/opt/pdn/images", "hostPath": DOCKER["imagesDir"], "readOnly": True}
    ]
    (cluster_class,) = of_kind(docker_resources, "ClusterClass")
    refs = cluster_class.inputs["spec"]
    assert refs["infrastructure"]["templateRef"]["kind"] == "DockerClusterTemplate"
    created = {r.meta["name"] for r in docker_resources if r.kind.endswith("Template")}
    referenced = {
        refs["infrastructure"]["templateRef"]["name"],
        refs["controlPlane"]["templateRef"]["name"],
        refs["controlPlane"]["machineInfrastructure"]["templateRef"]["name"],
        refs["workers"]["machineDeployments"][0]["bootstrap"]["templateRef"]["name"],
        refs["workers"]["machineDeployments"][0]["infrastructure"]["templateRef"]["name"],
    }
    assert referenced == created and len(created) == 5
    assert refs["infrastructure"]["templateRef"]["apiVersion"] == "infrastructure.cluster.x-k8s.io/v1beta2"


def test_the_load_balancer_fits_the_file_limit_and_checks_without_anonymous_requests(
    docker_resources: list[Registered],
) -> None:
    (cluster_template,) = of_kind(docker_resources, "DockerClusterTemplate")
    config_maps = {r.meta["name"]: r for r in of_kind(docker_resources, "ConfigMap")}
    config = config_maps["cikarang-load-balancer"]
    assert config.meta["namespace"] == cluster_template.meta["namespace"]
    template = "\n".join(line for line in config.inputs["data"]["value"].splitlines() if not line.startswith("#"))
    (maxconn,) = [int(line.split()[1]) for line in template.splitlines() if line.strip().startswith("maxconn")]
    assert 2 * maxconn + 100 <= 20000  # haproxy wants about two descriptors per connection
    assert "httpchk" not in template and "check-ssl" in template  # a TLS handshake, not GET /healthz
    assert "127.0.0.11" not in template  # no Docker DNS under podman
    assert "{{ JoinHostPort $backend.Address $.BackendControlPlanePort }}" in template


def test_a_changed_template_is_a_new_object_because_cluster_api_templates_are_immutable() -> None:
    def names(resources: list[Registered]) -> dict[str, str]:
        return {r.kind: r.meta["name"] for r in resources if r.kind.endswith("Template") and "Machine" not in r.kind}

    before = names(_run())
    after = names(_run(docker={**DOCKER, "loadBalancerImageTag": "fedcba543210", "networkSubnet": "10.249.1.0/24"}))
    assert before["DockerClusterTemplate"] != after["DockerClusterTemplate"]  # the load balancer image changed
    assert before["KubeadmControlPlaneTemplate"] != after["KubeadmControlPlaneTemplate"]  # node-network.env did
    assert names(_run()) == before  # the same inputs, the same names: nothing to replace


def test_cluster_api_deletes_the_cluster_in_its_own_order(docker_resources: list[Registered]) -> None:
    (cluster,) = of_kind(docker_resources, "Cluster")
    assert cluster.meta["annotations"]["pulumi.com/deletionPropagationPolicy"] == "background"


def test_the_lab_caps_the_topology_and_a_pool_it_does_not_name_gets_none(docker_resources: list[Registered]) -> None:
    (cluster,) = of_kind(docker_resources, "Cluster")
    topology = cluster.inputs["spec"]["topology"]
    assert topology["controlPlane"]["replicas"] == 1
    replicas = {md["name"]: md["replicas"] for md in topology["workers"]["machineDeployments"]}
    assert replicas == {"general-a": 2, "general-b": 0, "general-c": 0, "storage-a": 0}


@pytest.mark.parametrize(("model", "cap", "expected"), [(1, 2, 1), (2, 2, 2), (4, 2, 2), (0, 2, 0), (3, None, 3)])
def test_scaling_a_pool_in_the_site_model_scales_the_lab_up_to_its_cap(
    model: int, cap: int | None, expected: int
) -> None:
    from pdn.sites import load_sites
    from pdn_infra.docker_machines import replicas
    from pdn_infra.settings import DockerSettings

    site = load_sites().site("cikarang")
    pools = [pool.model_copy(update={"replicas": model}) for pool in site.kubernetes.worker_pools]
    scaled = site.model_copy(
        update={"kubernetes": site.kubernetes.model_copy(update={"worker_pools": pools})}
    )  # fmt: skip
    caps = {**DOCKER, "workerReplicas": None if cap is None else {"general-a": cap}}
    docker = DockerSettings.model_validate(caps)
    assert replicas(scaled, docker, "general-a") == expected
    assert replicas(scaled, docker, "general-b") == (model if cap is None else 0)
    assert replicas(scaled, docker, None) == 1
    assert replicas(scaled, None, "general-a") == model


def test_machines_get_the_lab_node_settings_and_keep_the_hardening(docker_resources: list[Registered]) -> None:
    (kcp,) = of_kind(docker_resources, "KubeadmControlPlaneTemplate")
    spec = kcp.inputs["spec"]["template"]["spec"]["kubeadmConfigSpec"]
    args = {a["name"]: a["value"] for a in spec["clusterConfiguration"]["apiServer"]["extraArgs"]}
    # anonymous requests only for health and for kubeadm's discovery (a joining node has no credential yet)
    assert "anonymous-auth" not in args
    files = {f["path"]: f for f in spec["files"]}
    authentication = yaml.safe_load(files[args["authentication-config"]]["content"])
    paths = {condition["path"] for condition in authentication["anonymous"]["conditions"]}
    assert paths == {"/livez", "/readyz", "/healthz", "/api/v1/namespaces/kube-public/configmaps/cluster-info"}
    (volume,) = spec["clusterConfiguration"]["apiServer"]["extraVolumes"]
    assert volume["hostPath"] == volume["mountPath"] == args["authentication-config"] and volume["readOnly"]
    assert spec["clusterConfiguration"]["etcd"]["local"]["imageTag"].endswith("-0")
    registration = spec["initConfiguration"]["nodeRegistration"]
    assert registration["imagePullPolicy"] == "Never"
    assert set(registration["ignorePreflightErrors"]) == {"SystemVerification", "Swap"}
    files = {f["path"]: f for f in spec["files"]}
    kubelet = yaml.safe_load(files["/etc/kubernetes/patches/kubeletconfiguration+merge.yaml"]["content"])
    assert kubelet["cgroupDriver"] == "cgroupfs" and kubelet["protectKernelDefaults"] is True
    assert "NODE_SUBNET=10.249.0.0/24" in files["/etc/pdn/node-network.env"]["content"]
    assert spec["preKubeadmCommands"][-1] == "systemctl start pdn-node-network.service"
    (worker,) = of_kind(docker_resources, "KubeadmConfigTemplate")
    assert worker.inputs["spec"]["template"]["spec"]["joinConfiguration"]["patches"] == {
        "directory": "/etc/kubernetes/patches"
    }


def test_metal3_stays_the_default_and_creates_no_infrastructure_template() -> None:
    resources = run_program("ikn")
    assert not of_kind(resources, "DockerMachineTemplate") and not of_kind(resources, "DockerClusterTemplate")
    (cluster_class,) = of_kind(resources, "ClusterClass")
    assert cluster_class.inputs["spec"]["infrastructure"]["templateRef"]["kind"] == "Metal3ClusterTemplate"
    (kcp,) = of_kind(resources, "KubeadmControlPlaneTemplate")
    files = kcp.inputs["spec"]["template"]["spec"]["kubeadmConfigSpec"]["files"]
    assert [f["path"] for f in files] == ["/etc/kubernetes/authentication-config.yaml"]  # none of the lab's


def _render(template: str, values: dict[str, Any]) -> str:
    """What Cluster API's Go template gives for ``{{ index .VAR .builtin.KIND.version }}``."""
    import re

    match = re.fullmatch(r"\{\{ index \.(\w+) \.builtin\.(\w+)\.version \}\}", template)
    assert match, template
    variable, kind = match.groups()
    return str(values[variable][values["builtin"][kind]["version"]])


def test_each_machine_gets_the_node_image_of_its_own_release(
    docker_resources: list[Registered],
) -> None:
    (cluster_class,) = of_kind(docker_resources, "ClusterClass")
    (cluster,) = of_kind(docker_resources, "Cluster")
    spec = cluster_class.inputs["spec"]
    (variable,) = [v for v in spec["variables"] if v["name"] == "nodeImages"]
    assert variable["schema"]["openAPIV3Schema"]["additionalProperties"] == {"type": "string", "minLength": 1}
    values = {v["name"]: v["value"] for v in cluster.inputs["spec"]["topology"]["variables"]}
    assert values["nodeImages"] == {"v1.34.4": NODE_IMAGE}
    (patch,) = [p for p in spec["patches"] if p["name"] == "node-image-per-release"]
    by_target = {json.dumps(d["selector"]["matchResources"], sort_keys=True): d for d in patch["definitions"]}
    assert set(by_target) == {'{"controlPlane": true}', '{"machineDeploymentClass": {"names": ["worker"]}}'}
    # mid-upgrade: the control plane already at the new release, a worker pool still at the old one
    builtin = {"controlPlane": {"version": "v1.34.4"}, "machineDeployment": {"version": "v1.34.3"}}
    images = {"v1.34.3": PREVIOUS_IMAGE, "v1.34.4": NODE_IMAGE}
    rendered = {
        key: _render(d["jsonPatches"][0]["valueFrom"]["template"], {"nodeImages": images, "builtin": builtin})
        for key, d in by_target.items()
    }
    assert rendered == {'{"controlPlane": true}': NODE_IMAGE,
                        '{"machineDeploymentClass": {"names": ["worker"]}}': PREVIOUS_IMAGE}  # fmt: skip
    for definition in patch["definitions"]:
        assert definition["selector"]["kind"] == "DockerMachineTemplate"
        assert definition["jsonPatches"][0]["path"] == "/spec/template/spec/customImage"


def test_a_site_moving_to_a_new_release_lists_both_and_needs_both_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdn.sites.resize import resized_model

    monkeypatch.setenv("PDN_SITES", str(resized_model(tmp_path, "cikarang", 2, version="v1.34.4",
                                                      upgrade_from=("v1.34.3",))))  # fmt: skip
    with pytest.raises(InputError, match=r"nodeImages has no image for v1\.34\.3 \(site cikarang\)"):
        _run()
    docker = {**DOCKER, "nodeImages": {"v1.34.3": PREVIOUS_IMAGE, "v1.34.4": NODE_IMAGE}}
    config = {**stack_config("cikarang"), "infrastructure": {"kind": "docker", "docker": docker}}
    resources = run_program("cikarang", config)
    (cluster_class,) = of_kind(resources, "ClusterClass")
    (cluster,) = of_kind(resources, "Cluster")
    assert cluster_class.inputs["spec"]["kubernetesVersions"] == ["v1.34.3", "v1.34.4"]
    assert cluster.inputs["spec"]["topology"]["version"] == "v1.34.4"
    values = {v["name"]: v["value"] for v in cluster.inputs["spec"]["topology"]["variables"]}
    assert values["nodeImages"] == docker["nodeImages"]


@pytest.mark.parametrize(
    ("infrastructure", "message"),
    [
        ({"kind": "docker"}, "infrastructure.docker is required"),
        ({"kind": "metal3", "docker": DOCKER}, "refused otherwise"),
        ({"kind": "docker", "docker": {**DOCKER, "nodeImages": {"v1.34.4": "quay.io/evil:latest"}}}, "nodeImages"),
        ({"kind": "docker", "docker": {**DOCKER, "nodeImages": {"latest": NODE_IMAGE}}}, "nodeImages"),
        ({"kind": "docker", "docker": {**DOCKER, "nodeImages": {}}}, "nodeImages"),
        ({"kind": "docker", "docker": {**DOCKER, "nodeImages": {"v1.34.3": PREVIOUS_IMAGE}}}, "no image for v1.34.4"),
        ({"kind": "docker", "docker": {**DOCKER, "imagesDir": "../../etc"}}, "imagesDir"),
    ],
)
def test_a_bad_infrastructure_setting_is_one_clear_error(infrastructure: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        run_program("cikarang", {**stack_config("cikarang"), "infrastructure": infrastructure})


def test_docker_objects_match_the_pinned_crd_schemas(docker_resources: list[Registered]) -> None:
    from pdn.capi import manifests
    from pdn.errors import PdnError

    schemas: dict[tuple[str, str], Any] = {}
    try:
        for item in manifests.PROVIDERS:
            for crd in manifests.crds(item, "https://127.0.0.1:9443", b"ca"):
                for version in crd["spec"]["versions"]:
                    key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    except PdnError:
        pytest.skip("CRD cache empty: run `pdn stacks crds`")
    checked = 0
    for r in docker_resources:
        key = (r.inputs.get("apiVersion", ""), r.inputs.get("kind", ""))
        if not r.custom or key not in schemas:
            continue
        body = {k: v for k, v in r.inputs.items() if k in ("apiVersion", "kind", "spec")}
        errors = list(jsonschema.Draft7Validator(_closed(schemas[key])).iter_errors(body))
        assert not errors, f"{r.name}: {errors[0].message} at {list(errors[0].absolute_path)}"
        checked += 1
    assert checked == 7  # 3 Docker templates, 2 kubeadm templates, the ClusterClass and the Cluster


def test_on_cluster_api_the_tenants_go_to_the_cluster_it_makes_after_its_pod_network() -> None:
    config = {
        **stack_config("ikn"),
        "infrastructure": {"kind": "docker", "docker": DOCKER},
        "workloadCluster": "cluster-api",
    }
    resources = run_program("ikn", config)
    (cluster,) = of_kind(resources, "Cluster")
    # the v1beta2 status field, not the condition: its observedGeneration stays at its first value
    assert cluster.meta["annotations"]["pulumi.com/waitFor"] == (
        "jsonpath={.status.initialization.controlPlaneInitialized}=true"
    )
    providers = [r for r in resources if r.type == "pulumi:providers:kubernetes"]
    assert sorted(p.inputs.get("clusterIdentifier", "") for p in providers) == ["pdn-ikn", "pdn-ikn-workload"]
    assert [r.name for r in resources if r.type == "kubernetes:yaml/v2:ConfigGroup"] == ["network-kube-router"]
    assert [r.name for r in resources if r.type == "kubernetes:core/v1:ConfigMapPatch"] == ["network-coredns"]
    on = {r.meta.get("name", r.name): _provider(r) for r in resources if r.custom and r.meta.get("name")}
    assert on["pdn-cluster-ikn"] == on[cluster.meta["name"]] == "k8s-ikn"
    tenant_namespaces = [
        r.meta["name"] for r in of_kind(resources, "Namespace") if r.meta["name"].startswith("tenant-")
    ]
    assert tenant_namespaces and all(on[name] == "k8s-ikn-workload" for name in tenant_namespaces)
    locations = of_kind(resources, "BackupStorageLocation")
    assert locations and all(_provider(r) == "k8s-ikn-workload" for r in locations)
    assert not [r for r in resources if r.type.endswith("CustomResourceDefinition")]
