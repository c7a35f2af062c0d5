"""The drill report says pass only when every object is equal and the backup is immutable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pdn.backup.compare import compare
from pdn.backup.report import DrillResult, Phase, write_report


def result(restored_mode: str, delete_outcome: str) -> DrillResult:
    source = [{"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"mode": "prod"}}]
    restored = [{"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"mode": restored_mode}}]
    start = datetime(2026, 11, 28, tzinfo=UTC)
    phases = [
        Phase("backup", start, start + timedelta(seconds=4)),
        Phase("restore", start + timedelta(seconds=5), start + timedelta(seconds=12)),
        Phase("verify", start + timedelta(seconds=12), start + timedelta(seconds=13)),
    ]
    return DrillResult(
        source="cikarang",
        partner="batam",
        namespaces={"tenant-a": "drill-tenant-a"},
        backup_name="drill-1",
        location="to-batam",
        restore_location="from-cikarang",
        phases=phases,
        comparison=compare(source, restored),
        objects_by_kind={"ConfigMap": 1},
        immutability={"delete locked version": delete_outcome},
        drill_backup_age=13.0,
    )


def test_passing_drill_report(tmp_path: Path) -> None:
    drill = result("prod", "refused (AccessDenied)")
    assert drill.passed and drill.rto_seconds == 8.0
    markdown, page = write_report(drill, tmp_path)
    text = markdown.read_text()
    assert "| verdict | PASS |" in text and "RTO (restore + verify wall time) | 8.0 s" in text
    assert "PASS" in page.read_text() and (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"


def test_difference_or_deletable_backup_fails_the_drill(tmp_path: Path) -> None:
    changed = result("test", "refused (AccessDenied)")
    assert not changed.passed
    markdown, _ = write_report(changed, tmp_path)
    assert "ConfigMap/c data.mode: source='prod' restored='test'" in markdown.read_text()
    assert not result("prod", "DELETED: the locked version could be removed").passed
