"""The Velero server of each lab site, run as a supervised loopback process outside the cluster.

Velero normally runs as a Deployment inside the cluster it protects. Here it runs next to the
site's lab API server, exactly like the lab's own components: ``--kubeconfig`` points at the site's
admin kubeconfig, ``--namespace`` at the ``velero`` namespace the site's stack created, and
``--plugin-dir`` at a folder holding the AWS object-store plugin built by ``pdn toolchain``.

Out of the cluster, four things need care:

- every listener is on 127.0.0.1: the metrics server gets the site's ``velero`` port from
  :mod:`pdn.lab.layout`, the profiler is switched off (``--profiler-address=``), and the
  controller-runtime metrics server (``:8080`` by default, no flag) is disabled at build time by
  ``pdn toolchain`` (``-X ...metrics/server.DefaultBindAddress=0``);
- Velero writes the BackupStorageLocations' credential secrets under ``$TMPDIR/credentials``, so
  each site gets its own ``TMPDIR`` under ``.lab/<site>/velero``;
- a user's ``AWS_*`` variables (``pdn lab env``) must not leak into the AWS plugin, so they are
  blanked;
- Velero's pod-volume restore action reads the image of a Deployment ``velero`` in its namespace
  when any restore starts (the restore helper's image), and Kopia's maintenance Jobs copy that
  Deployment's pod template, so that Deployment exists with zero replicas (the documented way to
  run the server locally is to scale the in-cluster one to zero) and a template that works;
- volume data is read on the nodes: on a site with real nodes, Velero's node agent runs there as
  a DaemonSet (:mod:`pdn.backup.nodeagent`); sites with kwok nodes have none.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pdn.errors import PdnError
from pdn.lab import endpoints, layout
from pdn.lab.components import http_ok
from pdn.lab.processes import ProcessSpec, running_pid, start, stop
from pdn.nodes.podimages import VELERO_IMAGE
from pdn.toolchain import resolve
from pdn.wait import wait_until

NAMESPACE = "velero"
PROCESS = "velero"
PLUGIN = "velero-plugin-for-aws"
READY_TIMEOUT = 90.0
CRD_TIMEOUT = 30.0  # seconds new CRDs may take to be Established (all of them together)
# Short periods so a drill sees a partner's new backup within seconds (defaults: 1 min each).
SYNC_PERIOD = "5s"
VALIDATION_PERIOD = "10s"
# The lab API servers are local; Velero's defaults (20 QPS, burst 30) would dominate restore time.
CLIENT_QPS = "300"
CLIENT_BURST = "600"
CONCURRENT_BACKUPS = 4
IMAGE = VELERO_IMAGE  # the restore helper's image and the template of Kopia maintenance Jobs
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)

Say = Callable[[str], None]


def velero_dir(site_id: str) -> Path:
    return layout.site_dir(site_id) / "velero"


def metrics_port(site_id: str) -> int:
    return layout.port(site_id, "velero")


def server_argv(site_id: str, velero: str) -> list[str]:
    """The ``velero server`` command line for one lab site."""
    return [
        velero,
        "server",
        f"--kubeconfig={endpoints.kubeconfig_path(site_id)}",
        f"--namespace={NAMESPACE}",
        f"--plugin-dir={velero_dir(site_id) / 'plugins'}",
        f"--metrics-address=127.0.0.1:{metrics_port(site_id)}",
        "--profiler-address=",
        "--default-backup-storage-location=",
        f"--backup-sync-period={SYNC_PERIOD}",
        f"--store-validation-frequency={VALIDATION_PERIOD}",
        f"--client-qps={CLIENT_QPS}",
        f"--client-burst={CLIENT_BURST}",
        "--item-operation-sync-frequency=2s",
        # Velero queues backups one at a time and rechecks its queue once a minute: a drill started
        # with fresh servers waited minutes behind the schedules' first backups. Backups of
        # different namespaces may run side by side.
        f"--concurrent-backups={CONCURRENT_BACKUPS}",
        "--log-level=info",
    ]


def server_spec(site_id: str, velero: str = "velero") -> ProcessSpec:
    home = velero_dir(site_id)
    env = {name: "" for name in AWS_VARIABLES}
    env.update({"TMPDIR": str(home / "tmp"), "HOME": str(home), "VELERO_NAMESPACE": NAMESPACE})
    return ProcessSpec(
        site_id,
        PROCESS,
        server_argv(site_id, velero),
        [metrics_port(site_id)],
        layout.run_dir(site_id),
        layout.log_dir(site_id),
        env,
    )


def healthy(site_id: str) -> bool:
    return http_ok(f"http://127.0.0.1:{metrics_port(site_id)}/metrics")


def is_running(site_id: str) -> bool:
    return running_pid(server_spec(site_id)) is not None


def _prepare(site_id: str) -> None:
    home = velero_dir(site_id)
    for folder in (home / "plugins", home / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    (home / "tmp").chmod(0o700)  # holds the locations' credential files
    link = home / "plugins" / PLUGIN
    target = resolve(PLUGIN)
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def crd_manifests(velero: str) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition of this Velero version, as ``velero install`` renders them."""
    done = subprocess.run(
        [velero, "install", "--crds-only", "--dry-run", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PdnError(f"`velero install --crds-only --dry-run` failed: {done.stderr.strip()[:300]}")
    rendered = json.loads(done.stdout)
    items = rendered.get("items", [rendered]) if isinstance(rendered, dict) else rendered
    return [item for item in items if item.get("kind") == "CustomResourceDefinition"]


def ensure_crds(site_id: str, velero: str | None = None) -> list[str]:
    """Create the Velero CRDs the site lacks (the stack installs only BSL and Schedule); returns the new names.

    Existing CRDs are left alone, so a stack that owns some of them never sees drift.
    """
    from pdn.backup import kube

    binary = velero or str(resolve("velero"))
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    present = {item["metadata"]["name"] for item in kube.list_items(site_id, crds)}
    created: list[str] = []
    for manifest in crd_manifests(binary):
        name = manifest["metadata"]["name"]
        if name in present:
            continue
        manifest["metadata"].setdefault("labels", {})["app.kubernetes.io/managed-by"] = "pdn-backup"
        kube.request(site_id, "POST", crds, manifest)
        created.append(name)
    deadline = time.monotonic() + CRD_TIMEOUT
    for name in created:

        def conditions(name: str = name) -> dict[str, str]:
            crd = kube.get(site_id, f"{crds}/{name}") or {}
            return {c.get("type", "?"): c.get("status", "?") for c in crd.get("status", {}).get("conditions") or []}

        wait_until(
            f"{site_id}'s CRD {name} to be Established", conditions, lambda seen: seen.get("Established") == "True",
            timeout=max(0.0, deadline - time.monotonic()), describe=lambda seen: f"conditions {seen or 'none'}",
        )  # fmt: skip
    return created


def anchor_deployment() -> dict[str, Any]:
    """The zero-replica ``velero`` Deployment that stands in for the in-cluster server: its image is
    the restore helper's, and its pod template is what Kopia's maintenance Jobs run with (the node
    agent's service account and scratch folders, a non-root user)."""
    from pdn.backup import nodeagent

    labels = {"app.kubernetes.io/name": "velero", "app.kubernetes.io/managed-by": "pdn-backup"}
    volumes, mounts = nodeagent.scratch_volumes()
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "velero",
            "namespace": NAMESPACE,
            "labels": labels,
            "annotations": {"pdn.go.id/note": "Velero runs outside the cluster (pdn backup server); kept at 0"},
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "velero"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": nodeagent.ACCOUNT,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumes": volumes,
                    "containers": [
                        {
                            "name": "velero",
                            "image": IMAGE,
                            "imagePullPolicy": "Never",
                            "env": [env for env in nodeagent.pod_environment() if "valueFrom" not in env],
                            "volumeMounts": mounts,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def ensure_server(site_id: str, say: Say | None = None) -> bool:
    """Start the site's Velero server unless it runs; wait until it serves metrics. True if started now."""
    report: Say = say or (lambda _message: None)
    velero = str(resolve("velero"))
    spec = server_spec(site_id, velero)
    if running_pid(spec) is not None:
        _install_in_cluster(site_id, report)
        wait_ready(site_id, spec)
        _first_backups(site_id, report)
        return False
    _prepare(site_id)
    created = ensure_crds(site_id, velero)
    _install_in_cluster(site_id, report)
    if created:
        report(f"{site_id}: installed {len(created)} Velero CRDs")
    start(spec)
    report(f"{site_id}: started velero server (metrics 127.0.0.1:{metrics_port(site_id)})")
    wait_ready(site_id, spec)
    _first_backups(site_id, report)
    return True


def _first_backups(site_id: str, report: Say) -> None:
    """Schedules fire at their cron times only (``skipImmediately``); their first backup is taken
    here, once its location is Available (no Schedules: no wait)."""
    from pdn.backup.firstbackup import take_first_backups

    take_first_backups(site_id, report)


def _install_in_cluster(site_id: str, report: Say) -> None:
    """The anchor Deployment, and on a site with real nodes the node agent (re-applied: cheap)."""
    from pdn import kube as kubeapi
    from pdn.backup import nodeagent
    from pdn.lab import sitenet

    kubeapi.site(site_id).apply(anchor_deployment(), field_manager=nodeagent.FIELD_MANAGER, force=True)
    if sitenet.bridged(site_id):
        agents = nodeagent.ensure(site_id)
        report(f"{site_id}: Velero node agent ready on {agents} node(s)")


def wait_ready(site_id: str, spec: ProcessSpec) -> None:
    def answers() -> bool:
        if healthy(site_id):
            return True
        if running_pid(spec) is None:
            raise PdnError(
                f"{site_id} velero server exited while starting: {last_error(spec)}", hint=f"see {spec.log_file}"
            )
        return False

    wait_until(
        f"{site_id}'s velero server to serve metrics on 127.0.0.1:{metrics_port(site_id)}", answers,
        timeout=READY_TIMEOUT, describe=lambda _: f"no answer; last log error: {last_error(spec)}",
        hint=f"see {spec.log_file}",
    )  # fmt: skip


def last_error(spec: ProcessSpec) -> str:
    """The last error line Velero logged (its log is logrus text)."""
    try:
        lines = spec.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
    except OSError:
        return "no log"
    errors = [line for line in lines if "level=error" in line or "level=fatal" in line or "Error:" in line]
    return (errors or lines or ["no log"])[-1][:400]


def ensure_servers(site_ids: Iterable[str], say: Say | None = None) -> list[str]:
    """Converge the Velero servers of these sites; returns the sites where one was started now."""
    return [site for site in dict.fromkeys(site_ids) if ensure_server(site, say)]


def stop_server(site_id: str) -> bool:
    return stop(server_spec(site_id))
