"""Run ``ansible-playbook`` on the hardening playbooks and read its recap.

The output goes to a log file under ``out_dir()/harden`` (it can hold host names and paths,
never secrets: the playbooks print no file contents) while the console shows a progress bar.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pdn.console import console
from pdn.errors import PdnError, ToolMissingError
from pdn.harden.engine import Engine, engine_env
from pdn.paths import out_dir, repo_root

RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)"
)


@dataclass
class HostRecap:
    ok: int
    changed: int
    unreachable: int
    failed: int
    skipped: int


@dataclass
class PlaybookRun:
    """Outcome of one ``ansible-playbook`` run."""

    returncode: int
    seconds: float
    log: Path
    recap: dict[str, HostRecap] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(host.changed for host in self.recap.values())

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and all(h.failed == 0 and h.unreachable == 0 for h in self.recap.values())


def playbooks_dir() -> Path:
    return repo_root() / "playbooks"


def ansible_playbook() -> str:
    """``ansible-playbook`` of this environment (the venv's), else the one on PATH."""
    local = Path(sys.executable).with_name("ansible-playbook")
    if local.exists():
        return str(local)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise ToolMissingError("ansible-playbook is not installed", hint="pip install -e '.[dev]' (ansible-core)")
    return found


def parse_recap(text: str) -> dict[str, HostRecap]:
    recap: dict[str, HostRecap] = {}
    in_recap = False
    for line in text.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = RECAP.match(line.strip()) if in_recap else None
        if match:
            recap[match["host"]] = HostRecap(**{k: int(v) for k, v in match.groupdict().items() if k != "host"})
    return recap


def run_playbook(
    inventory: Path,
    playbook: str = "harden.yml",
    *,
    check: bool = False,
    diff: bool = False,
    tags: Sequence[str] = (),
    skip_tags: Sequence[str] = (),
    limit: str | None = None,
    extra_vars: Sequence[str] = (),
    label: str = "harden",
    quiet: bool = False,
    engine: Engine = "ansible",
) -> PlaybookRun:
    """Run ``playbook`` against ``inventory``; never raises on a failed play (see ``PlaybookRun.ok``).

    ``engine`` is ``ansible`` (a fresh Python per task) or ``mitogen`` (one interpreter per host,
    for slow hosts such as an emulated VM): see :mod:`pdn.harden.engine`.
    """
    if not inventory.exists():
        raise PdnError(f"inventory {inventory} does not exist")
    command = [ansible_playbook(), "-i", str(inventory), str(playbooks_dir() / playbook)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if tags:
        command += ["--tags", ",".join(tags)]
    if skip_tags:
        command += ["--skip-tags", ",".join(skip_tags)]
    if limit:
        command += ["--limit", limit]
    for item in extra_vars:
        command += ["-e", item]
    env = {**os.environ, "ANSIBLE_CONFIG": str(playbooks_dir() / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_NOCOLOR": "1", "PYTHONUNBUFFERED": "1", **engine_env(engine)}  # fmt: skip
    log = out_dir() / "harden" / f"{label}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as handle, Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed} tasks"),
        TimeElapsedColumn(), console=console, transient=True, disable=quiet,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{label}{' (check)' if check else ''}", total=None)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert proc.stdout is not None
        output: list[str] = []
        for line in proc.stdout:
            handle.write(line)
            output.append(line)
            if line.startswith("TASK ["):
                progress.update(task, advance=1, description=f"{label}: {line[6:].split(']')[0][:60]}")
        returncode = proc.wait()
    return PlaybookRun(returncode, time.monotonic() - started, log, parse_recap("".join(output)))
