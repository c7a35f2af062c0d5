"""The drill's result as data: ``drill.json`` beside the Markdown and HTML reports."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pdn.backup.compare import Comparison
from pdn.backup.report import DrillResult, write_report


def to_json(result: DrillResult) -> dict[str, Any]:
    comparison = result.comparison
    return {
        "source": result.source,
        "partner": result.partner,
        "passed": result.passed,
        "backup": result.backup_name,
        "location": result.location,
        "restore_location": result.restore_location,
        "namespaces": result.namespaces,
        "rpo_seconds": result.rpo_seconds,
        "rto_seconds": result.rto_seconds,
        "rto_target_seconds": result.rto_target,
        "rpo": [asdict(ns) for ns in result.recovery.namespaces],
        "drill_backup_age_seconds": result.drill_backup_age,
        "target_failures": result.target_failures,
        "apps": {
            name: {"source": answer, "restored": result.restored_answers.get(name)}
            for name, answer in sorted(result.source_answers.items())
        },
        "apps_equal": result.apps_equal,
        "app_problems": result.app_problems,
        "store_apps": result.store_apps,
        "site_loss": result.site_loss,
        "site_returned": _kept_json(result.site_returned),
        "partner_unchanged": _kept_json(result.partner_unchanged),
        "objects_compared": comparison.compared,
        "objects_equal": comparison.equal,
        "missing": [f"{kind}/{name}" for kind, name in comparison.missing],
        "unexpected": [f"{kind}/{name}" for kind, name in comparison.unexpected],
        "differences": [str(difference) for difference in comparison.differences],
        "objects_by_kind": result.objects_by_kind,
        "restored_items": result.restored_items,
        "lock": result.lock,
        "immutability": result.immutability,
        "phases": [
            {**asdict(phase), "started": phase.started.isoformat(), "finished": phase.finished.isoformat()}
            for phase in result.phases
        ],
        "warnings": result.warnings,
        "notes": result.notes,
    }


def _kept_json(comparison: Comparison | None) -> dict[str, Any] | None:
    if comparison is None:
        return None
    return {
        "compared": comparison.compared,
        "equal": comparison.equal,
        "missing": [f"{kind}/{name}" for kind, name in comparison.missing],
        "unexpected": [f"{kind}/{name}" for kind, name in comparison.unexpected],
        "differences": [str(difference) for difference in comparison.differences],
    }


def write_all(result: DrillResult, folder: Path) -> tuple[Path, Path, Path]:
    markdown, page = write_report(result, folder)
    data = folder / "drill.json"
    data.write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
    return markdown, page, data
