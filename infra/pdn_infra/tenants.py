"""Tenant platform baseline: one locked-down namespace per tenant in the workload cluster.

Each tenant gets Pod Security Admission ``restricted`` in every mode, default-deny ingress and
egress with DNS (and traffic inside the namespace) allowed, a ResourceQuota and a LimitRange
sized by its tier, and two roles (tenant-admin, read-only) bound to groups of the identity
provider. Labels carry tenant, site, tier and data classification for the policy pack, the
backup schedules and the migration tooling.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from pdn.sites.model import Site
from pdn.sites.vocabulary import Tier
from pdn_infra import labels as L
from pdn_infra.settings import TenantConfig
from pdn_infra.tiers import PROFILES

# Verbs a tenant admin gets inside its namespace. No escalate/bind/impersonate, no access to
# ResourceQuota/LimitRange/NetworkPolicy objects that the platform owns (read-only there).
ADMIN_RULES: list[tuple[list[str], list[str], list[str]]] = [
    (
        [""],
        [
            "pods",
            "pods/log",
            "pods/exec",
            "pods/portforward",
            "services",
            "endpoints",
            "configmaps",
            "secrets",
            "persistentvolumeclaims",
            "serviceaccounts",
            "events",
        ],
        ["get", "list", "watch", "create", "update", "patch", "delete"],
    ),
    (
        ["apps"],
        ["deployments", "statefulsets", "replicasets", "daemonsets", "deployments/scale", "statefulsets/scale"],
        ["get", "list", "watch", "create", "update", "patch", "delete"],
    ),
    (["batch"], ["jobs", "cronjobs"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    (["autoscaling"], ["horizontalpodautoscalers"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    (["networking.k8s.io"], ["ingresses"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    (["policy"], ["poddisruptionbudgets"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
    ([""], ["resourcequotas", "limitranges"], ["get", "list", "watch"]),
    (["networking.k8s.io"], ["networkpolicies"], ["get", "list", "watch"]),
    (["rbac.authorization.k8s.io"], ["roles", "rolebindings"], ["get", "list", "watch"]),
]
READER_RULES: list[tuple[list[str], list[str], list[str]]] = [
    (
        [""],
        [
            "pods",
            "pods/log",
            "services",
            "endpoints",
            "configmaps",
            "persistentvolumeclaims",
            "events",
            "resourcequotas",
            "limitranges",
        ],
        ["get", "list", "watch"],
    ),
    (["apps", "batch", "autoscaling", "networking.k8s.io", "policy"], ["*"], ["get", "list", "watch"]),
]


@dataclass(frozen=True)
class TenantPlatformArgs:
    site: Site
    tenants: list[TenantConfig]


def tenant_labels(site: Site, tenant: TenantConfig) -> dict[str, str]:
    return {
        L.TENANT: tenant.slug,
        L.SITE: site.id,
        L.TIER: tenant.tier.value,
        L.CLASSIFICATION: tenant.classification.value,
        f"{L.DOMAIN}/tenant-kind": tenant.kind.value,
        L.MANAGED_BY: "pulumi",
    }


def _rules(rules: list[tuple[list[str], list[str], list[str]]]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [k8s.rbac.v1.PolicyRuleArgs(api_groups=g, resources=r, verbs=v) for g, r, v in rules]


class Tenant(pulumi.ComponentResource):
    """One tenant's namespace and everything that locks it down."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, site: Site, tenant: TenantConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pdn:infra:Tenant", name, None, opts)
        ns_name = L.tenant_namespace(tenant.name)
        labels = tenant_labels(site, tenant)
        profile = PROFILES[Tier(tenant.tier)]
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ns_name,
                labels={**labels, **L.psa_labels()},
                annotations={f"{L.DOMAIN}/tenant-name": tenant.name},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        opts_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns_name, labels=labels)

        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=opts_ns,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=meta("allow-dns"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            ),
            opts=opts_ns,
        )
        same_namespace = [k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-same-namespace",
            metadata=meta("allow-same-namespace"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=same_namespace)],
                egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=same_namespace)],
            ),
            opts=opts_ns,
        )
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("tenant-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": profile.quota_cpu,
                    "limits.cpu": profile.quota_cpu,
                    "requests.memory": profile.quota_memory,
                    "limits.memory": profile.quota_memory,
                    "pods": str(profile.quota_pods),
                    "persistentvolumeclaims": str(profile.quota_pvcs),
                    "requests.storage": profile.quota_storage,
                    "services.nodeports": "0",
                    "services.loadbalancers": "0",
                }
            ),
            opts=opts_ns,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("tenant-limits"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default={"cpu": profile.default_cpu, "memory": profile.default_memory},
                        default_request={"cpu": profile.default_request_cpu, "memory": profile.default_request_memory},
                        max={"cpu": profile.max_cpu, "memory": profile.max_memory},
                    )
                ]
            ),
            opts=opts_ns,
        )
        for role, rules, groups in (
            ("tenant-admin", ADMIN_RULES, tenant.admins()),
            ("tenant-read-only", READER_RULES, tenant.readers()),
        ):
            role_resource = k8s.rbac.v1.Role(f"{name}-{role}", metadata=meta(role), rules=_rules(rules), opts=opts_ns)
            k8s.rbac.v1.RoleBinding(
                f"{name}-{role}-binding",
                metadata=meta(role),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=role),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(kind="Group", name=group, api_group="rbac.authorization.k8s.io")
                    for group in groups
                ],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role_resource]),
            )
        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})


class TenantPlatform(pulumi.ComponentResource):
    """All tenants of one site."""

    namespaces: pulumi.Output[list[str]]

    def __init__(self, name: str, args: TenantPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pdn:infra:TenantPlatform", name, None, opts)
        self.tenants = [
            Tenant(f"{name}-{tenant.slug}", args.site, tenant, pulumi.ResourceOptions(parent=self))
            for tenant in args.tenants
        ]
        self.namespaces = pulumi.Output.all(*[tenant.namespace for tenant in self.tenants])
        self.register_outputs({"namespaces": self.namespaces})
