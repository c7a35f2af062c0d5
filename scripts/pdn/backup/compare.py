"""Compare the objects of a source namespace with what a restore produced on the partner site.

A restore is correct when every object that was backed up comes back with the same spec, labels,
annotations that users set, and configuration data. Fields that the API server or Velero own
(uids, resource versions, timestamps, status, allocated cluster IPs, restore labels) differ by
design and are removed before comparing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ObjectKey = tuple[str, str]  # (kind, name) inside one namespace

SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "namespace",
)
# Annotations and labels written by tools rather than by the tenant.
TOOL_PREFIXES = (
    "velero.io/",
    "kubectl.kubernetes.io/",
    "deployment.kubernetes.io/",
    "pv.kubernetes.io/",
    # The scheduler and the volume provisioner: a restored claim binds on a node of the partner.
    "volume.kubernetes.io/",
    "volume.beta.kubernetes.io/",
)
# Labels the API server sets from the object's own name (a restored namespace has a new name).
SERVER_LABELS = ("kubernetes.io/metadata.name",)
# Spec fields the cluster allocates; a restore gets new values by design.
ALLOCATED_SPEC = {
    "Service": ("clusterIP", "clusterIPs"),
    "PersistentVolumeClaim": ("volumeName",),
}


def _without_tool_keys(values: Mapping[str, str] | None) -> dict[str, str]:
    return {
        key: value
        for key, value in (values or {}).items()
        if not key.startswith(TOOL_PREFIXES) and key not in SERVER_LABELS
    }


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object a restore must preserve."""
    clean = copy.deepcopy(dict(obj))
    clean.pop("status", None)
    metadata = clean.setdefault("metadata", {})
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    for key in ("labels", "annotations"):
        kept = _without_tool_keys(metadata.get(key))
        if kept:
            metadata[key] = kept
        else:
            metadata.pop(key, None)
    spec = clean.get("spec")
    if isinstance(spec, dict):
        for name in ALLOCATED_SPEC.get(str(clean.get("kind")), ()):
            spec.pop(name, None)
    return clean


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    return (str(obj.get("kind")), str(obj.get("metadata", {}).get("name")))


@dataclass(frozen=True)
class Difference:
    kind: str
    name: str
    path: str
    source: Any
    restored: Any

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} {self.path}: source={self.source!r} restored={self.restored!r}"


@dataclass
class Comparison:
    compared: int = 0
    equal: int = 0
    missing: list[ObjectKey] = field(default_factory=list)
    unexpected: list[ObjectKey] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.differences)


def _walk(kind: str, name: str, path: str, source: Any, restored: Any) -> Iterable[Difference]:
    if isinstance(source, dict) and isinstance(restored, dict):
        for key in sorted(set(source) | set(restored)):
            yield from _walk(kind, name, f"{path}.{key}" if path else key, source.get(key), restored.get(key))
    elif isinstance(source, list) and isinstance(restored, list) and len(source) == len(restored):
        for index, (left, right) in enumerate(zip(source, restored, strict=True)):
            yield from _walk(kind, name, f"{path}[{index}]", left, right)
    elif source != restored:
        yield Difference(kind, name, path, source, restored)


def compare(source: Iterable[Mapping[str, Any]], restored: Iterable[Mapping[str, Any]]) -> Comparison:
    """Match objects by (kind, name) and report every field that differs after normalisation."""
    left = {key_of(obj): normalize(obj) for obj in source}
    right = {key_of(obj): normalize(obj) for obj in restored}
    result = Comparison(compared=len(left))
    result.missing = sorted(set(left) - set(right))
    result.unexpected = sorted(set(right) - set(left))
    for key in sorted(set(left) & set(right)):
        found = list(_walk(key[0], key[1], "", left[key], right[key]))
        result.differences.extend(found)
        if not found:
            result.equal += 1
    return result


def compare_namespaces(
    pairs: Iterable[tuple[str, Iterable[Mapping[str, Any]], Iterable[Mapping[str, Any]]]],
) -> Comparison:
    """Compare several namespaces at once: ``(source namespace, source objects, restored objects)``.

    Names in the result are ``<source namespace>/<name>``, so one report covers every namespace.
    """
    total = Comparison()
    for namespace, source, restored in pairs:
        part = compare(source, restored)
        total.compared += part.compared
        total.equal += part.equal
        total.missing += [(kind, f"{namespace}/{name}") for kind, name in part.missing]
        total.unexpected += [(kind, f"{namespace}/{name}") for kind, name in part.unexpected]
        total.differences += [
            Difference(d.kind, f"{namespace}/{d.name}", d.path, d.source, d.restored) for d in part.differences
        ]
    return total
