"""The smoke check: probe pods are restricted, verdicts follow what the app answered, the runbook
shows the evidence, and issued credentials are scoped to one bucket."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from podsecurity import restricted_violations

from pdn.errors import InputError
from pdn.migrate import appcreds, probe, smoke

APP = smoke.AppService("APP-000001", "tenant-a", "app-000001", "Deployment", 1)
EXPECTED = {"part-000.bin": "a" * 64, "part-001.bin": "b" * 64}


def test_probe_pods_meet_restricted() -> None:
    pod = smoke.probe_pod("tenant-a", "smoke-1", ["http://x/healthz"], 5.0, smoke.PROBE_IMAGE)
    assert restricted_violations(pod["spec"]) == []
    assert pod["spec"]["restartPolicy"] == "Never" and pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["containers"][0]["args"][-1] == "http://x/healthz"


def _answers(objects: int, hashes: dict[str, str], config_app: str = APP.app_id) -> list[dict[str, Any]]:
    return [
        {"status": 200, "body": {"status": "ok"}},
        {"status": 200, "body": {"app_id": config_app, "site": "cikarang"}},
        {"status": 200, "body": {"objects": objects}},
        *({"status": 200, "body": {"sha256": hashes[key]}} for key in sorted(EXPECTED)),
    ]


def test_a_faithful_app_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_probe(_client: Any, namespace: str, urls: list[str], **_: Any) -> list[dict[str, Any]]:
        assert namespace == APP.namespace
        seen.append(urls)
        return _answers(2, EXPECTED)

    monkeypatch.setattr(smoke, "run_probe", fake_probe)
    evidence = smoke.smoke_app(None, "cikarang", APP, EXPECTED, 3.25)  # type: ignore[arg-type]
    assert evidence.passed and evidence.sha256_matching == 2 and evidence.ready_seconds == 3.2
    assert seen[0][-1].endswith("/data/sha256?key=part-001.bin")
    assert seen[0][0] == "http://app-000001.tenant-a.svc.cluster.local/healthz"


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        (_answers(2, {**EXPECTED, "part-001.bin": "c" * 64}), "part-001.bin: SHA-256"),
        (_answers(1, EXPECTED), "/data lists 1 objects"),
        (_answers(2, EXPECTED, config_app="APP-999999"), "/config"),
        ([{"status": None, "error": "timeout"}, *_answers(2, EXPECTED)[1:]], "/healthz"),
    ],
)
def test_a_wrong_answer_fails_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, answers: list[dict[str, Any]], problem: str
) -> None:
    monkeypatch.setattr(smoke, "run_probe", lambda *_a, **_k: answers)
    evidence = smoke.smoke_app(None, "cikarang", APP, EXPECTED, 1.0)  # type: ignore[arg-type]
    assert not evidence.passed
    assert any(problem in line for line in evidence.problems), evidence.problems


def test_evidence_round_trips_and_keys_are_escaped_in_the_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    expected = {"a b/c&d.bin": "d" * 64}
    urls: list[str] = []

    def fake_probe(_client: Any, _namespace: str, given: list[str], **_: Any) -> list[dict[str, Any]]:
        urls.extend(given)
        return [*_answers(1, EXPECTED)[:3], {"status": 200, "body": {"sha256": "d" * 64}}]

    monkeypatch.setattr(smoke, "run_probe", fake_probe)
    evidence = smoke.smoke_app(None, "cikarang", APP, expected, 1.0)  # type: ignore[arg-type]
    assert urls[-1].endswith("?key=a%20b%2Fc%26d.bin")
    smoke.write_evidence(tmp_path, evidence)
    [(app_id, found)] = smoke.read_evidence(tmp_path, [APP.app_id, "APP-000002"]).items()
    assert app_id == APP.app_id and found["passed"] is True and found["sha256_matching"] == 1


def test_probe_reports_unreachable_urls_as_results(capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.main(["--timeout", "0.5", "http://127.0.0.1:9/healthz"]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["status"] is None and "error" in result


def test_credentials_policy_names_one_bucket_and_reads_only() -> None:
    policy = appcreds.read_only_policy("app-000001")
    actions = {action for statement in policy["Statement"] for action in statement["Action"]}
    resources = {resource for statement in policy["Statement"] for resource in statement["Resource"]}
    assert actions == {"s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"}
    assert resources == {"arn:aws:s3:::app-000001", "arn:aws:s3:::app-000001/*"}
    with pytest.raises(InputError):
        appcreds.read_only_policy('x", "Resource": "*')
    secret = appcreds.secret_object("tenant-a", "app-s3", {}, {"AWS_ACCESS_KEY_ID": "k"})
    assert secret["data"] == {"AWS_ACCESS_KEY_ID": "aw=="} and "stringData" not in secret
