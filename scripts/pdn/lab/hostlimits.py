"""Host limits that real nodes share: checked before nodes start, never raised by the lab.

A node container's root is the host's root, and inotify instances are counted per user across
the whole host (``fs.inotify.max_user_instances``, 128 on this machine). A real node's systemd,
kubelet, containerd, D-Bus and kube-proxy hold about a dozen (measured: 14, 12 once its two
password-prompt path units are masked); with the lab's own API servers and controller-managers
eight nodes already passed 128, and the last kubelet to start died with ``inotify_init: too many
open files`` while ``pdn lab up`` waited for it. So ``pdn lab up --real-nodes`` counts first and
refuses with the numbers, instead of hanging. The lab never changes the host's setting: that is
the operator's call (kind documents the same limit).
"""

from __future__ import annotations

import os
from pathlib import Path

from pdn.errors import PdnError

#: inotify instances one real node holds once it runs pods (measured, with a margin of 2).
INOTIFY_PER_NODE = 14
LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_instances")


def inotify_instances_in_use(uid: int | None = None) -> int:
    """inotify instances held by processes of ``uid`` (default: this user) on the whole host."""
    uid = os.getuid() if uid is None else uid
    used = 0
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if process.stat().st_uid != uid:
                continue
            for fd in (process / "fd").iterdir():
                if os.readlink(fd) == "anon_inode:inotify":
                    used += 1
        except OSError:  # the process ended, or is not ours to read
            continue
    return used


def inotify_limit() -> int | None:
    try:
        return int(LIMIT_FILE.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def check_room_for_nodes(new_nodes: int, *, used: int | None = None, limit: int | None = None) -> None:
    """Refuse to start ``new_nodes`` real nodes when their kubelets would run out of inotify instances."""
    limit = inotify_limit() if limit is None else limit
    if new_nodes <= 0 or limit is None:
        return
    used = inotify_instances_in_use() if used is None else used
    room = max(0, (limit - used) // INOTIFY_PER_NODE)
    if new_nodes > room:
        raise PdnError(
            f"{new_nodes} more real node(s) do not fit: fs.inotify.max_user_instances is {limit}, {used} are in "
            f"use, and each node needs about {INOTIFY_PER_NODE} (room for {room})",
            hint="start fewer nodes (--real-nodes 1, fewer --site), stop other labs, or raise the host's limit "
            "yourself: sysctl fs.inotify.max_user_instances=512",
        )
