"""Write the ``pulumi-language-python`` launcher that starts :mod:`pdn.toolchain.langhost`."""

from __future__ import annotations

from pdn.toolchain.locate import LANGHOST, langhost_dir

LAUNCHER = """#!/bin/sh
# Written by `pdn toolchain build`: Pulumi's Python language host, served by pdn (see
# pdn/toolchain/langhost.py). Uses the first python3 on PATH, or $PDN_PYTHON.
exec "${PDN_PYTHON:-python3}" -m pdn.toolchain.langhost "$@"
"""


def write() -> str:
    """Create or refresh the launcher; returns a one-line note."""
    target = langhost_dir() / "bin" / LANGHOST
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != LAUNCHER:
        target.write_text(LAUNCHER, encoding="utf-8")
    target.chmod(0o755)
    return f"Python language host launcher: {target}"
