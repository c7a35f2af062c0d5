"""PDN policy pack: run with ``pulumi preview --policy-pack infra/policy`` (or ``pdn stacks``).

Every rule is MANDATORY. Rules live in :mod:`pdn_rules`; this module adapts them to
``pulumi_policy``. Policy config ``{"data-residency": {"labEndpoints": {URL: SITE}}}`` lets a lab
or CI object store stand in for a site's endpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pdn_rules
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from pdn.sites import load_sites

PER_RESOURCE = {"no-privileged-tenant-pods"}  # checked per resource: names the offending resource


def _context(config: Any) -> pdn_rules.Context:
    lab = dict((config or {}).get("labEndpoints") or {})
    return pdn_rules.Context(model=load_sites(), lab_endpoints={k.rstrip("/"): v for k, v in lab.items()})


def _stack_policy(rule_id: str, description: str, rule: pdn_rules.Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [pdn_rules.Res(r.resource_type, r.name, r.props, r.urn) for r in args.resources]
        for violation in rule(resources, _context(args.get_config())):
            report(violation.message, violation.urn or None)

    schema = None
    if rule_id == "data-residency":
        from pulumi_policy import PolicyConfigSchema

        schema = PolicyConfigSchema(properties={"labEndpoints": {"type": "object"}})
    return StackValidationPolicy(
        name=rule_id,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema,
    )


def _pod_policy() -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        resource = pdn_rules.Res(args.resource_type, args.name, args.props, args.urn)
        for violation in pdn_rules.pod_violations(resource):
            report(violation.message)

    return ResourceValidationPolicy(
        name="no-privileged-tenant-pods",
        description="No privileged or host-namespace pods in tenant namespaces (checked per resource).",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


PolicyPack(
    name="pdn-policy",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *(_stack_policy(rid, desc, rule) for rid, (desc, rule) in pdn_rules.RULES.items() if rid not in PER_RESOURCE),
        _pod_policy(),
    ],
)
