"""The drill report: Markdown and HTML for an auditor, with a small timeline chart (PNG)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pdn.backup.compare import Comparison


@dataclass(frozen=True)
class Phase:
    """One timed step of the drill (seed, backup, restore, verify, clean-up)."""

    name: str
    started: datetime
    finished: datetime

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()


@dataclass
class DrillResult:
    source: str
    partner: str
    namespaces: dict[str, str]  # source namespace -> restored namespace on the partner
    backup_name: str
    location: str
    restore_location: str
    phases: list[Phase] = field(default_factory=list)
    comparison: Comparison = field(default_factory=Comparison)
    objects_by_kind: dict[str, int] = field(default_factory=dict)
    immutability: dict[str, str] = field(default_factory=dict)  # check -> outcome
    rpo_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    lock: str = ""  # object lock of the backup archive in the partner bucket (mode, retain-until)
    restored_items: int | None = None  # what Velero reports it restored (derived objects included)
    warnings: list[str] = field(default_factory=list)  # Velero's restore warnings

    @property
    def rto_seconds(self) -> float:
        """Restore wall time: from asking the partner to restore until every object is verified."""
        return sum(phase.seconds for phase in self.phases if phase.name in ("restore", "verify"))

    @property
    def passed(self) -> bool:
        immutable = all(
            outcome.startswith("refused") or outcome.startswith("intact") for outcome in self.immutability.values()
        )
        return self.comparison.ok and immutable


def _rows(result: DrillResult) -> list[tuple[str, str]]:
    comparison = result.comparison
    return [
        ("source site", result.source),
        ("restored on", result.partner),
        ("backup", f"{result.backup_name} → location {result.location}"),
        ("restored from", f"read-only location {result.restore_location}"),
        ("namespaces", ", ".join(f"{src} → {dst}" for src, dst in sorted(result.namespaces.items()))),
        ("object lock on the backup", result.lock or "-"),
        ("items Velero restored", "-" if result.restored_items is None else str(result.restored_items)),
        ("objects compared", str(comparison.compared)),
        ("objects equal", str(comparison.equal)),
        ("missing after restore", str(len(comparison.missing))),
        ("differences", str(len(comparison.differences))),
        ("RPO (age of the backup restored)", f"{result.rpo_seconds:.1f} s" if result.rpo_seconds is not None else "-"),
        ("RTO (restore + verify wall time)", f"{result.rto_seconds:.1f} s"),
        ("verdict", "PASS" if result.passed else "FAIL"),
    ]


def to_markdown(result: DrillResult, chart: Path | None) -> str:
    lines = [f"# Disaster-recovery drill: {result.source} → {result.partner}", ""]
    lines += ["| | |", "| --- | --- |"] + [f"| {key} | {value} |" for key, value in _rows(result)]
    lines += ["", "## Timeline", "", "| phase | started (UTC) | seconds |", "| --- | --- | --- |"]
    lines += [f"| {p.name} | {p.started.isoformat(timespec='seconds')} | {p.seconds:.1f} |" for p in result.phases]
    if chart is not None:
        lines += ["", f"![timeline]({chart.name})"]
    lines += ["", "## Objects by kind", "", "| kind | count |", "| --- | --- |"]
    lines += [f"| {kind} | {count} |" for kind, count in sorted(result.objects_by_kind.items())]
    lines += ["", "## Immutability of the backup in the partner bucket", "", "| check | outcome |", "| --- | --- |"]
    lines += [f"| {check} | {outcome} |" for check, outcome in result.immutability.items()]
    comparison = result.comparison
    lines += ["", "## Differences", ""]
    if comparison.ok and not comparison.unexpected:
        lines.append("None: every object came back equal (spec, labels, annotations, data).")
    lines += [f"- missing: {kind}/{name}" for kind, name in comparison.missing]
    lines += [f"- unexpected: {kind}/{name}" for kind, name in comparison.unexpected]
    lines += [f"- {difference}" for difference in comparison.differences]
    if result.warnings:
        lines += ["", "## Velero restore warnings", ""] + [f"- {warning}" for warning in result.warnings]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def to_html(result: DrillResult, chart: Path | None) -> str:
    def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    comparison = result.comparison
    differences = [f"missing: {k}/{n}" for k, n in comparison.missing] + [str(d) for d in comparison.differences]
    verdict = "pass" if result.passed else "fail"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>DR drill {html.escape(result.source)} to {html.escape(result.partner)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}.pass{color:#1a7f37}.fail{color:#c0392b}"
        "</style></head><body>",
        f"<h1>Disaster-recovery drill: {html.escape(result.source)} → {html.escape(result.partner)} "
        f"<span class='{verdict}'>{verdict.upper()}</span></h1>",
        table(("", ""), _rows(result)),
        "<h2>Timeline</h2>",
        table(
            ("phase", "started (UTC)", "seconds"),
            [(p.name, p.started.isoformat(timespec="seconds"), f"{p.seconds:.1f}") for p in result.phases],
        ),
    ]
    if chart is not None:
        parts.append(f"<p><img src='{html.escape(chart.name)}' alt='timeline of the drill'></p>")
    parts += [
        "<h2>Objects by kind</h2>",
        table(("kind", "count"), [(k, str(c)) for k, c in sorted(result.objects_by_kind.items())]),
        "<h2>Immutability</h2>",
        table(("check", "outcome"), list(result.immutability.items())),
        "<h2>Differences</h2>",
        "<ul>" + "".join(f"<li>{html.escape(d)}</li>" for d in differences) + "</ul>"
        if differences
        else "<p>None: every object came back equal.</p>",
    ]
    if result.warnings:
        parts += [
            "<h2>Velero restore warnings</h2>",
            "<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings) + "</ul>",
        ]
    if result.notes:
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def draw_timeline(result: DrillResult, path: Path) -> Path:
    """A horizontal bar per phase, seconds since the drill started."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = min(phase.started for phase in result.phases)
    figure, axes = plt.subplots(figsize=(7, 0.45 * len(result.phases) + 1.0), dpi=100)
    for row, phase in enumerate(result.phases):
        offset = (phase.started - start).total_seconds()
        axes.barh(row, max(phase.seconds, 0.05), left=offset, color="#1f5fa8")
        axes.text(offset + phase.seconds, row, f" {phase.seconds:.1f} s", va="center", fontsize=8)
    axes.set_yticks(range(len(result.phases)), [phase.name for phase in result.phases])
    axes.invert_yaxis()
    axes.set_xlabel("seconds since the drill started")
    axes.set_title(f"DR drill {result.source} → {result.partner}")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def write_report(result: DrillResult, folder: Path) -> tuple[Path, Path]:
    """Write ``drill.md``, ``drill.html`` and ``timeline.png`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    chart = draw_timeline(result, folder / "timeline.png") if result.phases else None
    markdown = folder / "drill.md"
    page = folder / "drill.html"
    markdown.write_text(to_markdown(result, chart), encoding="utf-8")
    page.write_text(to_html(result, chart), encoding="utf-8")
    return markdown, page
