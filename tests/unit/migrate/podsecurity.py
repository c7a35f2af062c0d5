"""The checks of the Kubernetes ``restricted`` Pod Security profile (v1.34), written out for tests.

Independent of the code under test: render builds pods one way, this reads them back another.
"""

from __future__ import annotations

from typing import Any

RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The checks of the Kubernetes 'restricted' Pod Security profile (v1.34) on a pod spec."""
    problems: list[str] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(key)
    pod_sc = pod.get("securityContext", {})
    if pod_sc.get("sysctls") or pod_sc.get("seLinuxOptions", {}).get("user") or pod_sc.get("windowsOptions"):
        problems.append("pod sysctls, SELinux user or Windows options")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {kinds}")
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            problems.append("privileged")
        if sc.get("procMount", "Default") != "Default" or sc.get("seLinuxOptions", {}).get("user"):
            problems.append("procMount or SELinux user")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append("allowPrivilegeEscalation must be false")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append("runAsNonRoot")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append("runAsUser 0")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append("capabilities must drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append("capabilities add")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append("seccompProfile")
        for port in container.get("ports", []):
            if "hostPort" in port:
                problems.append("hostPort")
    return problems
