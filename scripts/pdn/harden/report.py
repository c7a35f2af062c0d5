"""``pdn harden report``: judge every node with Lynis and ssh-audit (and kube-bench on real
Kubernetes nodes); write Markdown, HTML and JSON.

Lynis runs on the node over SSH (``sudo lynis audit system``) and its machine-readable
report gives the hardening index, warnings and suggestions. ssh-audit (PyPI) runs here,
against the node's published SSH port. On a node that runs a kubelet, kube-bench judges the CIS
Kubernetes worker-node checks against their waiver file (:mod:`pdn.harden.kubebench`).
Nothing sensitive is written: only scores and test ids.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pdn.errors import ToolMissingError
from pdn.nodes.runtime import Node, ssh_base_args

#: The machine-readable index of a report folder: ``{"nodes": [<to_json(report)>, ...]}``.
INDEX_JSON = "index.json"


@dataclass
class LynisResult:
    hardening_index: int | None
    tests_performed: int | None
    warnings: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class SshAuditResult:
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cves: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class NodeReport:
    node: str
    role: str
    lynis: LynisResult
    ssh_audit: SshAuditResult
    kube_bench: dict[str, Any] | None = None  # KubeBenchResult.as_dict() on real nodes, else None


def parse_lynis_report(text: str) -> LynisResult:
    """Read ``/var/log/lynis-report.dat`` (``key=value`` lines, ``key[]=`` for lists)."""
    values: dict[str, str] = {}
    warnings: list[str] = []
    suggestions: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "warning[]":
            warnings.append(value)
        elif key == "suggestion[]":
            suggestions.append(value)
        else:
            values[key] = value
    index = values.get("hardening_index")
    tests = values.get("lynis_tests_done")
    return LynisResult(
        hardening_index=int(index) if index and index.isdigit() else None,
        tests_performed=int(tests) if tests and tests.isdigit() else None,
        warnings=warnings,
        suggestions=suggestions,
    )


def run_lynis(node: Node, timeout: float = 1800) -> LynisResult:
    """Run Lynis on ``node`` over SSH and read its report file."""
    script = (
        "sudo lynis audit system --quick --no-colors --report-file /var/log/lynis-report.dat >/dev/null 2>&1; "
        "sudo cat /var/log/lynis-report.dat"
    )
    proc = subprocess.run([*ssh_base_args(node), script], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or "hardening_index" not in proc.stdout:
        return LynisResult(None, None, error=(proc.stderr.strip() or "no Lynis report")[-300:])
    return parse_lynis_report(proc.stdout)


def ssh_audit_exe() -> str:
    local = Path(sys.executable).with_name("ssh-audit")
    found = str(local) if local.exists() else shutil.which("ssh-audit")
    if not found:
        raise ToolMissingError("ssh-audit is not installed", hint="pip install -e . (ssh-audit comes from PyPI)")
    return found


def parse_ssh_audit(data: dict[str, object]) -> SshAuditResult:
    """Failures and warnings by algorithm from ``ssh-audit -j`` output."""
    result = SshAuditResult()
    for kind in ("kex", "key", "enc", "mac"):
        entries = data.get(kind) or []
        assert isinstance(entries, list)
        for entry in entries:
            notes = entry.get("notes") or {}
            name = f"{kind} {entry.get('algorithm')}"
            result.failures += [f"{name}: {note}" for note in notes.get("fail", [])]
            result.warnings += [f"{name}: {note}" for note in notes.get("warn", [])]
    cves = data.get("cves") or []
    assert isinstance(cves, list)
    result.cves = [str(cve.get("name")) for cve in cves]
    return result


def run_ssh_audit(host: str, port: int) -> SshAuditResult:
    proc = subprocess.run(
        [ssh_audit_exe(), "-j", "-p", str(port), host], capture_output=True, text=True, timeout=120, check=False
    )
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return SshAuditResult(error=(proc.stderr or proc.stdout).strip()[-300:] or "no output")
    return parse_ssh_audit(data)


def judge(node: Node) -> NodeReport:
    """Every judge that applies to ``node``: kube-bench only where a kubelet runs (a real node)."""
    from pdn.harden import kubebench

    bench = kubebench.run(node).as_dict() if node.address else None
    return NodeReport(node.name, node.role, run_lynis(node), run_ssh_audit(node.host, node.port), bench)


def kube_bench_cell(report: NodeReport) -> str:
    """``18 passed, 3 waived, 0 not passed`` (``n/a`` on a node without a kubelet)."""
    return "n/a" if report.kube_bench is None else kube_bench_line(report.kube_bench)


def kube_bench_line(bench: dict[str, Any]) -> str:
    """One line from ``KubeBenchResult.as_dict()`` (as the report's JSON keeps it)."""
    if bench.get("error"):
        return f"error: {bench['error']}"
    return f"{len(bench['passed'])} passed, {len(bench['waived'])} waived, {len(bench['not_passed'])} not passed"


def to_markdown(report: NodeReport) -> str:
    lynis, audit = report.lynis, report.ssh_audit
    lines = [
        f"# Hardening report: {report.node} ({report.role})",
        "",
        "| judge | result |",
        "| --- | --- |",
        f"| Lynis hardening index | {lynis.hardening_index if lynis.hardening_index is not None else 'n/a'} |",
        f"| Lynis tests performed | {lynis.tests_performed or 'n/a'} |",
        f"| Lynis warnings | {len(lynis.warnings)} |",
        f"| Lynis suggestions | {len(lynis.suggestions)} |",
        f"| ssh-audit failures | {len(audit.failures)} |",
        f"| ssh-audit warnings | {len(audit.warnings)} |",
        f"| ssh-audit CVEs | {len(audit.cves)} |",
        f"| kube-bench (CIS Kubernetes node checks) | {kube_bench_cell(report)} |",
        "",
    ]
    bench = report.kube_bench or {}
    for title, items in (
        ("Lynis errors", [lynis.error] if lynis.error else []),
        ("ssh-audit errors", [audit.error] if audit.error else []),
        ("Lynis warnings", lynis.warnings),
        ("ssh-audit failures", audit.failures),
        ("ssh-audit warnings", audit.warnings),
        ("kube-bench checks not passed and not waived", bench.get("not_passed", [])),
        ("kube-bench waivers (check: reason)", [f"{check}: {why}" for check, why in bench.get("waived", {}).items()]),
        ("Lynis suggestions (test id|text|details)", lynis.suggestions),
    ):
        if items:
            lines += [f"## {title}", "", *[f"- `{item}`" for item in items], ""]
    return "\n".join(lines)


def to_html(report: NodeReport) -> str:
    """A standalone page: the Markdown table and lists rendered without any external asset."""
    body: list[str] = []
    in_list = False
    for line in to_markdown(report).splitlines():
        if line.startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li><code>{html.escape(line[2:].strip('`'))}</code></li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("| ---"):
            continue
        elif line.startswith("|"):
            cells = [html.escape(cell.strip()) for cell in line.strip("|").split("|")]
            tag = "th" if cells[0] == "judge" else "td"
            body.append("<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in cells) + "</tr>")
    if in_list:
        body.append("</ul>")
    rows = "\n".join(body)
    rows = rows.replace("<tr><th>", "<table><tr><th>", 1)
    rows = rows.replace("</td></tr>\n<h2>", "</td></tr></table>\n<h2>", 1)
    if "<table>" in rows and "</table>" not in rows:
        rows += "</table>"
    style = "body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{border:1px solid #ccc;padding:.3em .6em}"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(report.node)}</title>"
        f"<style>{style}</style></head><body>\n{rows}\n</body></html>\n"
    )


def summary_markdown(reports: Sequence[NodeReport]) -> str:
    lines = [
        "# Hardening report",
        "",
        "| node | role | Lynis index | Lynis warnings | ssh-audit failures | ssh-audit warnings | kube-bench |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in reports:
        index = r.lynis.hardening_index if r.lynis.hardening_index is not None else "n/a"
        lines.append(
            f"| [{r.node}]({r.node}.md) | {r.role} | {index} | {len(r.lynis.warnings)} | "
            f"{len(r.ssh_audit.failures)} | {len(r.ssh_audit.warnings)} | {kube_bench_cell(r)} |"
        )
    return "\n".join(lines) + "\n"


def to_json(report: NodeReport) -> dict[str, Any]:
    """The report as data: what the Markdown shows, for programs (``pdn up``'s summary reads it)."""
    return asdict(report)


def from_json(data: dict[str, Any]) -> NodeReport:
    """The report :func:`to_json` wrote (a node's ``<node>.json``), to keep it in a new index."""
    return NodeReport(
        node=str(data["node"]),
        role=str(data["role"]),
        lynis=LynisResult(**data["lynis"]),
        ssh_audit=SshAuditResult(**data["ssh_audit"]),
        kube_bench=data.get("kube_bench"),
    )


def earlier_report(folder: Path, node: str) -> NodeReport | None:
    """The report of ``node`` already in ``folder``, or None when there is none or it is unreadable."""
    try:
        return from_json(json.loads((folder / f"{node}.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_reports(reports: Sequence[NodeReport], folder: Path) -> list[Path]:
    """Per node Markdown, HTML and JSON; ``index.md`` and ``index.json`` over all nodes."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for report in reports:
        data = json.dumps(to_json(report), indent=2) + "\n"
        for suffix, text in ((".md", to_markdown(report)), (".html", to_html(report)), (".json", data)):
            path = folder / f"{report.node}{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
    summary = folder / "index.md"
    summary.write_text(summary_markdown(reports), encoding="utf-8")
    index = folder / INDEX_JSON
    temporary = index.with_suffix(".tmp")
    temporary.write_text(json.dumps({"nodes": [to_json(r) for r in reports]}, indent=2) + "\n", encoding="utf-8")
    temporary.replace(index)
    return [*written, summary, index]
