"""Each lab site's own network: the podman network its real nodes share, and its gateway bridges.

A site's real nodes sit on one *internal* podman network (no default route, no NAT: nothing on it
can reach beyond the machine). The host owns the network's gateway address; the site's API
server listens on 127.0.0.1 only, so a supervised ``socat`` forwards ``gateway:port`` to it. Nodes,
kube-proxy and kube-router reach the control plane there, and the API server advertises that
address for the ``kubernetes`` service. Subnets derive from the lab's port base and the site's
order, so two labs on one machine (the lab and a test run) never share one. The site's MinIO is
bridged the same way, so pods (migrated apps, copy Jobs) reach their object store, and so are the
MinIOs of the partners the site backs up to, for Velero's node agents.
"""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import dataclass

from pdn.errors import ToolMissingError
from pdn.lab import layout
from pdn.lab.processes import ProcessSpec
from pdn.nodes.podman import podman
from pdn.sites import load_sites

#: Networks are 10.250.<n>.0/24; addresses below FIRST_NODE_HOST are the gateway's and spare.
SUPERNET = ipaddress.ip_network("10.250.0.0/16")
FIRST_NODE_HOST = 10
BRIDGE = "kube-apiserver-bridge"
S3_BRIDGE = "minio-bridge"


def network_name(site_id: str) -> str:
    return f"pdn-lab-{layout.port_base()}-{site_id}"


def subnet(site_id: str) -> ipaddress.IPv4Network:
    third = (layout.port_base() // layout.PORTS_PER_SITE + layout.site_index(site_id)) % 256
    return ipaddress.IPv4Network(f"{SUPERNET.network_address + third * 256}/24")


def gateway(site_id: str) -> str:
    """The host's address on the site network, where the API server bridge listens."""
    return str(subnet(site_id).network_address + 1)


def node_address(site_id: str, index: int) -> str:
    """Node ``index`` (1-based) of the site: a fixed address, so a restarted node keeps its IP."""
    if not 1 <= index <= 200:
        raise ValueError(f"node index {index} is outside 1..200")
    return str(subnet(site_id).network_address + FIRST_NODE_HOST + index)


def ensure_network(site_id: str) -> str:
    """Create the site's internal network when it is missing; return its name."""
    name = network_name(site_id)
    if podman(["network", "exists", name], check=False).returncode != 0:
        net = subnet(site_id)
        podman(
            ["network", "create", "--internal", "--subnet", str(net), "--gateway", gateway(site_id),
             "--label", "pdn.lab=true", "--label", f"pdn.site={site_id}", name],
        )  # fmt: skip
    return name


def remove_network(site_id: str) -> bool:
    """Remove the site's network (after its nodes); True when there was one."""
    name = network_name(site_id)
    if shutil.which("podman") is None or podman(["network", "exists", name], check=False).returncode != 0:
        return False
    # No --force: a network still used by another set of nodes stays (podman refuses).
    return podman(["network", "rm", name], check=False).returncode == 0


def _socat() -> str:
    socat = shutil.which("socat")
    if socat is None:
        raise ToolMissingError("socat is not installed", hint="apt-get install -y socat")
    return socat


def ssh_bridge_spec(site_id: str, node_name: str, port: int, address: str) -> ProcessSpec:
    """``socat`` from 127.0.0.1:``port`` to a real node's SSH (podman publishes no port into an
    internal network), so Ansible and operators reach every node on loopback as before."""
    argv = [_socat(), f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,max-children=32", f"TCP:{address}:22"]
    return ProcessSpec(
        site_id, f"ssh-bridge-{node_name}", argv, [port], layout.run_dir(site_id), layout.log_dir(site_id)
    )


@dataclass(frozen=True)
class GatewayBridge:
    """One ``socat`` from ``gateway(site):port`` to the same port on 127.0.0.1, where the lab
    component ``component`` of site ``target`` listens (ports are unique across the lab's sites)."""

    site: str
    name: str
    target: str
    component: str

    @property
    def port(self) -> int:
        return layout.port(self.target, self.component)

    @property
    def address(self) -> tuple[str, int]:
        return gateway(self.site), self.port

    def spec(self) -> ProcessSpec:
        argv = [
            _socat(),
            f"TCP-LISTEN:{self.port},bind={gateway(self.site)},reuseaddr,fork,max-children=256",
            f"TCP:127.0.0.1:{self.port}",
        ]
        # No ports to pre-check: the listener itself holds this port number on 127.0.0.1.
        return ProcessSpec(self.site, self.name, argv, [], layout.run_dir(self.site), layout.log_dir(self.site))


def bridges(site_id: str) -> list[GatewayBridge]:
    """Every bridge from the site network into the host's loopback listeners: nodes, kube-proxy and
    kube-router reach the API server; pods reach their object store; Velero's node agents and their
    data-mover pods reach the stores of the partners this site backs up to (site model)."""
    found = [
        GatewayBridge(site_id, BRIDGE, site_id, "kube-apiserver"),
        GatewayBridge(site_id, S3_BRIDGE, site_id, "minio"),
    ]
    partners = dict.fromkeys(partner.site for partner in load_sites().site(site_id).backup.partners)
    found += [GatewayBridge(site_id, f"{S3_BRIDGE}-{partner}", partner, "minio") for partner in partners]
    return found


def gateway_bridges(site_id: str) -> list[ProcessSpec]:
    """The process specs of :func:`bridges`."""
    return [bridge.spec() for bridge in bridges(site_id)]


def bridged(site_id: str) -> bool:
    """True when the site's gateway bridges run (the site has real nodes)."""
    from pdn.lab.processes import running_pid

    if shutil.which("socat") is None:  # no bridge can run (a kwok-only machine)
        return False
    return all(running_pid(spec) is not None for spec in gateway_bridges(site_id))


def s3_endpoint_from(site_id: str, store_site: str) -> str:
    """``http://GATEWAY:PORT`` of ``store_site``'s MinIO as workloads in ``site_id``'s cluster reach
    it (``store_site`` is the site itself or one of its backup partners)."""
    if store_site != site_id and all(bridge.target != store_site for bridge in bridges(site_id)):
        raise ValueError(f"{site_id} has no bridge to {store_site}'s object store (not a backup partner)")
    return f"http://{gateway(site_id)}:{layout.port(store_site, 'minio')}"


def pod_s3_endpoint(site_id: str) -> str:
    """``http://GATEWAY:PORT``: the site's MinIO as pods on the site's real nodes reach it (with
    MinIO's own authentication; NetworkPolicy decides which pods may)."""
    return s3_endpoint_from(site_id, site_id)
