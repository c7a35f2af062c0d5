"""The ``pdn:`` stack config comes from one model: the program reads every key the model has, the
guide documents exactly those, and one vocabulary of classes and tiers serves stacks and migration."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO / "infra") not in sys.path:
    sys.path.insert(0, str(REPO / "infra"))

from pdn.errors import InputError  # noqa: E402
from pdn_infra.program import read_settings  # noqa: E402
from pdn_infra.settings import config_keys  # noqa: E402

# A value for every key, none of them a default: read_settings must hand each one to the model.
EVERY_KEY: dict[str, Any] = {
    "site": "ikn",
    "tenants": [{"name": "Badan Siber", "kind": "agency", "tier": "vital", "classification": "restricted"}],
    "kubeconfig": "/etc/pdn/kubeconfig",
    "kubeContext": "pdn-ikn",
    "clusterIdentifier": "pdn-ikn-blue",
    "s3Endpoints": {"ikn": "https://s3.example.invalid"},
    "s3Regions": {"ikn": "id-ikn-2"},
    "s3ClusterEndpoints": {"ikn": "http://10.250.3.1:9103"},
    "installCrds": True,
    "crdDir": "/srv/crds",
    "backup": {"retentionDays": 7, "forceDestroy": True},
    "infrastructure": {"clusterTemplateKind": "OtherClusterTemplate"},
    "workloadCluster": "cluster-api",
}


def _read(values: dict[str, Any]) -> Any:
    flat = {f"pdn:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}
    pulumi.runtime.set_all_config(flat)
    return read_settings(pulumi.Config("pdn"))


def test_every_model_key_is_read() -> None:
    assert set(EVERY_KEY) == set(config_keys()), "EVERY_KEY must cover the model's keys"
    settings = _read(EVERY_KEY)
    assert settings.model_dump(by_alias=True, exclude_unset=True, mode="json") == {
        **EVERY_KEY,
        "tenants": [{"name": "Badan Siber", "kind": "agency", "tier": "vital", "classification": "restricted"}],
    }


def test_a_key_the_model_does_not_have_is_never_read() -> None:
    settings = _read({"site": "ikn", "tierOverrides": {"vital": {"quotaCpu": "1"}}})
    assert "tierOverrides" not in settings.model_dump(by_alias=True)
    with pytest.raises(InputError, match=r"pdn:tierOverrides"):
        from pdn_infra.settings import parse_settings

        parse_settings({"site": "ikn", "tierOverrides": {}})


def test_the_guide_documents_exactly_the_model_keys() -> None:
    text = (REPO / "docs" / "stacks.md").read_text(encoding="utf-8")
    table = text.split("### Stack config (`pdn:` namespace)", 1)[1].split("\n## ", 1)[0]
    documented = {
        key
        for line in table.splitlines()
        if line.startswith("| `")
        for key in re.findall(r"`(\w+)`", line.split("|")[1])
    }
    assert documented == set(config_keys()) | {"s3Credentials"}
    assert "tierOverrides" not in (REPO / "infra" / "pdn_infra" / "tiers.py").read_text(encoding="utf-8")


def test_one_vocabulary_for_stacks_and_migration() -> None:
    from pdn.migrate import schema
    from pdn.sites import vocabulary
    from pdn.sites.model import BackupPartner
    from pdn_infra import settings, tiers

    assert settings.Classification is schema.Classification is vocabulary.Classification
    assert settings.Tier is tiers.Tier is schema.Criticality is vocabulary.Tier
    assert set(tiers.PROFILES) == set(vocabulary.Tier)
    assert BackupPartner(site="ikn").tiers == [vocabulary.Tier(name) for name in ("vital", "high", "medium", "low")]
