"""Each lab site's own network: the podman network its real nodes share, and its gateway bridges.

A site's real nodes sit on one *internal* podman network (no default route, no NAT: nothing on it
can reach beyond the machine). The host owns the network's gateway address; the site's API
server listens on 127.0.0.1 only, so a supervised ``socat`` forwards ``gateway:port`` to it. Nodes,
kube-proxy and kube-router reach the control plane there, and the API server advertises that
address for the ``kubernetes`` service. Subnets derive from the lab's port base and the site's
order, so two labs on one machine (the lab and a test run) never share one. The site's MinIO is
bridged the same way, so pods (migrated apps, copy Jobs) reach their object store.
"""

from __future__ import annotations

import ipaddress
import shutil

from pdn.errors import ToolMissingError
from pdn.lab import layout
from pdn.lab.processes import ProcessSpec
from pdn.nodes.podman import podman

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


def _gateway_bridge(site_id: str, component: str, name: str) -> ProcessSpec:
    """``socat`` forwarding the site network's gateway address to a loopback lab listener."""
    port = layout.port(site_id, component)
    argv = [
        _socat(),
        f"TCP-LISTEN:{port},bind={gateway(site_id)},reuseaddr,fork,max-children=256",
        f"TCP:127.0.0.1:{port}",
    ]
    # No ports to pre-check: the listener itself holds this port number on 127.0.0.1.
    return ProcessSpec(site_id, name, argv, [], layout.run_dir(site_id), layout.log_dir(site_id))


#: Each gateway bridge and the lab component (port name in :mod:`pdn.lab.layout`) it forwards to:
#: nodes, kube-proxy and kube-router reach the API server; pods reach their object store.
GATEWAY_BRIDGES = {BRIDGE: "kube-apiserver", S3_BRIDGE: "minio"}


def gateway_bridges(site_id: str) -> list[ProcessSpec]:
    """Every bridge from the site network into the host's loopback listeners."""
    return [_gateway_bridge(site_id, component, name) for name, component in GATEWAY_BRIDGES.items()]


def pod_s3_endpoint(site_id: str) -> str:
    """``http://GATEWAY:PORT``: the site's MinIO as pods on the site's real nodes reach it (with
    MinIO's own authentication; NetworkPolicy decides which pods may)."""
    return f"http://{gateway(site_id)}:{layout.port(site_id, 'minio')}"
