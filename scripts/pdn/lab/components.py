"""The processes of one lab site and how to tell that each one is healthy.

A site is etcd, kube-apiserver (TLS, RBAC), kube-controller-manager, kube-scheduler, kwok (fake
nodes and pod lifecycle) and MinIO, all on 127.0.0.1 ports from :mod:`pdn.lab.layout`.
etcd speaks mutual TLS only, with a CA of its own whose one client certificate is the API
server's (:func:`pdn.lab.pki.ensure_etcd_pki`): no other local user or lab identity reads the
Secrets stored there. The site's state folder is readable by its owner only.
"""

from __future__ import annotations

import socket
import ssl
import stat
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pdn import paths
from pdn.errors import ToolMissingError
from pdn.lab import layout, sitenet
from pdn.lab.credentials import ensure_credentials
from pdn.lab.kubeconfig import kubeconfig, write_kubeconfig
from pdn.lab.pki import ETCD_CA, ETCD_CLIENT, ETCD_SERVER, ensure_pki
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


def etcd_context(site_id: str, client_cert: bool = True) -> ssl.SSLContext:
    """TLS towards the site's etcd: its own CA, and the API server's client certificate."""
    pki = layout.pki_dir(site_id)
    context = ssl.create_default_context(cafile=str(pki / f"{ETCD_CA}.crt"))
    if client_cert:
        context.load_cert_chain(str(pki / f"{ETCD_CLIENT}.crt"), str(pki / f"{ETCD_CLIENT}.key"))
    return context


@cache
def _etcd_health_context(site_id: str) -> ssl.SSLContext:
    return etcd_context(site_id)


def _private(path: Path) -> None:
    """``path`` as a folder only its owner can enter (created when missing)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def etcd_security(site_id: str) -> dict[str, str]:
    """What ``pdn lab status`` shows about etcd and the site's state, each probed, not assumed."""
    port = layout.port(site_id, "etcd")
    url = f"https://127.0.0.1:{port}/health"
    if not layout.site_dir(site_id).exists():
        return {"state dir": "-", "etcd": "not set up"}
    mode = stat.S_IMODE(layout.site_dir(site_id).stat().st_mode)
    facts = {"state dir": f"{mode:04o}" + ("" if mode & 0o077 else " (owner only)")}
    try:
        answered = http_ok(url, _etcd_health_context(site_id), expect=b'"true"')
    except (OSError, ssl.SSLError):
        answered = False
    if not answered:
        return {**facts, "etcd": "not answering"}
    anonymous = http_ok(url, etcd_context(site_id, client_cert=False))
    try:  # a listener on 0.0.0.0 would also answer on 127.0.0.2
        socket.create_connection(("127.0.0.2", port), timeout=0.5).close()
        wildcard = True
    except OSError:
        wildcard = False
    return {
        **facts,
        "etcd": f"mutual TLS on 127.0.0.1:{port}" + (" and other addresses" if wildcard else " only"),
        "client without certificate": "answered (!)" if anonymous else "refused",
        "client certificates": "etcd CA: the API server's only",
    }


def prepare_site(site: Site) -> None:
    """Certificates, kubeconfigs and MinIO credentials for ``site`` (only what is missing)."""
    _private(paths.lab_dir())
    _private(layout.site_dir(site.id))
    for data in (layout.etcd_data_dir(site.id), layout.minio_data_dir(site.id)):
        _private(data)
    pki = layout.pki_dir(site.id)
    ensure_pki(pki, site.id, site.kubernetes.service_cidr, (sitenet.gateway(site.id),))
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

    etcd_url = f"https://127.0.0.1:{port['etcd']}"
    peer_url = f"https://127.0.0.1:{port['etcd-peer']}"
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
            # mutual TLS for clients and the peer listener; etcd trusts its own CA only
            f"--cert-file={pki / f'{ETCD_SERVER}.crt'}",
            f"--key-file={pki / f'{ETCD_SERVER}.key'}",
            "--client-cert-auth=true",
            f"--trusted-ca-file={pki / f'{ETCD_CA}.crt'}",
            f"--peer-cert-file={pki / f'{ETCD_SERVER}.crt'}",
            f"--peer-key-file={pki / f'{ETCD_SERVER}.key'}",
            "--peer-client-cert-auth=true",
            f"--peer-trusted-ca-file={pki / f'{ETCD_CA}.crt'}",
            "--tls-min-version=TLS1.2",
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
            f"--etcd-cafile={pki / f'{ETCD_CA}.crt'}",
            f"--etcd-certfile={pki / f'{ETCD_CLIENT}.crt'}",
            f"--etcd-keyfile={pki / f'{ETCD_CLIENT}.key'}",
            "--bind-address=127.0.0.1",
            # Real nodes and pods reach the API server on the site network's gateway, through the
            # bridge of pdn.lab.sitenet; that address is what the ``kubernetes`` service points at.
            f"--advertise-address={sitenet.gateway(sid)}",
            f"--secure-port={port['kube-apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            # Node + NodeRestriction: a kubelet may change only its own node and pods.
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth=true",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={site.kubernetes.service_cidr}",
            "--endpoint-reconciler-type=lease",
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
            # What a kubeadm control plane runs for joining nodes: bootstrap-token signing and
            # clean-up, kubelet CSRs signed by the site CA, one pod range per node.
            "--controllers=*,bootstrapsigner,tokencleaner",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--allocate-node-cidrs=true",
            f"--cluster-cidr={site.kubernetes.pod_cidr}",
            "--node-cidr-mask-size=24",
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
        "etcd": Component(
            etcd, lambda: http_ok(f"{etcd_url}/health", _etcd_health_context(sid), b'"true"'), port["etcd"]
        ),
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
