"""``pdn`` run as a child process: how one command of the toolkit calls another.

A child process keeps each command's state (lab layout, environment, Pulumi workspaces) its own,
and an interrupted parent leaves a command that either finished or can be re-run.
"""

from __future__ import annotations

import subprocess
import sys

from pdn import paths
from pdn.errors import PdnError


def run_pdn(*args: str, quiet: bool = False, hint: str | None = None) -> None:
    """Run ``pdn ARGS`` from the repository root; raise one ``PdnError`` naming it when it fails.

    By default its output and progress bars go to the terminal; ``quiet`` keeps them and puts the
    last lines of the failure into the error instead.
    """
    command = [sys.executable, "-c", "from pdn.cli import main; main()", *args]
    done = subprocess.run(command, cwd=paths.repo_root(), check=False, capture_output=quiet, text=True)
    if done.returncode == 0:
        return
    message = f"`pdn {' '.join(args)}` failed (exit {done.returncode})"
    if quiet:
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
        message += f": {' | '.join(tail)}" if tail else ""
    raise PdnError(message, hint=hint)
