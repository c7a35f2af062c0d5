"""What every pod of the migration shares: Pod Security ``restricted`` and the lab's image.

Migrated apps, copy and verify Jobs and smoke probes all run as the same unprivileged user (the
one the migrate image is built with), with the runtime's default seccomp profile, no privilege
escalation, no capabilities and a read-only root filesystem. One definition, so that the three
kinds of pod cannot drift apart.
"""

from __future__ import annotations

from typing import Any

UID = 10001  # also USER of scripts/pdn/nodes/images/migrate/Containerfile
#: The image the lab builds with pdn's own Python (pdn.nodes.podimages): stand-in, probe, copy Jobs.
LAB_IMAGE = "localhost/pdn/migrate:lab"


def pod_security_context(*, fs_group: bool = True) -> dict[str, Any]:
    """``spec.securityContext``: non-root ``UID``; ``fs_group`` makes volumes writable for it."""
    context: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID}
    if fs_group:
        context["fsGroup"] = UID
    context["seccompProfile"] = {"type": "RuntimeDefault"}
    return context


def container_security_context() -> dict[str, Any]:
    """``containers[].securityContext``."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
