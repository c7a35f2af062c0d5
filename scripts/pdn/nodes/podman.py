"""Thin wrapper around the ``podman`` CLI: one place that knows how to call it and report failures."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from pdn.errors import PdnError, ToolMissingError


def require(tool: str, package: str) -> str:
    """Path of ``tool`` or a clear error telling which Debian package brings it."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path is None:
        raise ToolMissingError(f"{tool} is not installed", hint=f"apt-get install -y {package}")
    return path


def podman(
    args: Sequence[str], *, check: bool = True, input_text: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS``; raise :class:`PdnError` with podman's own message on failure."""
    exe = require("podman", "podman")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, input=input_text, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise PdnError(f"podman {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc
