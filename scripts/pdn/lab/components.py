"""The processes of one lab site and how to tell that each one is healthy.

A site is etcd, kube-apiserver (TLS, RBAC), kube-controller-manager, kube-scheduler, kwok (fake
nodes and pod lifecycle) and MinIO, all on 127.0.0.1 ports from :mod:`pdn.lab.layout`.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from pdn.errors import ToolMissingError
from pdn.lab import layout
from pdn.lab.credentials import ensure_credentials
from pdn.lab.kubeconfig import kubeconfig, write_kubeconfig
from pdn.lab.pki import ensure_pki
from pdn.lab.processes import ProcessSpec
from pdn.sites import Site
from pdn.toolchain import resolve
from pdn.toolchain.locate import data_file

# Start order; ``down`` stops in reverse.
COMPONENTS = ("etcd", "minio", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


@dataclass(frozen=True)
class Component:
    spec: ProcessSpec
    health: Callable[[], bool]
    port: int


def _ssl_context(site_id: str, verify: bool) -> ssl.SSLContext:
    pki = layout.pki_dir(site_id)
    if verify:
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return context
    # controller-manager and scheduler serve /healthz with a self-signed certificate of their own
    return ssl._create_unverified_context()


def http_ok(url: str, context: ssl.SSLContext | None = None, expect: bytes | None = None) -> bool:
    """True when ``url`` answers 200 (and its body contains ``expect``) within one second."""
    try:
        with urllib.request.urlopen(url, timeout=1.0, context=context) as response:
            body: bytes = response.read()
            return response.status == 200 and (expect is None or expect in body)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@cache
def _context(site_id: str, verify: bool) -> ssl.SSLContext:
    return _ssl_context(site_id, verify)


def prepare_site(site: Site) -> None:
    """Certificates, kubeconfigs and MinIO credentials for ``site`` (only what is missing)."""
    pki = layout.pki_dir(site.id)
    ensure_pki(pki, site.id, site.kubernetes.service_cidr)
    server = f"https://127.0.0.1:{layout.port(site.id, 'kube-apiserver')}"
    folder = layout.kubeconfig_dir(site.id)
    folder.mkdir(parents=True, exist_ok=True)
    cluster = f"pdn-lab-{site.id}"
    for stem in ("admin", "controller-manager", "scheduler", "kwok"):
        text = kubeconfig(server, pki / "ca.crt", pki / f"{stem}.crt", pki / f"{stem}.key", cluster, stem)
        write_kubeconfig(folder / f"{stem}.yaml", text)
    ensure_credentials(layout.minio_credentials_file(site.id))


def _tool(name: str, strict: bool) -> str:
    """The pinned binary; when not ``strict`` (status, down) a missing one is only a name."""
    try:
        return str(resolve(name))
    except ToolMissingError:
        if strict:
            raise
        return name


def components(site: Site, strict: bool = True) -> dict[str, Component]:
    """Every component of ``site``, keyed by name, in start order.

    ``strict`` (for starting) requires every tool to be built; ``status`` and ``down`` work from
    pid files and do not need the tools.
    """
    sid = site.id
    pki = layout.pki_dir(sid)
    kube = layout.kubeconfig_dir(sid)
    run, logs = layout.run_dir(sid), layout.log_dir(sid)
    port = {name: layout.port(sid, name) for name in layout.PORT_OFFSETS}

    def spec(name: str, argv: list[str], ports: list[int], env: dict[str, str] | None = None) -> ProcessSpec:
        return ProcessSpec(sid, name, argv, ports, run, logs, env or {})

    etcd_url = f"http://127.0.0.1:{port['etcd']}"
    peer_url = f"http://127.0.0.1:{port['etcd-peer']}"
    etcd = spec(
        "etcd",
        [
            _tool("etcd", strict),
            f"--name={sid}",
            f"--data-dir={layout.etcd_data_dir(sid)}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster={sid}={peer_url}",
            "--initial-cluster-state=new",
            "--quota-backend-bytes=2147483648",
            "--snapshot-count=10000",
            # the lab trades durability against power loss for speed; a killed process loses nothing
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        [port["etcd"], port["etcd-peer"]],
    )
    apiserver = spec(
        "kube-apiserver",
        [
            _tool("kube-apiserver", strict),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port['kube-apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={site.kubernetes.service_cidr}",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--tls-min-version=VersionTLS12",
            "--v=1",
        ],
        [port["kube-apiserver"]],
    )
    common_kube = ["--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false", "--v=1"]
    controller_manager = spec(
        "kube-controller-manager",
        [
            _tool("kube-controller-manager", strict),
            f"--kubeconfig={kube / 'controller-manager.yaml'}",
            f"--authentication-kubeconfig={kube / 'controller-manager.yaml'}",
            f"--authorization-kubeconfig={kube / 'controller-manager.yaml'}",
            f"--secure-port={port['kube-controller-manager']}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--use-service-account-credentials=true",
            f"--cluster-name=pdn-lab-{sid}",
            *common_kube,
        ],
        [port["kube-controller-manager"]],
    )
    scheduler = spec(
        "kube-scheduler",
        [
            _tool("kube-scheduler", strict),
            f"--kubeconfig={kube / 'scheduler.yaml'}",
            f"--authentication-kubeconfig={kube / 'scheduler.yaml'}",
            f"--authorization-kubeconfig={kube / 'scheduler.yaml'}",
            f"--secure-port={port['kube-scheduler']}",
            *common_kube,
        ],
        [port["kube-scheduler"]],
    )
    kwok = spec(
        "kwok",
        [
            _tool("kwok", strict),
            f"--kubeconfig={kube / 'kwok.yaml'}",
            f"--config={data_file('kwok', 'stages.yaml') if strict else 'stages.yaml'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--cidr={site.kubernetes.pod_cidr}",
            "--node-ip=127.0.0.1",
            f"--server-address=127.0.0.1:{port['kwok']}",
            "--v=WARN",
        ],
        [port["kwok"]],
    )
    access, secret = ensure_credentials(layout.minio_credentials_file(sid))
    minio = spec(
        "minio",
        [
            _tool("minio", strict),
            "server",
            str(layout.minio_data_dir(sid)),
            f"--address=127.0.0.1:{port['minio']}",
            "--quiet",
            "--anonymous",
        ],
        [port["minio"]],
        {
            "MINIO_ROOT_USER": access,
            "MINIO_ROOT_PASSWORD": secret,
            "MINIO_SITE_REGION": site.object_storage.region,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "1",
        },
    )
    base = f"https://127.0.0.1:{port['kube-apiserver']}"
    return {
        "etcd": Component(etcd, lambda: http_ok(f"{etcd_url}/health", expect=b'"true"'), port["etcd"]),
        "minio": Component(
            minio, lambda: http_ok(f"http://127.0.0.1:{port['minio']}/minio/health/live"), port["minio"]
        ),
        "kube-apiserver": Component(
            apiserver, lambda: http_ok(f"{base}/readyz", _context(sid, True)), port["kube-apiserver"]
        ),
        "kube-controller-manager": Component(
            controller_manager,
            lambda: http_ok(f"https://127.0.0.1:{port['kube-controller-manager']}/healthz", _context(sid, False)),
            port["kube-controller-manager"],
        ),
        "kube-scheduler": Component(
            scheduler,
            lambda: http_ok(f"https://127.0.0.1:{port['kube-scheduler']}/healthz", _context(sid, False)),
            port["kube-scheduler"],
        ),
        "kwok": Component(kwok, lambda: http_ok(f"http://127.0.0.1:{port['kwok']}/healthz"), port["kwok"]),
    }
