"""The lab's Cluster API management plane: four managers reconciling one lab site's cluster.

The management cluster is a lab site's own control plane (host processes on 127.0.0.1). The
managers run as containers from :func:`pdn.capi.images.ensure_controllers_image`, not as host
processes, because controller-runtime's webhook server has no flag for its address and listens on
every interface: in a container, every interface is one of the lab's own networks. Each manager
sits on two internal podman networks at a fixed address:

- the management site's network (:mod:`pdn.lab.sitenet`): it reaches the API server through the
  site's gateway bridge, and the API server (on the host) calls its webhooks at
  ``https://ADDRESS:9443`` with the lab's webhook CA;
- ``kind``, the network Cluster API's Docker provider puts every machine on (the name is a
  constant of the provider): the managers reach the workload clusters' API servers there.

The Docker provider talks to podman through :mod:`pdn.capi.dockerproxy` (a socket mounted into
its container), which lets it create only lab images on ``kind``, with loopback-only ports and
the host's ulimits, never pull. Each manager has a client certificate of its own, bound only to
its provider's role (:mod:`pdn.capi.manifests`). ``pdn lab capi up`` converges: what runs and
answers is left alone.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pdn import kube, paths
from pdn.capi import approver, images, manifests
from pdn.capi.manifests import HEALTH_PORT, PROVIDERS, WEBHOOK_PORT, Provider
from pdn.capi.state import capi_dir, forget, record, workload_site
from pdn.errors import PdnError
from pdn.lab import components, layout, sitenet
from pdn.lab.kubeconfig import kubeconfig, write_kubeconfig
from pdn.lab.pki import ensure_client_cert, ensure_serving_cert
from pdn.lab.processes import ProcessSpec, running_pid, start, stop
from pdn.naming import cluster_api_namespace
from pdn.nodes.kubenode import IMAGE_REPO as NODE_IMAGE_REPO
from pdn.nodes.podimages import images_dir
from pdn.nodes.podman import podman
from pdn.nodes.runtime import KUBE_ULIMITS, NAMESPACE_LABEL
from pdn.nodes.runtime import namespace as nodes_namespace
from pdn.stacks import crds
from pdn.wait import wait_until

#: The network the Docker provider creates machines on (``DefaultNetwork`` in its source).
KIND_NETWORK = "kind"
KIND_SUBNET = ipaddress.IPv4Network("10.249.0.0/24")
FIELD_MANAGER = "pdn-capi"
READY_TIMEOUT = 180.0
#: Host offset of each manager's address on the management site's network (below the nodes').
ADDRESS_OFFSETS = {"core": 2, "kubeadm-bootstrap": 3, "kubeadm-control-plane": 4, "docker": 5}
#: Where a manager's container sees its folder (:func:`files_dir`).
FILES = "/etc/pdn/capi"
DOCKER_SOCKET = "/run/pdn/docker.sock"
#: The Docker provider's container runs as root (without capabilities) to use the proxy's
#: owner-only socket; the other managers as an unprivileged user.
MANAGER_USER = "65532:65532"

Report = Callable[[str, str], None]


def _quiet(_what: str, _state: str) -> None:
    pass


def run_dir() -> Path:
    return capi_dir() / "run"


def log_dir() -> Path:
    return capi_dir() / "logs"


def watched_namespace(workload: str) -> str:
    """The namespace whose objects the managers' webhooks check: the workload site's Cluster API
    namespace (the management site's own stack keeps its Metal3 Cluster in its own namespace).

    The managers themselves watch every namespace: Cluster API v1.14.2's ``--namespace`` makes
    controller-runtime build a multi-namespace cache, and the kubeadm control plane controller
    then fails every reconcile ("failed to cast Machine informer to SharedIndexInformer",
    util/controller/consistency.go). See docs/capi.md for what that means for the other Cluster."""
    return cluster_api_namespace(workload)


def container_name(item: Provider) -> str:
    return f"pdn-capi-{layout.port_base()}-{item.name}"


def address(site_id: str, item: Provider) -> str:
    """The manager's fixed address on the management site's network."""
    return str(sitenet.subnet(site_id).network_address + ADDRESS_OFFSETS[item.name])


def webhook_url(site_id: str, item: Provider) -> str:
    return f"https://{address(site_id, item)}:{WEBHOOK_PORT}"


def files_dir(item: Provider) -> Path:
    """The manager's folder, mounted read-only at :data:`FILES`: its webhook serving certificate
    (``tls.crt``/``tls.key``), its client certificate, the cluster CA and its kubeconfig."""
    return capi_dir() / item.name


def _copy_if_changed(source: Path, target: Path, mode: int) -> None:
    data = source.read_bytes()
    if not target.is_file() or target.read_bytes() != data:
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    target.chmod(mode)


def approver_kubeconfig() -> Path:
    """The serving-certificate approver's kubeconfig for the management cluster (host process)."""
    return capi_dir() / "approver" / "kubeconfig"


def ensure_credentials(site_id: str) -> bytes:
    """Every manager's webhook serving certificate and client kubeconfig, and the approver's;
    returns the webhook CA."""
    pki = capi_dir() / "pki"
    site_pki = layout.pki_dir(site_id)
    server = f"https://{sitenet.gateway(site_id)}:{layout.port(site_id, 'kube-apiserver')}"
    ensure_client_cert(pki, "approver-client", site_pki, site_id, approver.USER)
    approver_kubeconfig().parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_kubeconfig(
        approver_kubeconfig(),
        kubeconfig(server, site_pki / "ca.crt", pki / "approver-client.crt", pki / "approver-client.key",
                   f"pdn-lab-{site_id}", approver.USER),
    )  # fmt: skip
    for item in PROVIDERS:
        ensure_serving_cert(
            pki, f"{item.name}-webhook", "webhook-ca", site_id, item.role_name, [address(site_id, item)]
        )
        ensure_client_cert(pki, f"{item.name}-client", site_pki, site_id, item.user)
        folder = files_dir(item)
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        copies = {
            "tls.crt": pki / f"{item.name}-webhook.crt",
            "tls.key": pki / f"{item.name}-webhook.key",
            "client.crt": pki / f"{item.name}-client.crt",
            "client.key": pki / f"{item.name}-client.key",
            "ca.crt": site_pki / "ca.crt",
        }
        for name, source in copies.items():
            _copy_if_changed(source, folder / name, 0o640)
        inside = Path(FILES)
        text = kubeconfig(
            server, inside / "ca.crt", inside / "client.crt", inside / "client.key", f"pdn-lab-{site_id}", item.user
        )
        write_kubeconfig(folder / "kubeconfig", text)
        # The container's user reads these through its group; nobody else can.
        gid = int(_user(item).split(":")[1])
        for path in (folder, *folder.iterdir()):
            os.chown(path, 0, gid)
            path.chmod(0o750 if path.is_dir() else 0o640)
    return (pki / "webhook-ca.crt").read_bytes()


def _user(item: Provider) -> str:
    return "0:0" if item.name == "docker" else MANAGER_USER


def ensure_kind_network() -> str:
    """The ``kind`` network (internal: nothing on it reaches beyond the machine); its subnet."""
    found = podman(["network", "inspect", KIND_NETWORK], check=False)
    if found.returncode == 0:
        info = json.loads(found.stdout)[0]
        if not info.get("internal"):
            raise PdnError(
                f"podman network {KIND_NETWORK} exists and is not internal",
                hint=f"remove it (podman network rm {KIND_NETWORK}) and run pdn lab capi up again",
            )
        return str(info["subnets"][0]["subnet"])
    podman(
        ["network", "create", "--internal", "--subnet", str(KIND_SUBNET),
         "--gateway", str(KIND_SUBNET.network_address + 1), "--label", "pdn.lab=true", KIND_NETWORK],
    )  # fmt: skip
    return str(KIND_SUBNET)


def _podman_binary() -> str:
    from pdn.nodes.podman import require

    return require("podman", "podman")


def service_specs(site_id: str) -> list[ProcessSpec]:
    """podman's API service on an owner-only socket, and the Docker provider's proxy to it."""
    run = run_dir()
    upstream = run / "podman.sock"
    proxied = run / "docker.sock"
    podman_service = ProcessSpec(
        "capi", "podman-service", [_podman_binary(), "system", "service", "--time=0", f"unix://{upstream}"],
        [], run, log_dir(),
    )  # fmt: skip
    proxy = ProcessSpec(
        "capi",
        "docker-proxy",
        [sys.executable, "-m", "pdn.capi.dockerproxy", "--listen", str(proxied), "--upstream", str(upstream),
         "--image-prefix", NODE_IMAGE_REPO, "--image-prefix", f"{images.LB_REPOSITORY}/{images.LB_IMAGE}",
         "--network", KIND_NETWORK,
         "--bind-source", "/lib/modules", "--bind-source", "/dev/mapper", "--bind-source", str(images_dir()),
         "--label", f"{NAMESPACE_LABEL}={nodes_namespace()}"],
        [], run, log_dir(), env={"PYTHONPATH": str(paths.repo_root() / "scripts")},
    )  # fmt: skip
    workload = workload_site()
    if workload is None:
        return [podman_service, proxy]
    approving = ProcessSpec(
        "capi",
        "csr-approver",
        [sys.executable, "-m", "pdn.capi.approver", "--kubeconfig", str(approver_kubeconfig()),
         "--workload", workload, "--state", str(approver_kubeconfig().parent)],
        [], run, log_dir(), env={"PYTHONPATH": str(paths.repo_root() / "scripts")},
    )  # fmt: skip
    return [podman_service, proxy, approving]


def ensure_services(site_id: str) -> None:
    for spec in service_specs(site_id):
        if running_pid(spec) is None:
            start(spec)
    for name in ("podman.sock", "docker.sock"):
        socket_path = run_dir() / name
        wait_until(f"{socket_path} to appear", socket_path.is_socket, timeout=30, interval=0.2)


def manager_args(item: Provider) -> list[str]:
    """The manager's flags: webhooks and health inside its own network namespace, diagnostics on
    its loopback only, no leader election (one replica), topology on."""
    del item  # every manager takes the same flags (controller-runtime's and Cluster API's own)
    return [
        f"--webhook-port={WEBHOOK_PORT}",
        f"--webhook-cert-dir={FILES}",
        f"--health-addr=:{HEALTH_PORT}",
        "--diagnostics-address=127.0.0.1:8443",
        "--leader-elect=false",
        "--feature-gates=ClusterTopology=true",
        "--v=2",
    ]


def run_args(site_id: str, item: Provider, image: str) -> list[str]:
    """``podman run`` arguments of one manager's container."""
    manager = next(m for m in images.MANAGERS if m.name == item.name)
    args = [
        "run", "-d", "--runtime", "runc", "--name", container_name(item),
        "--label", "pdn.lab=true", "--label", f"pdn.capi={item.name}",
        "--network", f"{sitenet.network_name(site_id)}:ip={address(site_id, item)}",
        "--network", KIND_NETWORK,
        "--read-only", "--cap-drop=all", "--security-opt=no-new-privileges", "--user", _user(item),
        *KUBE_ULIMITS, "--pids-limit=512", "--memory=768m",
        "--restart=on-failure",
        "-v", f"{files_dir(item)}:{FILES}:ro", "-e", f"KUBECONFIG={FILES}/kubeconfig",
    ]  # fmt: skip
    if item.name == "docker":
        args += ["-v", f"{run_dir() / 'docker.sock'}:{DOCKER_SOCKET}", "-e", f"DOCKER_HOST=unix://{DOCKER_SOCKET}"]
    return [*args, "--entrypoint", manager.command, image, *manager_args(item)]


def _container_image(name: str) -> str | None:
    found = podman(["container", "inspect", "--format", "{{.ImageName}} {{.State.Running}}", name], check=False)
    if found.returncode != 0:
        return None
    image, _, running = found.stdout.strip().partition(" ")
    return image if running == "true" else ""


def _container_args(name: str) -> list[str] | None:
    found = podman(["container", "inspect", "--format", "{{json .Config.Cmd}}", name], check=False)
    try:
        args = json.loads(found.stdout) if found.returncode == 0 else None
    except ValueError:
        return None
    return [str(arg) for arg in args] if isinstance(args, list) else None


def ensure_container(site_id: str, item: Provider, image: str) -> bool:
    """Start the manager's container unless it already runs this image with these flags; True
    when (re)started."""
    name = container_name(item)
    current = _container_image(name)
    if current == image and _container_args(name) == manager_args(item):
        return False
    if current is not None:
        podman(["rm", "-f", name], timeout=60)
    podman(run_args(site_id, item, image), timeout=120)
    return True


def ready(site_id: str, item: Provider) -> bool:
    """The manager answers ``/readyz`` on its health port (from the host, over the site network)."""
    return components.http_ok(f"http://{address(site_id, item)}:{HEALTH_PORT}/readyz")


def _apply(client: kube.Kube, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        client.apply(obj, field_manager=FIELD_MANAGER, force=True)


def up(site_id: str, workload: str, report: Report = _quiet) -> dict[str, str]:
    """Converge the management plane on ``site_id``'s cluster for ``workload``'s Cluster; returns
    each manager's address."""
    if workload == site_id:
        raise PdnError(
            f"the management cluster ({site_id}) cannot also hold {workload}'s Cluster in the lab",
            hint="its own stack keeps Metal3 Cluster objects there; pick another workload site (--for)",
        )
    if not sitenet.bridged(site_id):
        raise PdnError(
            f"{site_id} has no site network bridge: the managers reach its API server through it",
            hint=f"run `pdn lab up` with real nodes for {site_id} first",
        )
    started = time.monotonic()
    namespace = watched_namespace(workload)
    record(site_id, workload)
    report("manifests", "fetching the pinned providers' CRDs, webhooks and roles")
    crds.fetch()
    report("images", "controllers, load balancer, control-plane images")
    image = images.ensure_controllers_image()
    images.ensure_lb_image()
    images.ensure_control_plane_images()
    report("network", f"podman network {KIND_NETWORK}: {ensure_kind_network()}")
    ca_bundle = ensure_credentials(site_id)
    client = kube.site(site_id)
    _apply(client, approver.rbac(workload))
    ensure_services(site_id)
    for item in PROVIDERS:
        _apply(client, manifests.crds(item, webhook_url(site_id, item), ca_bundle))
        _apply(client, manifests.rbac(item))
    for item in PROVIDERS:
        if ensure_container(site_id, item, image):
            report(item.name, f"started {container_name(item)} at {address(site_id, item)}")
    for item in PROVIDERS:

        def answers(item: Provider = item) -> bool:
            return ready(site_id, item)

        wait_until(
            f"Cluster API {item.name} manager to be ready",
            answers,
            timeout=READY_TIMEOUT,
            interval=1.0,
            hint=f"podman logs {container_name(item)}",
        )
    for item in PROVIDERS:
        _apply(
            client, manifests.webhook_configurations(item, webhook_url(site_id, item), ca_bundle, namespace=namespace)
        )
    report("ready", f"{len(PROVIDERS)} managers ready in {time.monotonic() - started:.0f} s")
    return {item.name: address(site_id, item) for item in PROVIDERS}


def status(site_id: str) -> dict[str, str]:
    """Each manager's state, probed: its container and its readiness endpoint."""
    found = {}
    for item in PROVIDERS:
        image = _container_image(container_name(item))
        if image is None:
            found[item.name] = "no container"
        elif image == "":
            found[item.name] = "container stopped"
        else:
            found[item.name] = "ready" if ready(site_id, item) else "not ready"
    for spec in service_specs(site_id):
        found[spec.name] = "running" if running_pid(spec) is not None else "stopped"
    return found


def _reachable_client(site_id: str) -> kube.Kube | None:
    """The management cluster's client when its API server answers (``down`` works without it)."""
    try:
        client = kube.site(site_id)
    except PdnError:
        return None
    return client if client.reachable(timeout=3) is None else None


#: The label the Docker provider puts on every container it makes (machines, load balancers).
MACHINE_LABEL = "io.x-k8s.kind.cluster"


def machine_containers(*, every_lab: bool = False) -> list[str]:
    """Names of the containers the Docker provider made for this lab (its nodes namespace, which
    the proxy labels them with), or for every lab on this machine."""
    if shutil.which("podman") is None:  # a kwok-only machine: there are none
        return []
    filters = ["--filter", f"label={MACHINE_LABEL}"]
    if not every_lab:
        filters += ["--filter", f"label={NAMESPACE_LABEL}={nodes_namespace()}"]
    found = podman(["ps", "-a", *filters, "--format", "{{.Names}}"], check=False)
    return found.stdout.split() if found.returncode == 0 else []


def remove_machines(report: Report = _quiet) -> None:
    """Remove the containers the Docker provider made for this lab, and the ``kind`` network once
    no lab's machine is left on it."""
    for name in machine_containers():
        podman(["rm", "-f", "-v", name], timeout=120)
        report("machines", f"removed {name}")
    if shutil.which("podman") is None or machine_containers(every_lab=True):
        return
    if podman(["network", "exists", KIND_NETWORK], check=False).returncode == 0:
        podman(["network", "rm", KIND_NETWORK], check=False)


def down(site_id: str, report: Report = _quiet, *, purge: bool = False) -> None:
    """Remove the webhooks (so the API server stops calling them), the managers and the services.

    The CRDs and the objects stay (``pdn lab down`` removes the whole cluster); machines the
    Docker provider made stay too, unless ``purge`` (``pdn lab down --purge``): then they and the
    ``kind`` network go as well. Otherwise delete their Clusters first (``pdn stacks destroy``).
    """
    client = _reachable_client(site_id)
    for item in PROVIDERS:
        if client is not None:
            for flavour, plural in (("mutating", "mutatingwebhookconfigurations"),
                                    ("validating", "validatingwebhookconfigurations")):  # fmt: skip
                where = kube.path("admissionregistration.k8s.io/v1", plural, name=f"{item.role_name}-{flavour}")
                with contextlib.suppress(PdnError):
                    client.delete(where)
        if shutil.which("podman") is None:
            continue
        if podman(["container", "exists", container_name(item)], check=False).returncode == 0:
            podman(["rm", "-f", container_name(item)], timeout=60)
            report(item.name, f"removed {container_name(item)}")
    for spec in reversed(service_specs(site_id)):
        stop(spec)
    forget()
    if purge:
        remove_machines(report)
        shutil.rmtree(capi_dir(), ignore_errors=True)
