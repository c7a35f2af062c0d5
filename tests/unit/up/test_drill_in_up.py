"""The main job's drill: its partner runs real nodes, it brings an app back, the summary shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pdn import up, upsummary
from pdn.backup.drill_record import write_all
from pdn.backup.report import DrillResult, Phase


def test_the_drill_partner_gets_real_nodes_too(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(up, "_pdn", lambda *args: calls.append(args))
    plan = up.plan_sites(["cikarang"])
    up._lab_up(plan, nodes=1)
    real = next(call for call in calls if "--real-nodes" in call)
    assert {"cikarang", plan.drill_to} <= set(real) and "ikn" not in real
    kwok = next(call for call in calls if "--real-nodes" not in call)
    assert "ikn" in kwok and plan.drill_to not in kwok
    calls.clear()
    up._lab_up(plan, nodes=0)  # without real nodes nobody gets them
    assert all("--real-nodes" not in call for call in calls)


def test_the_summary_reads_the_drill_verdict_back(tmp_path: Path) -> None:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    result = DrillResult("cikarang", "batam", {"drill-1": "r1-drill-1"}, "b", "to-batam", "from-cikarang")
    result.phases = [Phase("restore", start, start + timedelta(seconds=20))]
    volume = {"status": 200, "files": 302, "bytes": 10_000_114, "digest": "ab"}
    answer = {"healthz": {"status": 200}, "readyz": {"status": 200}, "volume": volume, "entries": {}, "error": None}
    result.source_answers = {"drill-app-01": answer}
    result.restored_answers = {"drill-app-01": answer}
    result.apps_answered_seconds = 24.5
    result.drill_backup_age = 60.0
    write_all(result, tmp_path / "drill")
    drill = upsummary.drill_summary(tmp_path / "drill" / "drill.json")
    assert drill is not None and drill.passed
    assert (drill.apps, drill.files, drill.rto_seconds, drill.rpo_seconds) == ("1/1", 302, 24.5, 60.0)
    result.app_problems = ["drill-app-01: files differ: a.bin"]
    write_all(result, tmp_path / "drill")
    failed = upsummary.drill_summary(tmp_path / "drill" / "drill.json")
    assert failed is not None and not failed.passed and failed.apps == "0/1"
    assert upsummary.drill_summary(tmp_path / "missing.json") is None
