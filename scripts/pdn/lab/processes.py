"""Process supervision for the lab: detached processes, pid files, one log per process.

A process counts as running only when its pid is alive, not a zombie, and it still executes the
binary the pid file names (a recycled pid never passes for a lab process).
Processes run in their own session so they outlive ``pdn lab up`` and a Ctrl-C in the shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from pdn.errors import PdnError
from pdn.wait import WaitTimeout, wait_until

#: Seconds a process may take to vanish after SIGKILL (it only outlives that stuck in the kernel).
KILL_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one lab component."""

    site: str
    name: str
    argv: list[str]
    ports: list[int]
    run_dir: Path
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"


def _proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/PID/stat (``Z`` for a zombie), ``None`` if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own child (in a long-lived parent such as pytest)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def read_pid(spec: ProcessSpec) -> tuple[int, str] | None:
    """(pid, binary) from the pid file, or ``None``."""
    try:
        data = json.loads(spec.pid_file.read_text(encoding="utf-8"))
        return int(data["pid"]), str(data["binary"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_pid(spec: ProcessSpec) -> int | None:
    """The pid of the live process for ``spec``, or ``None`` (stale pid files count as stopped)."""
    recorded = read_pid(spec)
    if recorded is None:
        return None
    pid, binary = recorded
    _reap(pid)
    state = _proc_state(pid)
    if state is None or state in ("Z", "X"):
        return None
    return pid if _runs(pid, binary) else None


def _runs(pid: int, binary: str) -> bool:
    """Whether ``pid`` executes ``binary``: its /proc exe link (set at exec; a rebuilt binary shows as
    "(deleted)"), else its command line (which is empty for a moment right after exec)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
    except OSError:
        exe = ""
    if exe and exe == os.path.realpath(binary):
        return True
    command = _cmdline(pid)
    return bool(command) and command[0] == binary


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def start(spec: ProcessSpec) -> int:
    """Start ``spec`` detached, after checking that its ports are free; returns the pid."""
    for port in spec.ports:
        if port_in_use(port):
            raise PdnError(
                f"port 127.0.0.1:{port} for {spec.site} {spec.name} is in use by another process",
                hint=f"stop it (ss -ltnp 'sport = :{port}') or move the lab with PDN_LAB_PORT_BASE",
            )
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    spec.log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with spec.log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {' '.join(spec.argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.cwd,
            start_new_session=True,
            close_fds=True,
            umask=0o077,  # data and object files the component writes: readable by the owner only
        )
    tmp = spec.pid_file.with_name(spec.pid_file.name + ".tmp")
    tmp.write_text(json.dumps({"pid": process.pid, "binary": spec.argv[0]}), encoding="utf-8")
    tmp.replace(spec.pid_file)
    return process.pid


def stop(spec: ProcessSpec, timeout: float = 15.0) -> bool:
    """Stop the process (SIGTERM, then SIGKILL after ``timeout``); True if one was running."""
    pid = running_pid(spec)
    if pid is None:
        spec.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)

    def gone(signal_name: str, seconds: float) -> None:
        wait_until(
            f"{spec.site} {spec.name} (pid {pid}) to exit after {signal_name}", lambda: running_pid(spec),
            lambda running: running is None, timeout=seconds, interval=0.05, describe=lambda _: "still running",
        )  # fmt: skip

    try:
        gone("SIGTERM", timeout)
    except WaitTimeout:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        gone("SIGKILL", KILL_TIMEOUT)
    spec.pid_file.unlink(missing_ok=True)
    return True


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (0 when unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def started_at(pid: int) -> float | None:
    """Seconds since the epoch when ``pid`` started (from /proc), or ``None``."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
