"""The site's workload cluster as Cluster API makes it: its provider, and its pod network.

With ``workloadCluster: cluster-api`` the stack does not receive the site's cluster: it asks
Cluster API for it (:class:`pdn_infra.cluster.SiteCluster`) and then reaches it with the
kubeconfig Cluster API keeps in the Secret ``<cluster>-kubeconfig`` next to the Cluster, once
the control plane has been initialised (the Cluster waits for that condition). On that cluster
the stack installs the pod network first (kube-router, routing and NetworkPolicy, as on every lab
node; CoreDNS answering the cluster's own names only), then the tenant platform and backup
policy go there.
"""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pdn.sites.model import Site

#: What the Cluster says once Cluster API has written the workload kubeconfig. Not the condition
#: ``ControlPlaneInitialized``: Cluster API never advances that condition's observedGeneration
#: once it holds, and Pulumi's condition wait (as ``kubectl wait``) requires it to match the
#: object's generation, so every later update of the Cluster (a pool scaled) waited for ever.
READY_CONDITION = "jsonpath={.status.initialization.controlPlaneInitialized}=true"


def _kubeconfig(data: Any) -> str:
    value = (data or {}).get("value") if isinstance(data, dict) else None
    return base64.b64decode(value).decode("utf-8") if value else ""


def workload_provider(
    name: str, site: Site, namespace: str, cluster: pulumi.Resource, management: k8s.Provider
) -> k8s.Provider:
    """A provider for the cluster Cluster API made for ``site`` (its kubeconfig is a secret)."""
    secret_id = cluster.id.apply(lambda _: f"{namespace}/{site.id}-kubeconfig")
    secret = k8s.core.v1.Secret.get(
        f"{name}-kubeconfig",
        secret_id,
        opts=pulumi.ResourceOptions(provider=management, depends_on=[cluster]),
    )
    kubeconfig = pulumi.Output.secret(secret.data.apply(_kubeconfig))
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig,
        cluster_identifier=f"pdn-{site.id}-workload",
        enable_server_side_apply=True,
    )


class NetworkAddons(pulumi.ComponentResource):
    """kube-router (pod routes and NetworkPolicy) and CoreDNS for the cluster's own names."""

    def __init__(
        self,
        name: str,
        api_endpoint: pulumi.Output[Any],
        kube_router_image: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pdn:infra:NetworkAddons", name, None, opts)
        from pdn.lab.kube_addons import COREFILE, KUBE_SYSTEM, kube_router_manifest

        child = pulumi.ResourceOptions(parent=self)
        host = api_endpoint.apply(lambda endpoint: str((endpoint or {}).get("host", "")))
        port = api_endpoint.apply(lambda endpoint: int((endpoint or {}).get("port", 6443)))
        objects = pulumi.Output.all(host, port).apply(
            lambda values: kube_router_manifest(kube_router_image, values[0], values[1])
        )
        self.resources: list[pulumi.Resource] = [
            k8s.yaml.v2.ConfigGroup(f"{name}-kube-router", objs=objects, opts=child),
        ]
        self.resources.append(
            k8s.core.v1.ConfigMapPatch(
                f"{name}-coredns",
                # kubeadm wrote the Corefile: take the field over from its manager
                metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                    name="coredns", namespace=KUBE_SYSTEM, annotations={"pulumi.com/patchForce": "true"}
                ),
                data={"Corefile": COREFILE},
                opts=child,
            )
        )
        self.register_outputs({})
