"""Helpers of the real-nodes tests (imported by their conftest and test modules)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def host_kernel_settings() -> dict[str, str]:
    """Every readable host-global setting under /proc/sys (``net`` belongs to network namespaces)."""
    values: dict[str, str] = {}
    for path in sorted(Path("/proc/sys").rglob("*")):
        relative = path.relative_to("/proc/sys")
        if relative.parts[0] == "net" or not path.is_file():
            continue
        try:
            values[str(relative)] = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
    return values


#: Settings the kernel changes by itself while anything runs (counters, random values, clocks).
VOLATILE = ("kernel/random/", "fs/dentry-state", "fs/inode-", "fs/file-nr", "kernel/ns_last_pid", "fs/quota/",
            "kernel/pty/nr", "kernel/tainted", "vm/stat_refresh", "kernel/sched_domain", "fs/aio-nr",
            "kernel/keys/gc_delay", "kernel/cad_pid", "fs/binfmt_misc/", "kernel/usermodehelper/",
            "kernel/perf_event_max_sample_rate", "kernel/perf_cpu_time_max_percent", "fs/fscache/",
            "user/", "kernel/printk_ratelimit_burst", "debug/")  # fmt: skip


def stable(settings: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in settings.items() if not key.startswith(VOLATILE)}


@dataclass
class RealSite:
    site: str
    kubeconfig: Path
    nodes: list[str]
    host_before: dict[str, str]

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        from pdn.toolchain import resolve

        done = subprocess.run(
            [str(resolve("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done
