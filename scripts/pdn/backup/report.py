"""The drill report: Markdown and HTML for an auditor, with a small timeline chart (PNG)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pdn.backup.compare import Comparison
from pdn.backup.recovery import NamespaceRpo, RpoAssessment


def _no_backup(ns: NamespaceRpo) -> str:
    return "no completed backup" + (f" (newest: {ns.not_completed})" if ns.not_completed else "")


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
    drill_backup_age: float | None = None  # age of the drill's own backup when the restore started
    recovery: RpoAssessment = field(default_factory=RpoAssessment)
    rto_target: float | None = None  # seconds, the strictest tier's target
    source_answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # app -> smoke answers on the source
    restored_answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # the same on the partner
    apps_answered_seconds: float | None = None  # restore start -> last restored app answered
    app_problems: list[str] = field(default_factory=list)
    store_apps: list[str] = field(default_factory=list)  # apps with their data in an object store: not run
    site_loss: bool = False  # the source was stopped entirely before the restore
    site_returned: Comparison | None = None  # the source's objects before the loss against after its return
    partner_unchanged: Comparison | None = None  # the partner's own tenants before against after the drill
    notes: list[str] = field(default_factory=list)
    lock: str = ""  # object lock of the backup archive in the partner bucket (mode, retain-until)
    restored_items: int | None = None  # what Velero reports it restored (derived objects included)
    warnings: list[str] = field(default_factory=list)  # Velero's restore warnings

    @property
    def rto_seconds(self) -> float:
        """From asking the partner to restore until the last restored app answers its smoke check;
        without apps, until every object is verified (restore + verify wall time)."""
        if self.apps_answered_seconds is not None:
            return self.apps_answered_seconds
        return sum(phase.seconds for phase in self.phases if phase.name in ("restore", "verify"))

    @property
    def rpo_seconds(self) -> float | None:
        """Age of the newest completed backup of the worst drilled namespace at drill time; without
        any earlier backup, the age of the drill's own backup when the restore started."""
        worst = self.recovery.worst
        if worst is not None and worst.age_seconds is not None:
            return worst.age_seconds
        return self.drill_backup_age

    @property
    def target_failures(self) -> list[str]:
        """Every recovery target the drill missed, one line each."""
        failures = [
            f"RPO of {ns.namespace} ({ns.tier}): "
            + (_no_backup(ns) if ns.age_seconds is None else f"newest backup {ns.age_seconds / 60:.0f} min old")
            + f" > target {(ns.target_seconds or 0) / 60:.0f} min"
            for ns in self.recovery.missed
        ]
        if self.rto_target is not None and self.rto_seconds > self.rto_target:
            failures.append(f"RTO {self.rto_seconds:.0f} s > target {self.rto_target:.0f} s")
        return failures

    @property
    def apps_equal(self) -> int:
        return sum(1 for name in self.source_answers if name in self.restored_answers
                   and not any(p.startswith(f"{name}:") for p in self.app_problems))  # fmt: skip

    @property
    def passed(self) -> bool:
        immutable = all(
            outcome.startswith("refused") or outcome.startswith("intact") for outcome in self.immutability.values()
        )
        kept = all(c is None or (c.ok and not c.unexpected) for c in (self.site_returned, self.partner_unchanged))
        return self.comparison.ok and immutable and not self.app_problems and not self.target_failures and kept


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
        ("apps answering on the partner, equal to the source", _apps_row(result)),
        ("volume data compared", _volumes_row(result)),
        ("apps with data in an object store (restored as objects, not run)", str(len(result.store_apps))),
        ("RPO (age of the newest backup at drill time)", _rpo_row(result)),
        (_rto_label(result), f"{result.rto_seconds:.1f} s" + _target_text(result.rto_target)),
        *_site_loss_rows(result),
        ("verdict", "PASS" if result.passed else "FAIL"),
    ]


def kept_text(comparison: Comparison | None) -> str:
    if comparison is None:
        return "-"
    lost = len(comparison.missing) + len(comparison.differences) + len(comparison.unexpected)
    return f"{comparison.equal}/{comparison.compared} objects unchanged" + (f", {lost} lost or changed" if lost else "")


def _site_loss_rows(result: DrillResult) -> list[tuple[str, str]]:
    if not result.site_loss:
        return []
    return [
        (
            "site loss",
            f"{result.source} stopped entirely (API server, object store, nodes, Velero) before the "
            f"restore; recovered on {result.partner} from its own copies",
        ),
        (f"{result.source} after its return", kept_text(result.site_returned)),
        (f"{result.partner}'s own tenants after the drill", kept_text(result.partner_unchanged)),
    ]


def _target_text(seconds: float | None) -> str:
    return "" if seconds is None else f" (target {seconds / 60:.0f} min)"


def _apps_row(result: DrillResult) -> str:
    if not result.source_answers:
        return "-"
    return f"{result.apps_equal}/{len(result.source_answers)}"


def _volumes_row(result: DrillResult) -> str:
    volumes = [answer["volume"] for answer in result.source_answers.values()]
    if not volumes:
        return "-"
    files = sum(int(v.get("files") or 0) for v in volumes)
    size = sum(int(v.get("bytes") or 0) for v in volumes)
    return f"{len(volumes)} volume(s), {files} files, {size / 1e6:.1f} MB, by SHA-256"


def _rpo_row(result: DrillResult) -> str:
    worst = result.recovery.worst
    if worst is None or worst.age_seconds is None:
        age = result.drill_backup_age
        return "-" if age is None else f"{age:.1f} s (the drill's own backup; no earlier backup covers the namespaces)"
    return f"{worst.age_seconds:.1f} s ({worst.namespace}, backup {worst.backup})" + _target_text(worst.target_seconds)


def _rto_label(result: DrillResult) -> str:
    if result.apps_answered_seconds is not None:
        return "RTO (restore start to the last app answering)"
    return "RTO (restore + verify wall time)"


def _app_lines(result: DrillResult) -> list[str]:
    if not result.source_answers:
        return []
    lines = [
        "",
        "## Apps",
        "",
        "| app | files | bytes | volume digest | source | restored |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, answer in sorted(result.source_answers.items()):
        volume = answer["volume"]
        restored = result.restored_answers.get(name, {}).get("volume", {})
        same = "equal" if restored and restored == volume else "DIFFERENT"
        lines.append(f"| {name} | {volume.get('files')} | {volume.get('bytes')} | {str(volume.get('digest'))[:16]} "
                     f"| {answer['readyz']['status']} | {same} |")  # fmt: skip
    if result.app_problems:
        lines += ["", *(f"- {problem}" for problem in result.app_problems)]
    return lines


def to_markdown(result: DrillResult, chart: Path | None) -> str:
    lines = [f"# Disaster-recovery drill: {result.source} → {result.partner}", ""]
    lines += ["| | |", "| --- | --- |"] + [f"| {key} | {value} |" for key, value in _rows(result)]
    lines += ["", "## Timeline", "", "| phase | started (UTC) | seconds |", "| --- | --- | --- |"]
    lines += [f"| {p.name} | {p.started.isoformat(timespec='seconds')} | {p.seconds:.1f} |" for p in result.phases]
    if chart is not None:
        lines += ["", f"![timeline]({chart.name})"]
    lines += _app_lines(result)
    failures = result.target_failures
    if failures:
        lines += ["", "## Recovery targets missed", "", *(f"- {failure}" for failure in failures)]
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
        "<h2>Apps and volumes</h2>",
        table(
            ("app", "files", "bytes", "digest", "restored"),
            [
                (
                    n,
                    str(a["volume"].get("files")),
                    str(a["volume"].get("bytes")),
                    str(a["volume"].get("digest"))[:16],
                    "equal" if result.restored_answers.get(n, {}).get("volume") == a["volume"] else "DIFFERENT",
                )
                for n, a in sorted(result.source_answers.items())
            ],
        ),
        "<ul>"
        + "".join(f"<li>{html.escape(p)}</li>" for p in [*result.app_problems, *result.target_failures])
        + "</ul>",
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
