"""Run ``ansible-playbook`` on the hardening playbooks through ansible-runner and keep its stats.

The results come from Ansible's own events (ansible-runner's event stream): the per-host stats of
the ``playbook_on_stats`` event (ok, changed, unreachable, failed, skipped, rescued, ignored) and
every failed task, never from the text of ``PLAY RECAP``. The human-readable output goes to a log
file under ``out_dir()/harden`` and the stats to a JSON file beside it (host names, task names and
error messages, never secrets: the playbooks print no file contents) while the console shows a
progress bar.

ansible-runner writes the command line and the environment of the run to its artifacts folder, so
the run gets a private temporary folder (removed afterwards) and an environment cut down to what
Ansible needs (:func:`ansible_environment`): the caller's cloud or lab credentials never go there.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

from pdn.errors import PdnError, ToolMissingError
from pdn.harden.engine import Engine, engine_env
from pdn.paths import out_dir, repo_root
from pdn.progress import StepProgress

#: Variables of the caller's environment that ``ansible-playbook`` may see (plus every ``ANSIBLE_*``).
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SSH_AUTH_SOCK", "TZ")
#: ansible-runner's stats keys -> ours.
STATS_KEYS = {"ok": "ok", "changed": "changed", "dark": "unreachable", "failures": "failed", "skipped": "skipped",
              "rescued": "rescued", "ignored": "ignored"}  # fmt: skip


@dataclass
class HostRecap:
    """One host's counts from Ansible's stats (what ``PLAY RECAP`` prints, as data)."""

    ok: int = 0
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed or could not reach its host, and was neither ignored nor rescued."""

    host: str
    task: str
    message: str


@dataclass
class PlaybookRun:
    """Outcome of one ``ansible-playbook`` run."""

    returncode: int
    seconds: float
    log: Path
    recap: dict[str, HostRecap] = field(default_factory=dict)
    failures: list[TaskFailure] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(host.changed for host in self.recap.values())

    @property
    def ok(self) -> bool:
        return (
            self.returncode == 0
            and bool(self.recap)
            and all(h.failed == 0 and h.unreachable == 0 for h in self.recap.values())
        )

    @property
    def stats_file(self) -> Path:
        return self.log.with_suffix(".json")

    def to_json(self) -> dict[str, Any]:
        return {
            "returncode": self.returncode,
            "seconds": round(self.seconds, 1),
            "ok": self.ok,
            "log": str(self.log),
            "hosts": {host: asdict(recap) for host, recap in sorted(self.recap.items())},
            "failures": [asdict(failure) for failure in self.failures],
        }


def playbooks_dir() -> Path:
    return repo_root() / "playbooks"


def collection_dir() -> Path:
    """The collection ``pdn.hardening`` that holds the roles (``playbooks/ansible.cfg`` points at it)."""
    return playbooks_dir() / "collections" / "ansible_collections" / "pdn" / "hardening"


def roles_dir() -> Path:
    return collection_dir() / "roles"


def ansible_playbook() -> str:
    """``ansible-playbook`` of this environment (the venv's), else the one on PATH."""
    local = Path(sys.executable).with_name("ansible-playbook")
    if local.exists():
        return str(local)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise ToolMissingError("ansible-playbook is not installed", hint="pip install -e '.[dev]' (ansible-core)")
    return found


def recap_from_stats(stats: Mapping[str, Any]) -> dict[str, HostRecap]:
    """Per-host counts from the event data of ``playbook_on_stats`` (``{"ok": {host: n}, ...}``)."""
    hosts: dict[str, HostRecap] = {}
    for key, ours in STATS_KEYS.items():
        for host, count in (stats.get(key) or {}).items():
            setattr(hosts.setdefault(host, HostRecap()), ours, int(count))
    for host in stats.get("processed") or {}:
        hosts.setdefault(host, HostRecap())
    return hosts


def failure_from_event(event: Mapping[str, Any]) -> TaskFailure | None:
    """The failure an event reports, or None (other events, and failures the task ignores)."""
    data = event.get("event_data") or {}
    name = event.get("event")
    if name not in ("runner_on_failed", "runner_on_unreachable") or data.get("ignore_errors"):
        return None
    result = data.get("res") or {}
    message = str(result.get("msg") or result.get("stderr") or result.get("reason") or "failed").strip()
    return TaskFailure(str(data.get("host", "?")), str(data.get("task", "?")), message.splitlines()[0][:300])


def final_failures(failures: Sequence[TaskFailure], recap: Mapping[str, HostRecap]) -> list[TaskFailure]:
    """The failures that count, in order: events do not say whether a block rescued a failure, but a
    failure that counts stops its host, so a host's counted failures are its last ``failed +
    unreachable`` ones (rescued failures come before). Without stats (Ansible crashed) all count."""
    if not recap:
        return list(failures)
    keep: set[int] = set()
    for host, counts in recap.items():
        mine = [index for index, failure in enumerate(failures) if failure.host == host]
        wanted = counts.failed + counts.unreachable
        keep.update(mine[len(mine) - wanted :] if wanted else [])
    return [failure for index, failure in enumerate(failures) if index in keep]


def ansible_environment(engine: Engine, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``ansible-playbook`` runs with: the playbooks' settings, the engine, and from
    ``base`` (default: ours) only what Ansible needs. Host keys are checked (ansible-runner would
    otherwise turn that off)."""
    base = os.environ if base is None else base
    kept = {key: value for key, value in base.items() if key in PASSED_ENV or key.startswith("ANSIBLE_")}
    return {
        **kept,
        "ANSIBLE_CONFIG": str(playbooks_dir() / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": base.get("ANSIBLE_HOST_KEY_CHECKING", "True"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONUNBUFFERED": "1",
        **engine_env(engine),
    }


def run_playbook(
    inventory: Path,
    playbook: str | Path = "harden.yml",
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
    """Run ``playbook`` (a name under playbooks/, or a path) against ``inventory``; never raises on a
    failed play (see ``PlaybookRun.ok`` and ``PlaybookRun.failures``).

    ``engine`` is ``ansible`` (a fresh Python per task) or ``mitogen`` (one interpreter per host,
    for slow hosts such as an emulated VM): see :mod:`pdn.harden.engine`.
    """
    from ansible_runner import Runner, RunnerConfig

    if not inventory.exists():
        raise PdnError(f"inventory {inventory} does not exist")
    args = ["-i", str(inventory.resolve())]
    args += ["--check"] if check else []
    args += ["--diff"] if diff else []
    args += ["--tags", ",".join(tags)] if tags else []
    args += ["--skip-tags", ",".join(skip_tags)] if skip_tags else []
    args += ["--limit", limit] if limit else []
    for item in extra_vars:
        args += ["-e", item]
    args.append(str((playbooks_dir() / playbook).resolve()))
    env = ansible_environment(engine)
    log = out_dir() / "harden" / f"{label}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {}
    failures: list[TaskFailure] = []
    started = time.monotonic()
    what = f"{label}{' (check)' if check else ''}"
    with tempfile.TemporaryDirectory(prefix="pdn-harden-") as private, log.open("w") as handle, StepProgress(
        what, unit="tasks", key=f"harden {what} {Path(playbook).name} {limit or 'all'}", transient=True, disable=quiet,
        columns=(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed} tasks"),
                 TimeElapsedColumn()),
        log=lambda line: handle.write(line + "\n"),
    ) as progress:  # fmt: skip

        def on_event(event: dict[str, Any]) -> bool:
            if event.get("stdout"):
                handle.write(event["stdout"] + "\n")
            kind = event.get("event")
            if kind == "playbook_on_task_start":
                task = str((event.get("event_data") or {}).get("task", ""))
                progress.advance()
                progress.update(description=f"{label}: {task[:60]}", doing=task[:60])
            elif kind == "playbook_on_stats":
                stats.update(event.get("event_data") or {})
            failure = failure_from_event(event)
            if failure is not None:
                failures.append(failure)
            return False  # nothing of the event is kept on disk

        config = RunnerConfig(
            private_data_dir=private, binary=ansible_playbook(), cmdline=shlex.join(args), quiet=True,
            suppress_output_file=True,
        )  # fmt: skip
        config.prepare()
        # prepare() seeded the environment with all of ours: keep only what ansible-runner itself set
        # (its callback plugin), over the cut-down environment, with host key checking as we want it.
        own = {key: value for key, value in config.env.items() if os.environ.get(key) != value}
        config.env = {**env, **own, "ANSIBLE_HOST_KEY_CHECKING": env["ANSIBLE_HOST_KEY_CHECKING"]}
        runner = Runner(config=config, event_handler=on_event)
        runner.run()
    returncode = runner.rc if isinstance(runner.rc, int) else 1
    recap = recap_from_stats(stats)
    run = PlaybookRun(returncode, time.monotonic() - started, log, recap, final_failures(failures, recap))
    run.stats_file.write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    return run
