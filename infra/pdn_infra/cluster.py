"""The site's workload cluster as Cluster API objects (ClusterClass + topology Cluster).

One ClusterClass per site namespace, identical for every site: the site differences live only in
the Cluster's topology (version, replicas, one MachineDeployment per worker pool pinned to its
failure domain) and its variables (region, failure domains, node labels). The class patches
those variables into the bootstrap templates (kubelet ``--node-labels`` carrying
``topology.kubernetes.io/region``/``zone``) and into the infrastructure cluster template (the
failure domains over which KubeadmControlPlane spreads the control plane).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from pdn.mappings import deep_merged
from pdn.naming import cluster_api_namespace
from pdn.sites.model import Site, WorkerPool
from pdn_infra import docker_machines
from pdn_infra import labels as L
from pdn_infra.settings import DockerSettings, InfrastructureKind, InfrastructureProvider
from pdn_infra.workload import READY_CONDITION

CAPI = "cluster.x-k8s.io/v1beta2"
KCP = "controlplane.cluster.x-k8s.io/v1beta2"
BOOTSTRAP = "bootstrap.cluster.x-k8s.io/v1beta2"
CLASS_NAME = "pdn-kubeadm"
WORKER_CLASS = "worker"


@dataclass(frozen=True)
class SiteClusterArgs:
    site: Site
    infrastructure: InfrastructureProvider
    #: Wait until Cluster API has initialised the control plane (the stack then uses the cluster).
    wait: bool = False


def site_namespace(site: Site) -> str:
    """Namespace of the site's Cluster API objects in its management cluster."""
    return cluster_api_namespace(site.id)


def node_labels(site: Site, pool: WorkerPool | None) -> str:
    """kubelet ``--node-labels`` value: region, zone and the pool's own labels, sorted."""
    values = {L.REGION: site.id, L.SITE: site.id}
    if pool is not None:
        values[L.ZONE] = site.failure_domain(pool.failure_domain).zone
        values[f"{L.DOMAIN}/pool"] = pool.name
        values.update(pool.labels)
    return ",".join(f"{key}={value}" for key, value in sorted(values.items()))


def failure_domains(site: Site) -> list[dict[str, Any]]:
    """Every failure domain hosts a control-plane replica candidate (KCP spreads over them)."""
    return [{"name": domain.zone, "controlPlane": True} for domain in site.failure_domains]


def _ref(api_version: str, kind: str, name: str) -> dict[str, str]:
    return {"apiVersion": api_version, "kind": kind, "name": name}


#: pulumi-kubernetes' annotation for how an object is deleted (foreground, background, orphan).
DELETION_POLICY = "pulumi.com/deletionPropagationPolicy"


def versioned_name(base: str, spec: dict[str, Any]) -> str:
    """``base`` plus a digest of ``spec``: Cluster API templates are immutable, so a changed
    template is a new object (the ClusterClass then points at it and the old one goes)."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode("utf-8")).hexdigest()[:10]
    return f"{base}-{digest}"


@dataclass(frozen=True)
class TemplateNames:
    """The names of the templates the ClusterClass references. Those the provider's installation
    owns (Metal3's) keep the site's plain names; those the stack creates are versioned."""

    cluster: str
    control_plane: str
    control_plane_machine: str
    worker_bootstrap: str
    worker_machine: str

    @classmethod
    def plain(cls, site: Site) -> TemplateNames:
        return cls(f"{site.id}-cluster", f"{site.id}-control-plane", f"{site.id}-control-plane",
                   f"{site.id}-worker", f"{site.id}-worker")  # fmt: skip


def _node_labels_patch(path: str) -> dict[str, Any]:
    return {
        "op": "add",
        "path": path,
        "valueFrom": {"template": '- name: node-labels\n  value: "{{ .nodeLabels }}"\n'},
    }


def cluster_class_spec(infra: InfrastructureProvider, site: Site, names: TemplateNames | None = None) -> dict[str, Any]:
    """The national ClusterClass: kubeadm control plane and workers, patched from variables."""
    registration = "nodeRegistration/kubeletExtraArgs"
    names = names or TemplateNames.plain(site)
    docker = infra.kind is InfrastructureKind.DOCKER
    image_variables = [docker_machines.node_images_variable()] if docker else []
    image_patches = (
        docker_machines.node_image_patches(infra.api_version, infra.machine_template_kind, WORKER_CLASS)
        if docker
        else []
    )
    return {
        "kubernetesVersions": site.kubernetes.versions,
        "infrastructure": {"templateRef": _ref(infra.api_version, infra.cluster_template_kind, names.cluster)},
        "controlPlane": {
            "templateRef": _ref(KCP, "KubeadmControlPlaneTemplate", names.control_plane),
            "machineInfrastructure": {
                "templateRef": _ref(infra.api_version, infra.machine_template_kind, names.control_plane_machine)
            },
        },
        "workers": {
            "machineDeployments": [
                {
                    "class": WORKER_CLASS,
                    "bootstrap": {"templateRef": _ref(BOOTSTRAP, "KubeadmConfigTemplate", names.worker_bootstrap)},
                    "infrastructure": {
                        "templateRef": _ref(infra.api_version, infra.machine_template_kind, names.worker_machine)
                    },
                }
            ]
        },
        "variables": [
            {"name": "region", "required": True, "schema": {"openAPIV3Schema": {"type": "string", "minLength": 1}}},
            {
                "name": "nodeLabels",
                "required": True,
                "schema": {"openAPIV3Schema": {"type": "string", "minLength": 1}},
            },
            {
                "name": "failureDomains",
                "required": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "controlPlane": {"type": "boolean"}},
                        },
                    }
                },
            },
            *image_variables,
        ],
        "patches": [
            *image_patches,
            {
                "name": "failure-domains",
                "description": "Spread the control plane over the site's failure domains.",
                "definitions": [
                    {
                        "selector": {
                            "apiVersion": infra.api_version,
                            "kind": infra.cluster_template_kind,
                            "matchResources": {"infrastructureCluster": True},
                        },
                        "jsonPatches": [
                            {
                                "op": "add",
                                "path": infra.failure_domains_path,
                                "valueFrom": {"variable": "failureDomains"},
                            }
                        ],
                    }
                ],
            },
            {
                "name": "control-plane-node-labels",
                "definitions": [
                    {
                        "selector": {
                            "apiVersion": KCP,
                            "kind": "KubeadmControlPlaneTemplate",
                            "matchResources": {"controlPlane": True},
                        },
                        "jsonPatches": [
                            _node_labels_patch(
                                f"/spec/template/spec/kubeadmConfigSpec/initConfiguration/{registration}"
                            ),
                            _node_labels_patch(
                                f"/spec/template/spec/kubeadmConfigSpec/joinConfiguration/{registration}"
                            ),
                        ],
                    }
                ],
            },
            {
                "name": "worker-node-labels",
                "definitions": [
                    {
                        "selector": {
                            "apiVersion": BOOTSTRAP,
                            "kind": "KubeadmConfigTemplate",
                            "matchResources": {"machineDeploymentClass": {"names": [WORKER_CLASS]}},
                        },
                        "jsonPatches": [_node_labels_patch(f"/spec/template/spec/joinConfiguration/{registration}")],
                    }
                ],
            },
        ],
    }


def cluster_spec(site: Site, docker: DockerSettings | None = None) -> dict[str, Any]:
    """Topology of the site's Cluster: everything that differs between sites is here (the lab's
    Docker machines may cap the replicas, :func:`pdn_infra.docker_machines.replicas`)."""
    k = site.kubernetes
    image_values = (
        [{"name": docker_machines.NODE_IMAGES_VARIABLE, "value": docker_machines.node_images_value(site, docker)}]
        if docker is not None
        else []
    )
    return {
        "clusterNetwork": {
            "pods": {"cidrBlocks": [k.pod_cidr]},
            "services": {"cidrBlocks": [k.service_cidr]},
        },
        "topology": {
            "classRef": {"name": CLASS_NAME},
            "version": k.version,
            "controlPlane": {"replicas": docker_machines.replicas(site, docker, None)},
            "variables": [
                {"name": "region", "value": site.id},
                {"name": "nodeLabels", "value": node_labels(site, None)},
                {"name": "failureDomains", "value": failure_domains(site)},
                *image_values,
            ],
            "workers": {
                "machineDeployments": [
                    {
                        "class": WORKER_CLASS,
                        "name": pool.name,
                        "failureDomain": site.failure_domain(pool.failure_domain).zone,
                        "replicas": docker_machines.replicas(site, docker, pool.name),
                        "metadata": {
                            "labels": {
                                L.REGION: site.id,
                                L.ZONE: site.failure_domain(pool.failure_domain).zone,
                                **pool.labels,
                            }
                        },
                        "variables": {
                            "overrides": [{"name": "nodeLabels", "value": node_labels(site, pool)}],
                        },
                    }
                    for pool in k.worker_pools
                ]
            },
        },
    }


#: Where every control-plane machine keeps the API server's authentication configuration.
AUTHENTICATION_CONFIG = "/etc/kubernetes/authentication-config.yaml"
#: The only requests an anonymous caller may make: health, and the ConfigMap kubeadm's
#: bootstrap-token discovery reads before a joining node has any credential (it checks the
#: cluster CA against the token's signature and the pinned CA hash).
ANONYMOUS_PATHS = ("/livez", "/readyz", "/healthz", "/api/v1/namespaces/kube-public/configmaps/cluster-info")


def authentication_configuration() -> dict[str, Any]:
    """No anonymous requests but :data:`ANONYMOUS_PATHS` (``--anonymous-auth=false`` would stop
    every node from joining: kubeadm's discovery is anonymous)."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1beta1",
        "kind": "AuthenticationConfiguration",
        "anonymous": {"enabled": True, "conditions": [{"path": path} for path in ANONYMOUS_PATHS]},
    }


def _kubeadm_hardening() -> dict[str, Any]:
    """kubeadm settings every PDN control plane gets (anonymous requests only for health and
    discovery, TLS 1.2 or later, no profiling)."""
    volume = "authentication-config"
    return {
        "clusterConfiguration": {
            "apiServer": {
                "extraArgs": [
                    {"name": "authentication-config", "value": AUTHENTICATION_CONFIG},
                    {"name": "tls-min-version", "value": "VersionTLS12"},
                    {"name": "profiling", "value": "false"},
                ],
                "extraVolumes": [
                    {
                        "name": volume,
                        "hostPath": AUTHENTICATION_CONFIG,
                        "mountPath": AUTHENTICATION_CONFIG,
                        "readOnly": True,
                        "pathType": "File",
                    },
                ],
            },
        },
        "files": [
            {
                "path": AUTHENTICATION_CONFIG,
                "owner": "root:root",
                "permissions": "0600",
                "content": yaml.safe_dump(authentication_configuration(), sort_keys=False),
            }
        ],
    }


class SiteCluster(pulumi.ComponentResource):
    """Cluster API objects of one site in its management cluster."""

    namespace: pulumi.Output[str]
    cluster_name: pulumi.Output[str]

    def __init__(self, name: str, args: SiteClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pdn:infra:SiteCluster", name, None, opts)
        site = args.site
        child = pulumi.ResourceOptions(parent=self)
        base_labels = {L.SITE: site.id, L.MANAGED_BY: "pulumi"}
        ns_name = site_namespace(site)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ns_name, labels=base_labels),
            opts=child,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns_name, labels=base_labels)

        infra = args.infrastructure
        docker = infra.docker if infra.kind is InfrastructureKind.DOCKER else None
        kubeadm_spec = _kubeadm_hardening()
        worker_spec: dict[str, Any] = {"joinConfiguration": {"nodeRegistration": {"imagePullPolicy": "IfNotPresent"}}}
        templates: list[pulumi.Resource] = []
        if docker is not None:  # the lab's machine facts go into the kubeadm templates
            kubeadm_spec = deep_merged(kubeadm_spec, docker_machines.control_plane_config(site, docker))
            worker_spec = deep_merged(worker_spec, docker_machines.worker_config(site, docker))
        control_plane_spec = {"template": {"spec": {"kubeadmConfigSpec": kubeadm_spec}}}
        worker_template_spec = {"template": {"spec": worker_spec}}
        plain = TemplateNames.plain(site)
        names = dataclasses.replace(
            plain,
            control_plane=versioned_name(plain.control_plane, control_plane_spec),
            worker_bootstrap=versioned_name(plain.worker_bootstrap, worker_template_spec),
        )
        if docker is not None:  # the lab: the stack creates the Docker provider's templates too
            lb_spec = docker_machines.cluster_template_spec(site, docker)
            machine_spec = docker_machines.machine_template_spec(docker)
            names = dataclasses.replace(
                names,
                cluster=versioned_name(plain.cluster, lb_spec),
                control_plane_machine=versioned_name(plain.control_plane_machine, machine_spec),
                worker_machine=versioned_name(plain.worker_machine, machine_spec),
            )

            def infrastructure(resource: str, kind: str, object_name: str, spec: dict[str, Any]) -> pulumi.Resource:
                return k8s.apiextensions.CustomResource(
                    f"{name}-{resource}", api_version=infra.api_version, kind=kind,
                    metadata=meta(object_name), spec=spec, opts=in_ns,
                )  # fmt: skip

            templates.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-load-balancer-config",
                    metadata=meta(docker_machines.load_balancer_config_name(site)),
                    data=docker_machines.load_balancer_config(),
                    opts=in_ns,
                )
            )
            templates.append(
                infrastructure("infrastructure-cluster-template", infra.cluster_template_kind, names.cluster, lb_spec)
            )
            templates += [
                infrastructure(f"{role}-machine-template", infra.machine_template_kind, object_name, machine_spec)
                for role, object_name in (
                    ("control-plane", names.control_plane_machine),
                    ("worker", names.worker_machine),
                )
            ]
        control_plane = k8s.apiextensions.CustomResource(
            f"{name}-control-plane-template",
            api_version=KCP,
            kind="KubeadmControlPlaneTemplate",
            metadata=meta(names.control_plane),
            spec=control_plane_spec,
            opts=in_ns,
        )
        worker = k8s.apiextensions.CustomResource(
            f"{name}-worker-template",
            api_version=BOOTSTRAP,
            kind="KubeadmConfigTemplate",
            metadata=meta(names.worker_bootstrap),
            spec=worker_template_spec,
            opts=in_ns,
        )
        cluster_class = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version=CAPI,
            kind="ClusterClass",
            metadata=meta(CLASS_NAME),
            spec=cluster_class_spec(infra, site, names),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[control_plane, worker, *templates]),
        )
        cluster_meta = meta(site.id)
        # Background deletion: Cluster API takes the cluster down in its own order (machines,
        # then the control plane, then the load balancer). Pulumi's default, foreground, lets the
        # garbage collector delete every object the Cluster owns at once: the load balancer and
        # the kubeconfig went first and the machines then waited for ever to be drained.
        annotations = {DELETION_POLICY: "background"}
        if args.wait:
            annotations["pulumi.com/waitFor"] = READY_CONDITION
        cluster_meta.annotations = annotations
        cluster = k8s.apiextensions.CustomResource(
            f"{name}-cluster",
            api_version=CAPI,
            kind="Cluster",
            metadata=cluster_meta,
            spec=cluster_spec(site, docker),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[cluster_class],
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m") if args.wait else None,
            ),
        )
        self.cluster = cluster
        #: Where Cluster API's load balancer serves the workload cluster's API (set once provisioned).
        self.control_plane_endpoint: pulumi.Output[Any] = cluster.spec.apply(  # type: ignore[attr-defined]
            lambda spec: (spec or {}).get("controlPlaneEndpoint") or {}
        )
        self.namespace = namespace.metadata.name
        self.cluster_name = cluster.id.apply(lambda _: site.id)
        self.register_outputs({"namespace": self.namespace, "cluster_name": self.cluster_name})
