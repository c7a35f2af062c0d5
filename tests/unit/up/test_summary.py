"""The read-backs behind the closing summary of ``pdn up``."""

from __future__ import annotations

import json
from pathlib import Path

from pdn.harden.report import INDEX_JSON, LynisResult, NodeReport, SshAuditResult, write_reports
from pdn.migrate.ledger import Ledger
from pdn.upsummary import (
    NodeScore,
    SiteSummary,
    StepTiming,
    Summary,
    fully_verified,
    lynis_scores,
    wave_one_apps,
    write_summary,
)


def test_lynis_scores_read_from_the_reports_json(tmp_path: Path) -> None:
    """What ``pdn harden report`` writes is what the summary reads (JSON, not the Markdown table)."""
    reports = [
        NodeReport("pdn-ikn-1", "control-plane", LynisResult(84, 250, ["W|x|-|"]), SshAuditResult(warnings=["a"])),
        NodeReport("pdn-ikn-2", "worker", LynisResult(None, None, error="no Lynis report"), SshAuditResult()),
    ]
    written = write_reports(reports, tmp_path)
    assert tmp_path / INDEX_JSON in written and (tmp_path / "pdn-ikn-1.json").is_file()
    (tmp_path / "index.md").write_text("| [pdn-ikn-1](pdn-ikn-1.md) | worker | 1 |\n")  # never read
    scores = lynis_scores(tmp_path / INDEX_JSON)
    assert scores == {
        "pdn-ikn-1": NodeScore(node="pdn-ikn-1", role="control-plane", lynis_index=84),
        "pdn-ikn-2": NodeScore(node="pdn-ikn-2", role="worker", lynis_index=None),
    }
    assert lynis_scores(tmp_path / "missing.json") == {}


def test_kube_bench_verdict_read_from_the_reports_json(tmp_path: Path) -> None:
    """A real node's kube-bench result travels from the report's JSON into the summary and the Markdown."""
    bench = {"benchmark": "cis-1.10", "passed": ["4.1.1", "4.2.1"], "waived": {"4.2.9": "rotated serving certs"},
             "not_passed": ["4.1.5"], "error": None, "ok": False}  # fmt: skip
    reports = [NodeReport("pdn-ikn-1", "worker", LynisResult(85, 250), SshAuditResult(), bench)]
    write_reports(reports, tmp_path)
    [score] = lynis_scores(tmp_path / INDEX_JSON).values()
    assert (score.kube_bench, score.kube_bench_ok) == ("2 passed, 1 waived, 1 not passed", False)
    page = (tmp_path / "pdn-ikn-1.md").read_text(encoding="utf-8")
    assert "| kube-bench (CIS Kubernetes node checks) | 2 passed, 1 waived, 1 not passed |" in page
    assert "- `4.1.5`" in page and "- `4.2.9: rotated serving certs`" in page
    assert "| 2 passed, 1 waived, 1 not passed |" in (tmp_path / "index.md").read_text(encoding="utf-8")


def test_wave_one_apps_of_one_site(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text("app_id,wave,site\na1,1,ikn\na2,2,ikn\na3,1,batam\na4,1,ikn\n", encoding="utf-8")
    assert wave_one_apps(plan, "ikn") == ["a1", "a4"]
    assert wave_one_apps(tmp_path / "none.csv", "ikn") == []


def test_an_app_counts_as_migrated_only_when_every_object_is_verified(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    assert not fully_verified(path)
    with Ledger(path) as ledger:
        ledger.upsert_pending([("a", 1, "m1"), ("b", 2, "m2")])
        ledger.mark_copied("a", "00", "etag")
        ledger.mark_copied("b", "11", "etag")
        ledger.mark_verified("a", "00", True)
    assert not fully_verified(path)
    with Ledger(path) as ledger:
        ledger.mark_verified("b", "11", True)
    assert fully_verified(path)


def test_summary_written_atomically_as_json(tmp_path: Path) -> None:
    summary = Summary(
        seconds=12.5,
        steps=[{"step": StepTiming("lab", "done", 3.0).name, "result": "done", "seconds": 3.0}],
        sites=[SiteSummary(site="ikn", nodes_running=1, tenants=5, backups_completed=1, backups_failed=0)],
        outputs={"summary": str(tmp_path / "summary.json")},
    )
    target = tmp_path / "up" / "summary.json"
    write_summary(summary, target)
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["sites"][0]["site"] == "ikn" and data["sites"][0]["tenants"] == 5
    assert not list(target.parent.glob("*.tmp"))


def test_backups_count_only_what_the_site_took_itself() -> None:
    from datetime import UTC, datetime

    from pdn.upsummary import summarise_backups

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    items = [
        {
            "spec": {"storageLocation": "to-batam"},
            "status": {"phase": "Completed", "completionTimestamp": "2026-11-28T11:50:00Z"},
        },
        {
            "spec": {"storageLocation": "to-ikn"},
            "status": {"phase": "Completed", "completionTimestamp": "2026-11-28T11:00:00Z"},
        },
        {"spec": {"storageLocation": "to-batam"}, "status": {"phase": "PartiallyFailed"}},
        {"spec": {"storageLocation": "to-batam"}, "status": {"phase": "InProgress"}},
        # synced from a partner's bucket for restores: not this site's backup
        {
            "spec": {"storageLocation": "from-batam"},
            "status": {"phase": "Completed", "completionTimestamp": "2026-11-28T11:59:00Z"},
        },
    ]
    assert summarise_backups(items, now) == (2, 1, 600.0)
    assert summarise_backups([], now) == (0, 0, None)
