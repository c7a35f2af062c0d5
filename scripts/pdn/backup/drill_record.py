"""The drill's result as data: ``drill.json`` beside the Markdown and HTML reports."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

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


def write_all(result: DrillResult, folder: Path) -> tuple[Path, Path, Path]:
    markdown, page = write_report(result, folder)
    data = folder / "drill.json"
    data.write_text(json.dumps(to_json(result), indent=2) + "\n", encoding="utf-8")
    return markdown, page, data
