"""Every custom object the program creates is valid against the pinned CRD's OpenAPI schema.

The lab's API server is the real judge; this catches wrong field names, types, enums and
required fields without a cluster (``x-kubernetes-*`` keywords are ignored here). Skipped until
``pdn stacks crds`` has filled the cache.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema
import pytest
from harness import Registered

from pdn.stacks.crds import crd_cache_dir, needed_crds

_VALIDATORS: dict[tuple[str, str], Any] = {}


def _validator(key: tuple[str, str]) -> Any:
    if key not in _VALIDATORS:
        schema = _closed(_schemas()[key])
        schema["properties"]["metadata"] = {"type": "object"}
        _VALIDATORS[key] = jsonschema.Draft7Validator(schema)
    return _VALIDATORS[key]


@functools.cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    try:
        found = needed_crds(crd_cache_dir())
    except Exception:
        pytest.skip("CRD cache empty: run `pdn stacks crds`")
    schemas = {}
    for _, doc in found:
        for version in doc["spec"]["versions"]:
            api_version = f"{doc['spec']['group']}/{version['name']}"
            schemas[(api_version, doc["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def _closed(schema: Any) -> Any:
    """Reject unknown fields like a structural schema prunes them (so typos show up)."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def test_custom_objects_match_crd_schemas(resources: list[Registered]) -> None:
    schemas = _schemas()
    checked = 0
    for r in resources:
        if not (r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs):
            continue
        key = (r.inputs["apiVersion"], r.inputs["kind"])
        if key not in schemas:
            continue
        body = {k: v for k, v in r.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}
        body["metadata"] = {k: v for k, v in body["metadata"].items() if k in ("name", "namespace")}
        errors = list(_validator(key).iter_errors(body))
        assert not errors, f"{r.name}: {errors[0].message} at {list(errors[0].absolute_path)}"
        checked += 1
    assert checked >= 6


def test_schema_check_catches_a_typo(resources: list[Registered]) -> None:
    cluster = next(r for r in resources if r.custom and r.inputs.get("kind") == "Cluster")
    body = copy.deepcopy({k: cluster.inputs[k] for k in ("apiVersion", "kind", "spec")})
    body["spec"]["topology"]["controlPlane"]["replica"] = 3
    _schemas()
    assert list(_validator(("cluster.x-k8s.io/v1beta2", "Cluster")).iter_errors(body))
