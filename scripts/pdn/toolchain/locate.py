"""Where each pinned tool is: the shared build cache first, then PATH at the pinned version."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pdn import paths
from pdn.errors import ToolMissingError
from pdn.toolchain.lock import Unit, load_lock

STAMP = "build.json"

# The Pulumi Python language host is not served by the Go module proxy; `pdn toolchain build`
# writes a small launcher for pdn's own host (pdn.toolchain.langhost) instead of a Go binary.
LANGHOST = "pulumi-language-python"


@dataclass(frozen=True)
class Found:
    """A located tool and how it was found (``cache`` or ``PATH``)."""

    tool: str
    path: Path
    how: str


def install_dir(tool: str, version: str) -> Path:
    """``~/.cache/pdn/toolchain/<tool>-<version>``: one folder per tool and pinned version."""
    return paths.toolchain_dir() / f"{tool}-{version}"


def cached_binary(tool: str, unit: Unit) -> Path:
    return install_dir(tool, unit.version) / "bin" / tool


def data_file(tool: str, name: str) -> Path:
    """A file the build assembled from the tool's pinned module (e.g. kwok's ``stages.yaml``)."""
    return install_dir(tool, load_lock().unit_of(tool).version) / name


def langhost_dir() -> Path:
    """Next to the pulumi binary: the CLI takes language hosts from there first, silently."""
    return install_dir("pulumi", load_lock().unit_of("pulumi").version)


def read_stamp(tool: str, unit: Unit) -> dict[str, object] | None:
    """The record a finished build leaves next to the binary; ``None`` when not built."""
    stamp = install_dir(tool, unit.version) / STAMP
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and cached_binary(tool, unit).is_file() else None


@cache
def version_output(binary: str, args: tuple[str, ...]) -> str:
    """What ``binary args`` prints (cached per process; empty when it cannot run)."""
    try:
        done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def on_path_at_pin(tool: str, unit: Unit) -> Path | None:
    """``tool`` from PATH when it reports the pinned version (never for tools without a version flag)."""
    if not unit.version_args:
        return None
    found = shutil.which(tool)
    if not found or Path(found).resolve().is_relative_to(paths.toolchain_dir().resolve()):
        return None
    text = version_output(found, tuple(unit.version_args))
    pin = re.escape(unit.expected_version_text)
    return Path(found) if re.search(rf"(?<![\w.]){pin}(?![\w])", text) else None


def find(tool: str) -> Found | None:
    """Locate ``tool`` without raising: built cache, then PATH at the pinned version."""
    if tool == LANGHOST:
        launcher = langhost_dir() / "bin" / LANGHOST
        return Found(tool, launcher, "cache") if launcher.is_file() else None
    unit = load_lock().unit_of(tool)
    if read_stamp(tool, unit) is not None:
        return Found(tool, cached_binary(tool, unit), "cache")
    on_path = on_path_at_pin(tool, unit)
    return Found(tool, on_path, "PATH") if on_path else None


def resolve(tool: str) -> Path:
    """Absolute path of the pinned ``tool``; ``ToolMissingError`` with the build command if absent.

    ``PDN_TOOL_<NAME>`` (upper case, ``-`` as ``_``) overrides the lookup, e.g. for a CI image that
    ships the binaries elsewhere.
    """
    override = os.environ.get("PDN_TOOL_" + tool.upper().replace("-", "_"))
    if override:
        return Path(override).resolve()
    found = find(tool)
    if found is None:
        raise ToolMissingError(f"{tool} is not built", hint=f"pdn toolchain build {tool}")
    return found.path.resolve()


def bin_path() -> list[Path]:
    """Folders to prepend to PATH so ``pulumi`` finds its language host offline.

    Every built tool's ``bin`` folder; the language host sits next to ``pulumi``. Provider plugins
    are installed in :func:`pulumi_home` instead (set ``PULUMI_HOME`` to it, as
    :func:`pdn.lab.endpoints.pulumi_env` does).
    """
    folders: list[Path] = []
    lock = load_lock()
    for unit in lock.units.values():
        if unit.plugin is not None:
            continue  # installed in pulumi_home(); on PATH pulumi would warn about an ambient plugin
        for tool in unit.tools:
            if read_stamp(tool, unit) is not None:
                folders.append(cached_binary(tool, unit).parent)
    if (langhost_dir() / "bin" / LANGHOST).is_file() and langhost_dir() / "bin" not in folders:
        folders.append(langhost_dir() / "bin")
    return folders


def pulumi_home() -> Path:
    """``PULUMI_HOME`` for pdn: plugins installed by the toolchain, shared like the build cache."""
    return paths.cache_dir() / "pulumi-home"
