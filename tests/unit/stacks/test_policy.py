"""The policy pack blocks a fixture for each rule and passes the four real stacks."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import REPO, Registered

sys.path.insert(0, str(REPO / "infra" / "policy"))

import pdn_rules
from pdn_rules import Context, Res, check_all

from pdn.sites import load_sites

CTX = Context(model=load_sites())


def to_res(resources: list[Registered]) -> list[Res]:
    """Registered mock resources as the policy pack sees them (secrets unwrapped)."""
    return [Res(r.type, r.name, copy.deepcopy(r.inputs), f"urn:{r.name}") for r in resources if r.custom]


def test_real_stacks_pass(resources: list[Registered], site_id: str) -> None:
    assert check_all(to_res(resources), CTX) == []


def _named(res: list[Res], kind: str, name: str) -> Res:
    return next(r for r in res if r.kind == kind and r.object_name == name)


def _set(res: list[Res], target: Res, props: dict[str, Any]) -> list[Res]:
    return [Res(r.type, r.name, props, r.urn) if r is target else r for r in res]


def drop_schedules(res: list[Res]) -> list[Res]:
    return [r for r in res if r.kind != "Schedule"]


def schedules_to_self(res: list[Res]) -> list[Res]:
    out = []
    for r in res:
        if r.kind == "BackupStorageLocation" and r.spec.get("accessMode") == "ReadWrite":
            props = copy.deepcopy(dict(r.props))
            props["metadata"]["labels"]["pdn.go.id/target-site"] = r.labels["pdn.go.id/site"]
            r = Res(r.type, r.name, props, r.urn)
        out.append(r)
    return out


def foreign_writable(res: list[Res]) -> list[Res]:
    target = next(r for r in res if r.kind == "BackupStorageLocation" and r.object_name.startswith("from-"))
    props = copy.deepcopy(dict(target.props))
    props["spec"]["accessMode"] = "ReadWrite"
    return _set(res, target, props)


def drop_quota(res: list[Res]) -> list[Res]:
    victim = next(r for r in res if r.kind == "ResourceQuota")
    return [r for r in res if r is not victim]


def drop_limits(res: list[Res]) -> list[Res]:
    victim = next(r for r in res if r.kind == "LimitRange")
    return [r for r in res if r is not victim]


def weaken_default_deny(res: list[Res]) -> list[Res]:
    target = next(r for r in res if r.kind == "NetworkPolicy" and r.object_name == "default-deny")
    props = copy.deepcopy(dict(target.props))
    props["spec"]["policyTypes"] = ["Ingress"]
    return _set(res, target, props)


def psa_baseline(res: list[Res]) -> list[Res]:
    target = next(r for r in res if r.kind == "Namespace" and r.object_name.startswith("tenant-"))
    props = copy.deepcopy(dict(target.props))
    props["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"
    return _set(res, target, props)


def _workload(namespace: str, pod_spec: dict[str, Any], kind: str = "Deployment") -> Res:
    spec: dict[str, Any] = {"template": {"spec": pod_spec}} if kind != "Pod" else pod_spec
    return Res(
        f"kubernetes:apps/v1:{kind}",
        "bad",
        {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "bad", "namespace": namespace}, "spec": spec},
        "urn:bad",
    )


def privileged_pod(res: list[Res]) -> list[Res]:
    ns = next(r.object_name for r in res if r.kind == "Namespace" and r.object_name.startswith("tenant-"))
    return [*res, _workload(ns, {"containers": [{"name": "c", "securityContext": {"privileged": True}}]})]


def host_network_pod(res: list[Res]) -> list[Res]:
    ns = next(r.object_name for r in res if r.kind == "Namespace" and r.object_name.startswith("tenant-"))
    return [*res, _workload(ns, {"hostNetwork": True, "containers": [{"name": "c"}]}, kind="Pod")]


def foreign_endpoint(res: list[Res]) -> list[Res]:
    target = next(r for r in res if r.kind == "BackupStorageLocation" and r.object_name.startswith("to-"))
    props = copy.deepcopy(dict(target.props))
    props["spec"]["config"]["s3Url"] = "https://s3.ap-southeast-1.amazonaws.com"
    return _set(res, target, props)


def foreign_bucket(res: list[Res]) -> list[Res]:
    target = next(r for r in res if r.type == pdn_rules.DYNAMIC)
    props = copy.deepcopy(dict(target.props))
    props["endpoint"] = "https://storage.example.sg"
    return _set(res, target, props)


FIXTURES: list[tuple[str, Callable[[list[Res]], list[Res]]]] = [
    ("offsite-backup-schedule", drop_schedules),
    ("offsite-backup-schedule", schedules_to_self),
    ("no-self-only-backup", schedules_to_self),
    ("foreign-buckets-read-only", foreign_writable),
    ("tenant-namespace-baseline", drop_quota),
    ("tenant-namespace-baseline", drop_limits),
    ("tenant-namespace-baseline", weaken_default_deny),
    ("tenant-namespace-baseline", psa_baseline),
    ("no-privileged-tenant-pods", privileged_pod),
    ("no-privileged-tenant-pods", host_network_pod),
    ("data-residency", foreign_endpoint),
    ("data-residency", foreign_bucket),
]


@pytest.mark.parametrize(("rule", "mutate"), FIXTURES, ids=[f"{r}-{m.__name__}" for r, m in FIXTURES])
def test_rule_blocks_fixture(rule: str, mutate: Callable[[list[Res]], list[Res]], resources: list[Registered]) -> None:
    violations = check_all(mutate(to_res(resources)), CTX)
    assert rule in {v.rule for v in violations}, violations


def test_every_rule_has_a_fixture() -> None:
    assert {rule for rule, _ in FIXTURES} == set(pdn_rules.RULES)


def test_self_only_buckets_blocked(resources: list[Registered]) -> None:
    res = to_res(resources)
    site = pdn_rules.stack_site(res)
    out = []
    for r in res:
        if r.type == pdn_rules.DYNAMIC:
            props = copy.deepcopy(dict(r.props))
            props["tags"]["pdn.go.id/target-site"] = site
            r = Res(r.type, r.name, props, r.urn)
        out.append(r)
    assert "no-self-only-backup" in {v.rule for v in check_all(out, CTX)}


def test_lab_endpoints_allowed_only_when_declared(resources: list[Registered]) -> None:
    res = to_res(resources)
    target = next(r for r in res if r.kind == "BackupStorageLocation")
    props = copy.deepcopy(dict(target.props))
    props["spec"]["config"]["s3Url"] = "http://127.0.0.1:9101"
    changed = _set(res, target, props)
    assert "data-residency" in {v.rule for v in check_all(changed, CTX)}
    lab = Context(model=CTX.model, lab_endpoints={"http://127.0.0.1:9101": "batam"})
    assert "data-residency" not in {v.rule for v in check_all(changed, lab)}


def test_restricted_pod_in_tenant_namespace_passes(resources: list[Registered]) -> None:
    res = to_res(resources)
    ns = next(r.object_name for r in res if r.kind == "Namespace" and r.object_name.startswith("tenant-"))
    good = _workload(ns, {"containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False}}]})
    assert check_all([*res, good], CTX) == []


def test_policy_pack_files_exist() -> None:
    pack = Path(REPO / "infra" / "policy")
    assert (pack / "PulumiPolicy.yaml").is_file() and (pack / "__main__.py").is_file()
