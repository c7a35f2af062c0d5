"""Where the lab keeps each site's state, and which loopback port each component listens on.

Ports are a pure function of the site's position in the site model (sorted by ``order``), so
every run, every clone and every test computes the same ones and re-runs converge. Override the
base with ``PDN_LAB_PORT_BASE`` (the default range stays below Linux's ephemeral ports).
"""

from __future__ import annotations

import os
from pathlib import Path

from pdn import paths
from pdn.errors import InputError
from pdn.sites import SiteModel, load_sites

DEFAULT_PORT_BASE = 27100
PORTS_PER_SITE = 20
# component -> offset inside the site's block of ports
PORT_OFFSETS = {
    "etcd": 0,
    "etcd-peer": 1,
    "kube-apiserver": 2,
    "kube-controller-manager": 3,
    "kube-scheduler": 4,
    "kwok": 5,
    "minio": 6,
    "velero": 7,  # Velero server metrics (pdn.backup); the lab itself does not start it
}


def port_base() -> int:
    raw = os.environ.get("PDN_LAB_PORT_BASE", str(DEFAULT_PORT_BASE))
    try:
        return int(raw)
    except ValueError:
        raise InputError(f"PDN_LAB_PORT_BASE must be a number, got {raw!r}") from None


def site_ids(model: SiteModel | None = None) -> list[str]:
    """Site ids in build order (``order``, then id): the order that fixes each site's ports."""
    model = model or load_sites()
    return [site.id for site in sorted(model.sites, key=lambda site: (site.order, site.id))]


def site_index(site_id: str, model: SiteModel | None = None) -> int:
    ids = site_ids(model)
    if site_id not in ids:
        raise InputError(f"unknown site {site_id!r}; known sites: {', '.join(ids)}")
    return ids.index(site_id)


def port(site_id: str, component: str, model: SiteModel | None = None) -> int:
    """The loopback port of ``component`` at ``site_id``."""
    return port_base() + site_index(site_id, model) * PORTS_PER_SITE + PORT_OFFSETS[component]


def site_dir(site_id: str) -> Path:
    return paths.lab_dir() / site_id


def pki_dir(site_id: str) -> Path:
    return site_dir(site_id) / "pki"


def kubeconfig_dir(site_id: str) -> Path:
    return site_dir(site_id) / "kubeconfig"


def run_dir(site_id: str) -> Path:
    return site_dir(site_id) / "run"


def log_dir(site_id: str) -> Path:
    return site_dir(site_id) / "logs"


def etcd_data_dir(site_id: str) -> Path:
    return site_dir(site_id) / "etcd"


def minio_data_dir(site_id: str) -> Path:
    return site_dir(site_id) / "minio" / "data"


def minio_credentials_file(site_id: str) -> Path:
    return site_dir(site_id) / "minio" / "credentials"


def pulumi_backend_dir() -> Path:
    return paths.lab_dir() / "pulumi"


def pulumi_passphrase_file() -> Path:
    return paths.lab_dir() / "pulumi-passphrase"
