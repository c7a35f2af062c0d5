"""``pdn doctor``: which tools and libraries are present, at which versions, and what is missing."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import typer
from rich.table import Table

from pdn.console import console
from pdn.errors import PdnError

PYTHON_PACKAGES = (
    "pulumi",
    "pulumi-kubernetes",
    "pulumi-policy",
    "ansible-core",
    "boto3",
    "kubernetes",
    "pydantic",
    "typer",
    "rich",
    "jinja2",
    "pyyaml",
    "matplotlib",
    "pytest-testinfra",
)


@dataclass(frozen=True)
class ExternalTool:
    """A command the platform runs, how to ask its version, and what needs it."""

    name: str
    version_args: tuple[str, ...]
    needed_for: str
    how_to_get: str
    toolchain: bool = False  # built from a pinned Go module by `pdn toolchain build`


EXTERNAL_TOOLS = (
    ExternalTool("go", ("version",), "toolchain builds", "install Go 1.26 (/usr/local/go)"),
    ExternalTool("git", ("--version",), "everything", "apt-get install git"),
    ExternalTool("podman", ("--version",), "node containers", "apt-get install podman"),
    ExternalTool("debootstrap", ("--version",), "node images", "apt-get install debootstrap"),
    ExternalTool("ansible-playbook", ("--version",), "hardening", "pip install -e . (ansible-core)"),
    ExternalTool("qemu-system-x86_64", ("--version",), "vm test tier", "apt-get install qemu-system-x86"),
    ExternalTool("lynis", ("--version",), "hardening report", "apt-get install lynis"),
    ExternalTool("rclone", ("--version",), "copy benchmark", "apt-get install rclone"),
    ExternalTool("etcd", ("--version",), "lab clusters", "pdn toolchain build etcd", toolchain=True),
    ExternalTool("kube-apiserver", ("--version",), "lab clusters", "pdn toolchain build", toolchain=True),
    ExternalTool("kube-controller-manager", ("--version",), "lab clusters", "pdn toolchain build", toolchain=True),
    ExternalTool("kube-scheduler", ("--version",), "lab clusters", "pdn toolchain build", toolchain=True),
    ExternalTool("kwok", ("--version",), "lab nodes and pods", "pdn toolchain build", toolchain=True),
    ExternalTool("minio", ("--version",), "lab object stores", "pdn toolchain build", toolchain=True),
    ExternalTool("pulumi", ("version",), "stacks", "pdn toolchain build", toolchain=True),
    ExternalTool("velero", ("version", "--client-only"), "backup drills", "pdn toolchain build", toolchain=True),
)


@dataclass(frozen=True)
class Finding:
    name: str
    kind: str
    version: str | None
    where: str
    needed_for: str
    how_to_get: str

    @property
    def present(self) -> bool:
        return self.version is not None


def _first_version(text: str) -> str:
    match = re.search(r"v?\d+\.\d+(?:\.\d+)?(?:[-+][\w.]+)?", text)
    return match.group(0) if match else text.strip().splitlines()[0][:40] if text.strip() else "present"


def _locate(tool: ExternalTool) -> Path | None:
    """A tool built by the toolchain wins over PATH; fall back to PATH."""
    if tool.toolchain:
        try:
            toolchain = importlib.import_module("pdn.toolchain")
            found = toolchain.resolve(tool.name)
            return Path(found)
        except Exception:  # toolchain not built yet, or module not present: fall back to PATH
            pass
    beside_python = Path(sys.executable).parent / tool.name  # console scripts of this venv
    if beside_python.exists():
        return beside_python
    on_path = shutil.which(tool.name)
    return Path(on_path) if on_path else None


def probe_tool(tool: ExternalTool) -> Finding:
    path = _locate(tool)
    version: str | None = None
    if path is not None:
        try:
            done = subprocess.run(
                [str(path), *tool.version_args], capture_output=True, text=True, timeout=20, check=False
            )
            version = _first_version(done.stdout + done.stderr)
        except (OSError, subprocess.TimeoutExpired):
            version = "present (version unknown)"
    return Finding(tool.name, "tool", version, str(path or "-"), tool.needed_for, tool.how_to_get)


def probe_package(name: str) -> Finding:
    try:
        version: str | None = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = None
    return Finding(name, "python", version, "venv", "pdn", "pip install -e '.[dev]'")


def collect() -> list[Finding]:
    return [probe_package(name) for name in PYTHON_PACKAGES] + [probe_tool(tool) for tool in EXTERNAL_TOOLS]


def doctor_command(
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when anything is missing."),
) -> None:
    """Report which tools are present (Python deps, Go, podman, Ansible, Kubernetes, MinIO, Pulumi…)."""
    findings = collect()
    table = Table(title="pdn doctor")
    for column in ("tool", "kind", "version", "needed for", "where / how to get it"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(
            finding.name,
            finding.kind,
            f"[green]{finding.version}[/]" if finding.present else "[red]missing[/]",
            finding.needed_for,
            finding.where if finding.present else finding.how_to_get,
        )
    console.print(table)
    missing = [finding.name for finding in findings if not finding.present]
    if missing:
        console.print(f"[yellow]missing:[/] {', '.join(missing)}")
        if strict:
            raise PdnError(f"{len(missing)} tool(s) missing: {', '.join(missing)}")
    else:
        console.print("[green]everything is present[/]")
