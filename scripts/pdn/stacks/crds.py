"""The CustomResourceDefinitions the stacks need, taken from their pinned Go modules.

``infra/crds.yaml`` pins each module version and the folders holding its CRDs. ``go mod download
-json`` fetches the module into Go's module cache (through the Go module proxy) and tells its
``Dir``; the listed folders are copied to ``~/.cache/pdn/crds/<module>@<version>/`` so that every
clone and CI run reuse them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdn import paths, safeload
from pdn.errors import PdnError, ToolMissingError

# The kinds the program creates objects of; only their CRDs are installed into lab clusters.
NEEDED_KINDS = (
    "clusters.cluster.x-k8s.io",
    "clusterclasses.cluster.x-k8s.io",
    "kubeadmcontrolplanetemplates.controlplane.cluster.x-k8s.io",
    "kubeadmconfigtemplates.bootstrap.cluster.x-k8s.io",
    "backupstoragelocations.velero.io",
    "schedules.velero.io",
)
CRD_LIMIT = 4 * 1024 * 1024  # bytes per CRD file (the largest pinned one, clusterclasses, is 0.4 MB)


@dataclass(frozen=True)
class ModulePin:
    module: str
    version: str
    paths: tuple[str, ...]

    @property
    def cache_name(self) -> str:
        return f"{self.module.replace('/', '_')}@{self.version}"


def pins_file() -> Path:
    return paths.repo_root() / "infra" / "crds.yaml"


def load_pins(path: Path | None = None) -> list[ModulePin]:
    data = safeload.load_yaml(path or pins_file())
    return [ModulePin(m["module"], m["version"], tuple(m["paths"])) for m in data["modules"]]


def crd_cache_dir() -> Path:
    return paths.cache_dir() / "crds"


def _go() -> str:
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ToolMissingError(
        "the go command is needed to fetch CRDs from Go modules", hint="install Go 1.26 (/usr/local/go/bin/go)"
    )


def module_dir(pin: ModulePin) -> Path:
    """Download ``pin`` into Go's module cache (no-op when present) and return its folder."""
    result = subprocess.run(
        [_go(), "mod", "download", "-json", f"{pin.module}@{pin.version}"],
        capture_output=True,
        text=True,
        cwd=paths.cache_dir() if paths.cache_dir().exists() else None,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        check=False,
        timeout=600,
    )
    try:
        info = json.loads(result.stdout) if result.stdout.strip() else {}
    except json.JSONDecodeError:
        info = {}
    if result.returncode != 0 or "Dir" not in info:
        detail = info.get("Error") or result.stderr.strip() or "no output"
        raise PdnError(f"go mod download {pin.module}@{pin.version} failed: {detail}")
    return Path(info["Dir"])


def fetch(pins: list[ModulePin] | None = None) -> Path:
    """Copy every pinned folder and file into the cache; return the cache folder (idempotent)."""
    root = crd_cache_dir()
    for pin in pins or load_pins():
        target = root / pin.cache_name
        marker = target / ".complete"
        wanted = "\n".join(("ok", *pin.paths)) + "\n"  # a folder added to the pin fetches again
        if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
            continue
        source = module_dir(pin)
        tmp = root / f".{pin.cache_name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in pin.paths:
            src = source / folder
            if src.is_file():
                (tmp / folder).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, tmp / folder)
            elif src.is_dir():
                shutil.copytree(src, tmp / folder)
            else:
                raise PdnError(f"{pin.module}@{pin.version} has no {folder}", hint=f"fix {pins_file()}")
        for path in tmp.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)  # the module cache is read-only
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        marker.write_text(wanted, encoding="utf-8")
    return root


def _file_name(kind: str) -> str:
    """Where controller-gen writes a CRD: ``<group>_<plural>.yaml`` ("cluster.x-k8s.io_clusters.yaml")."""
    plural, _, group = kind.partition(".")
    return f"{group}_{plural}.yaml"


def _crd_name(doc: Any) -> str | None:
    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
        name = (doc.get("metadata") or {}).get("name")
        return name if isinstance(name, str) else None
    return None


def needed_crds(root: Path | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """(file, document) of every CRD of :data:`NEEDED_KINDS` under the cache, in that order.

    Each kind is looked up under controller-gen's file name first and read only when found
    there; the other files of the modules (28 more, 1.3 MB in all) are read only when a kind is
    not where its name says. The documents are read with :mod:`pdn.safeload` (libyaml, bounded):
    the stack program starts with this, and PyYAML's pure-Python parse of every file took about
    3 s of each ``pulumi preview``.
    """
    base = root or crd_cache_dir()
    files = sorted(base.rglob("*.yaml"))
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    by_name: dict[str, list[Path]] = {}
    for path in files:
        by_name.setdefault(path.name, []).append(path)
    for kind in NEEDED_KINDS:
        for path in by_name.get(_file_name(kind), []):
            doc = safeload.load_yaml(path, limit=CRD_LIMIT)
            if _crd_name(doc) == kind:
                found[kind] = (path, doc)
    if len(found) < len(NEEDED_KINDS):
        for path in files:
            try:
                doc = safeload.load_yaml(path, limit=CRD_LIMIT)
            except safeload.LoadError:
                continue
            name = _crd_name(doc)
            if name in NEEDED_KINDS and name not in found:
                found[name] = (path, doc)
    missing = [kind for kind in NEEDED_KINDS if kind not in found]
    if missing:
        raise PdnError(f"CRDs missing from {base}: {', '.join(missing)}", hint="run `pdn stacks crds`")
    return [found[kind] for kind in NEEDED_KINDS]
