"""The disaster-recovery drill for real: Velero backups into the partner's locked bucket, restores on the partner.

Two full drills (cikarang → batam, ikn → labuan-bajo) with a few hundred seeded objects, the
immutability of the backup archive, and a drill whose partner store is down.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pdn.backup import drill, drill_plan, kube, seed, store
from pdn.backup.report import DrillResult
from pdn.lab import endpoints, runtime
from pdn.lab.components import components
from pdn.lab.processes import stop
from pdn.sites import load_sites

SEEDED = 300
FAILING_DRILL = ("--from", "cikarang", "--to", "batam", "--seed", "50")
RESULTS: dict[str, DrillResult] = {}


def _run_drill(source: str, partner: str, report_dir: Path) -> DrillResult:
    if source not in RESULTS:
        RESULTS[source] = drill.run(
            drill_plan.DrillOptions(source=source, partner=partner, seed=SEEDED, report_dir=report_dir), say=print
        )
    return RESULTS[source]


@pytest.mark.parametrize(("source", "partner"), [("cikarang", "batam"), ("ikn", "labuan-bajo")])
def test_full_drill_restores_every_object_equal(
    backup_lab: Any, tmp_path_factory: pytest.TempPathFactory, source: str, partner: str
) -> None:
    folder = tmp_path_factory.mktemp(f"drill-{source}")
    result = _run_drill(source, partner, folder)
    comparison = result.comparison
    # every seeded object plus the namespace itself came back, and each one is equal
    assert comparison.compared == SEEDED + 1
    assert comparison.missing == [] and comparison.differences == []
    assert comparison.equal == SEEDED + 1
    expected = Counter(obj["kind"] for obj in seed.workloads("x", SEEDED, "r"))
    assert {k: v for k, v in result.objects_by_kind.items() if k != "Namespace"} == expected
    assert result.passed
    assert result.rpo_seconds is not None and result.rpo_seconds >= 0
    # the attacks on the locked backup come before the restore, which then reads the attacked backup
    phases = ["velero", "seed", "backup", "sync", "immutability", "restore", "verify"]
    assert [phase.name for phase in result.phases][:7] == phases
    assert result.location == f"to-{partner}" and result.restore_location == f"from-{source}"
    report = (folder / "drill.md").read_text()
    assert "| verdict | PASS |" in report
    assert (folder / "drill.html").is_file() and (folder / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    # cleaned up: the drill namespaces on the partner and the seeded namespace on the source are going
    for target in result.namespaces.values():
        found = kube.namespace(partner, target)
        assert found is None or found["status"]["phase"] == "Terminating"
    for seeded in result.namespaces:
        found = kube.namespace(source, seeded)
        assert found is None or found["status"]["phase"] == "Terminating"
    # the backup itself stays, on the source and (synced) on the partner
    assert kube.velero_get(source, "backups", result.backup_name)["status"]["phase"] == "Completed"
    assert kube.velero_get(partner, "backups", result.backup_name) is not None


def test_backup_archive_in_partner_bucket_is_immutable(
    backup_lab: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = _run_drill("cikarang", "batam", tmp_path_factory.mktemp("drill-cikarang"))
    assert result.immutability["delete the locked version"].startswith("refused")
    assert result.immutability["overwrite the archive"].startswith("intact")
    assert result.lock.startswith(("GOVERNANCE", "COMPLIANCE"))
    # independently of the drill's own check: try again with plain boto3
    s3 = store.client("batam")
    bucket, key = store.bucket_name("cikarang"), store.archive_key(result.backup_name)
    versions = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key]
    oldest = min(versions, key=lambda v: v["LastModified"])
    original = s3.get_object(Bucket=bucket, Key=key, VersionId=oldest["VersionId"])["Body"].read()
    with pytest.raises(Exception) as refused:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=oldest["VersionId"])
    assert "WORM" in store.error_text(refused.value) or store.error_code(refused.value) == "AccessDenied"
    proof = store.prove_immutable("batam", bucket, key)
    assert proof.outcomes["delete the locked version"].startswith("refused")
    assert proof.outcomes["overwrite the archive"].startswith("intact")
    again = s3.get_object(Bucket=bucket, Key=key, VersionId=oldest["VersionId"])["Body"].read()
    assert hashlib.sha256(again).hexdigest() == hashlib.sha256(original).hexdigest()
    # the current version carries the original bytes again, so the backup still restores
    current = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert current == original


def _source_state(site: str) -> tuple[set[str], set[str]]:
    namespaces = {item["metadata"]["name"] for item in kube.list_items(site, "/api/v1/namespaces")}
    backups = {item["metadata"]["name"] for item in kube.velero_list(site, "backups")}
    return namespaces, backups


def test_drill_against_a_stopped_partner_store_fails_cleanly(backup_lab: Any) -> None:
    minio = components(load_sites().site("batam"), strict=False)["minio"]
    before = _source_state("cikarang")
    stop(minio.spec)
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from pdn.cli import main; main()", "backup", "drill", *FAILING_DRILL],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        runtime.up(["batam"])
    assert done.returncode == 1, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "batam" in message and endpoints.s3_endpoint("batam") in message, message
    assert "Traceback" not in done.stderr and message.count("error:") == 1
    assert _source_state("cikarang") == before
    store.check_bucket("batam", store.bucket_name("cikarang"))  # the store is back
