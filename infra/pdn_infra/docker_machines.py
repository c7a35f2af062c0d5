"""The lab's machines: Cluster API's Docker provider templates and what kubeadm needs on them.

Only with ``infrastructure.kind: docker`` (docs/capi.md). The machines are containers of our own
real-node image (``pdn.nodes.kubenode``) on the ``kind`` network, so they are what the lab's
real nodes are, made by Cluster API instead of ``pdn lab up``; the settings below are the same
facts :mod:`pdn.lab.realnodes` gives a node it joins itself:

- the pod image archives are mounted read-only at ``/opt/pdn/images`` (``pdn-images.service``
  imports them at boot; kubeadm finds every image it needs and pulls nothing);
- ``/etc/pdn/node-network.env`` and ``pdn-node-network`` keep pod traffic on the lab network;
  the ``kind`` network is internal, so a default route onto its bridge is added for kubeadm and
  the kubelet to pick the machine's address from (nothing answers beyond the bridge);
- the kubelet starts with the lab's runtime facts and the hardened settings, through a kubeadm
  patch of its KubeletConfiguration; the same two preflight checks are skipped;
- etcd runs from the pinned etcd's image tag;
- the control-plane load balancer uses the lab's HAProxy template (``haproxy.cfg.tmpl``, a
  ConfigMap the DockerClusterTemplate names) instead of the provider's default, which asks for
  more file descriptors than a container may have here and health-checks with an anonymous
  ``/healthz`` the hardened API server refuses.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from pdn.errors import InputError
from pdn.sites.model import Site
from pdn_infra.settings import DockerSettings

IMAGES_MOUNT = "/opt/pdn/images"
PATCHES_DIR = "/etc/kubernetes/patches"
NETWORK_ENV = "/etc/pdn/node-network.env"
DEFAULT_ROUTE = "ip route show default | grep -q . || ip route add default dev eth0"
LOAD_BALANCER_TEMPLATE = Path(__file__).with_name("haproxy.cfg.tmpl")


def load_balancer_config_name(site: Site) -> str:
    """The ConfigMap (beside the Cluster) holding the load balancer's HAProxy template."""
    return f"{site.id}-load-balancer"


def load_balancer_config() -> dict[str, str]:
    """The ConfigMap's data: the provider reads the template from the key ``value``."""
    return {"value": LOAD_BALANCER_TEMPLATE.read_text(encoding="utf-8")}


def cluster_template_spec(site: Site, docker: DockerSettings) -> dict[str, Any]:
    """DockerClusterTemplate: the control-plane load balancer from the lab's own image and template."""
    return {
        "template": {
            "spec": {
                "loadBalancer": {
                    "imageRepository": docker.load_balancer_image_repository,
                    "imageTag": docker.load_balancer_image_tag,
                    "customHAProxyConfigTemplateRef": {"name": load_balancer_config_name(site)},
                }
            }
        }
    }


def machine_template_spec(docker: DockerSettings) -> dict[str, Any]:
    """DockerMachineTemplate: a real-node container with the pod images folder mounted. Its image
    is the node image of the machine's own release: :func:`node_image_patches` sets it."""
    return {
        "template": {
            "spec": {
                "extraMounts": [{"containerPath": IMAGES_MOUNT, "hostPath": docker.images_dir, "readOnly": True}],
            }
        }
    }


#: The ClusterClass variable holding the node image of each release (``DockerSettings.node_images``).
NODE_IMAGES_VARIABLE = "nodeImages"


def node_images_variable() -> dict[str, Any]:
    """The ClusterClass variable definition: release -> node image."""
    return {
        "name": NODE_IMAGES_VARIABLE,
        "required": True,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": "string", "minLength": 1},
            }
        },
    }


def node_images_value(site: Site, docker: DockerSettings) -> dict[str, str]:
    """The variable's value: the node image of every release the site's machines may run now
    (``InputError`` when one is missing, instead of a machine Cluster API cannot create)."""
    missing = [version for version in site.kubernetes.versions if version not in docker.node_images]
    if missing:
        raise InputError(f"infrastructure.docker.nodeImages has no image for {', '.join(missing)} (site {site.id})")
    return {version: docker.node_images[version] for version in site.kubernetes.versions}


def node_image_patches(api_version: str, kind: str, worker_class: str) -> list[dict[str, Any]]:
    """ClusterClass patches giving each machine the node image of its own release, as Cluster API's
    own Docker quick-start does with its image tag: during an upgrade the control plane moves to
    the new release first and every worker pool after it, each machine from its image then."""

    def patch(selector: dict[str, Any], version: str) -> dict[str, Any]:
        return {
            "selector": {"apiVersion": api_version, "kind": kind, "matchResources": selector},
            "jsonPatches": [
                {
                    "op": "add",
                    "path": "/spec/template/spec/customImage",
                    "valueFrom": {"template": f"{{{{ index .{NODE_IMAGES_VARIABLE} .builtin.{version}.version }}}}"},
                }
            ],
        }

    return [
        {
            "name": "node-image-per-release",
            "description": "Each machine runs the node image of its own Kubernetes release.",
            "definitions": [
                patch({"controlPlane": True}, "controlPlane"),
                patch({"machineDeploymentClass": {"names": [worker_class]}}, "machineDeployment"),
            ],
        }
    ]


def _network_env(site: Site, docker: DockerSettings) -> str:
    values = {
        "NODE_SUBNET": docker.network_subnet,
        "POD_CIDR": site.kubernetes.pod_cidr,
        "SERVICE_CIDR": site.kubernetes.service_cidr,
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def _kubelet_patch(site: Site) -> str:
    from pdn.lab.realnodes import kubelet_configuration

    settings = kubelet_configuration(site)
    return yaml.safe_dump(settings, sort_keys=True)


def machine_files(site: Site, docker: DockerSettings) -> list[dict[str, Any]]:
    """Files written on every machine before kubeadm runs."""
    return [
        {"path": NETWORK_ENV, "owner": "root:root", "permissions": "0644", "content": _network_env(site, docker)},
        {
            "path": f"{PATCHES_DIR}/kubeletconfiguration+merge.yaml",
            "owner": "root:root",
            "permissions": "0600",
            "content": _kubelet_patch(site),
        },
    ]


def pre_kubeadm_commands() -> list[str]:
    return [DEFAULT_ROUTE, "systemctl start pdn-node-network.service"]


def node_registration() -> dict[str, Any]:
    from pdn.lab.realnodes import CRI_SOCKET, IGNORED_PREFLIGHT

    return {"criSocket": CRI_SOCKET, "ignorePreflightErrors": list(IGNORED_PREFLIGHT), "imagePullPolicy": "Never"}


def etcd_image_tag() -> str:
    from pdn.capi.images import etcd_image_tag as tag

    return tag()


def control_plane_config(site: Site, docker: DockerSettings) -> dict[str, Any]:
    """What the lab adds to the KubeadmControlPlaneTemplate's ``kubeadmConfigSpec``."""
    registration = node_registration()
    return {
        "clusterConfiguration": {"etcd": {"local": {"imageTag": etcd_image_tag()}}},
        "initConfiguration": {"nodeRegistration": registration, "patches": {"directory": PATCHES_DIR}},
        "joinConfiguration": {"nodeRegistration": registration, "patches": {"directory": PATCHES_DIR}},
        "files": machine_files(site, docker),
        "preKubeadmCommands": pre_kubeadm_commands(),
    }


def worker_config(site: Site, docker: DockerSettings) -> dict[str, Any]:
    """What the lab adds to the KubeadmConfigTemplate's spec."""
    return {
        "joinConfiguration": {"nodeRegistration": node_registration(), "patches": {"directory": PATCHES_DIR}},
        "files": machine_files(site, docker),
        "preKubeadmCommands": pre_kubeadm_commands(),
    }


def replicas(site: Site, docker: DockerSettings | None, pool: str | None) -> int:
    """Replicas of the control plane (``pool`` None) or of one worker pool: the site model's, at
    most the lab's cap (what this machine holds), so that scaling a pool in the site model scales
    the lab's machines too, up to the cap."""
    if pool is None:
        model = site.kubernetes.control_plane.replicas
        cap = None if docker is None else docker.control_plane_replicas
        return model if cap is None else min(model, cap)
    model = next(p.replicas for p in site.kubernetes.worker_pools if p.name == pool)
    if docker is None or docker.worker_replicas is None:
        return model
    return min(model, docker.worker_replicas.get(pool, 0))
