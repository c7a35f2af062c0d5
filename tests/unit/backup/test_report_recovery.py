"""The drill report with running apps and recovery targets: RTO to "app answers", RPO of the worst
namespace, missed targets and app problems fail the drill and show in the Markdown."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from pdn.backup.recovery import NamespaceRpo, RpoAssessment
from pdn.backup.report import DrillResult, Phase, to_html, to_markdown

START = datetime(2026, 12, 1, 18, tzinfo=UTC)


def _answers(digest: str = "a" * 64) -> dict[str, dict[str, Any]]:
    return {
        "drill-app-01": {
            "healthz": {"status": 200, "app_id": "drill-app-01"},
            "readyz": {"status": 200},
            "volume": {"status": 200, "files": 300, "bytes": 10_000_000, "digest": digest},
            "entries": {},
            "error": None,
        }
    }


def _result(**changes: Any) -> DrillResult:
    phases = [
        Phase("backup", START, START + timedelta(seconds=4)),
        Phase("restore", START + timedelta(seconds=5), START + timedelta(seconds=25)),
        Phase("verify", START + timedelta(seconds=25), START + timedelta(seconds=27)),
    ]
    result = DrillResult(
        source="cikarang",
        partner="batam",
        namespaces={"tenant-a": "r1-tenant-a"},
        backup_name="drill-1",
        location="to-batam",
        restore_location="from-cikarang",
        phases=phases,
        immutability={"delete locked version": "refused (AccessDenied)"},
        source_answers=_answers(),
        restored_answers=_answers(),
    )
    for key, value in changes.items():
        setattr(result, key, value)
    return result


def _rpo(age: float | None, target: float | None = 75 * 60, namespace: str = "tenant-a") -> NamespaceRpo:
    return NamespaceRpo(namespace, "vital" if target else None, "b-1" if age is not None else None, age, target)


def test_rto_is_restore_plus_verify_without_apps_and_app_answered_time_with_them() -> None:
    assert _result().rto_seconds == 22.0
    assert _result(apps_answered_seconds=41.5).rto_seconds == 41.5
    assert _result(apps_answered_seconds=0.0).rto_seconds == 0.0, "zero is a time, not 'unset'"


def test_rpo_is_the_worst_namespace_else_the_drill_backup_age() -> None:
    assert _result().rpo_seconds is None
    assert _result(drill_backup_age=12.0).rpo_seconds == 12.0
    recovery = RpoAssessment([_rpo(600.0), _rpo(1800.0, namespace="tenant-b")])
    assert _result(recovery=recovery, drill_backup_age=12.0).rpo_seconds == 1800.0
    none_found = RpoAssessment([_rpo(None)])
    assert _result(recovery=none_found, drill_backup_age=12.0).rpo_seconds == 12.0


def test_passing_drill_with_apps_and_targets_met() -> None:
    result = _result(
        recovery=RpoAssessment([_rpo(30 * 60.0)]), rto_target=3600.0, apps_answered_seconds=90.0, drill_backup_age=5.0
    )
    assert result.target_failures == []
    assert result.passed and result.apps_equal == 1
    text = to_markdown(result, None)
    assert "| verdict | PASS |" in text
    assert "RTO (restore start to the last app answering) | 90.0 s (target 60 min)" in text
    assert "## Apps" in text and "| drill-app-01 | 300 | 10000000 |" in text and "| equal |" in text
    assert "Recovery targets missed" not in text
    assert "1/1" in text


def test_missed_rpo_fails_the_drill_and_is_listed() -> None:
    running = _rpo(None, namespace="tenant-c")
    running.not_completed = "vital-to-batam-20261201180000 InProgress"
    result = _result(recovery=RpoAssessment([_rpo(90 * 60.0), _rpo(None, namespace="tenant-b"), running]))
    failures = result.target_failures
    assert failures == [
        "RPO of tenant-a (vital): newest backup 90 min old > target 75 min",
        "RPO of tenant-b (vital): no completed backup > target 75 min",
        "RPO of tenant-c (vital): no completed backup (newest: vital-to-batam-20261201180000 InProgress)"
        " > target 75 min",
    ]
    assert not result.passed
    text = to_markdown(result, None)
    assert "## Recovery targets missed" in text and f"- {failures[0]}" in text and f"- {failures[1]}" in text
    assert "| verdict | FAIL |" in text


def test_missed_rto_fails_the_drill() -> None:
    result = _result(rto_target=60.0, apps_answered_seconds=61.0)
    assert result.target_failures == ["RTO 61 s > target 60 s"]
    assert not result.passed
    assert _result(rto_target=60.0, apps_answered_seconds=60.0).passed, "meeting the target exactly passes"
    assert "- RTO 61 s > target 60 s" in to_markdown(result, None)


def test_untiered_namespace_without_backup_misses_nothing() -> None:
    result = _result(recovery=RpoAssessment([_rpo(None, target=None)]))
    assert result.target_failures == [] and result.passed


def test_app_problems_fail_the_drill_and_show_in_the_apps_table() -> None:
    restored = _answers("b" * 64)
    problem = "drill-app-01: files differ: drill/r/000/file-000001.bin"
    result = _result(restored_answers=restored, app_problems=[problem])
    assert not result.passed and result.target_failures == []
    assert result.apps_equal == 0
    text = to_markdown(result, None)
    assert "DIFFERENT" in text and f"- {problem}" in text and "0/1" in text
    assert "DIFFERENT" in to_html(result, None)


def test_app_missing_on_the_partner_is_not_counted_equal() -> None:
    result = _result(restored_answers={}, app_problems=["drill-app-01: not running after the restore"])
    assert result.apps_equal == 0 and not result.passed
    assert "| DIFFERENT |" in to_markdown(result, None)


def test_no_apps_no_apps_table() -> None:
    result = _result(source_answers={}, restored_answers={})
    text = to_markdown(result, None)
    assert "## Apps" not in text and result.passed
    assert "RTO (restore + verify wall time) | 22.0 s" in text


def test_restored_answers_equal_by_value_not_identity() -> None:
    result = _result(restored_answers=copy.deepcopy(_answers()))
    assert "| equal |" in to_markdown(result, None)
