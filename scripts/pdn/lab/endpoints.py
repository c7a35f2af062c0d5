"""How to reach each site of the local lab: kubeconfig, S3 endpoint and credentials, Pulumi env.

This is the interface the stacks, backup and migration tests code against. Nothing here starts
anything; ``pdn lab up`` (or the ``lab`` pytest fixture) does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pdn.errors import PdnError
from pdn.lab import layout
from pdn.lab.credentials import ensure_passphrase, read_credentials
from pdn.sites import load_sites
from pdn.toolchain import bin_path, pulumi_home


def kubeconfig_path(site_id: str) -> Path:
    """Admin kubeconfig of the site's lab cluster (client certificate in group system:masters)."""
    layout.site_index(site_id)  # unknown site -> InputError
    return layout.kubeconfig_dir(site_id) / "admin.yaml"


def kube_server(site_id: str) -> str:
    """``https://127.0.0.1:PORT`` of the site's kube-apiserver."""
    return f"https://127.0.0.1:{layout.port(site_id, 'kube-apiserver')}"


def s3_endpoint(site_id: str) -> str:
    """``http://127.0.0.1:PORT`` of the site's MinIO."""
    return f"http://127.0.0.1:{layout.port(site_id, 'minio')}"


def pod_s3_endpoint(site_id: str) -> str:
    """The site's MinIO as pods on its real nodes reach it: ``http://GATEWAY:PORT`` (a bridge)."""
    from pdn.lab import sitenet

    return sitenet.pod_s3_endpoint(site_id)


def bridge_s3_endpoints(site_id: str) -> dict[str, str]:
    """Store site -> URL of every object store ``site_id``'s pods reach through its gateway
    bridges (its own and its backup partners'), whether or not the bridges run now."""
    from pdn.lab import sitenet

    return {bridge.target: sitenet.s3_endpoint_from(site_id, bridge.target) for bridge in sitenet.bridges(site_id)
            if bridge.component == "minio"}  # fmt: skip


def cluster_s3_endpoints(site_id: str) -> dict[str, str]:
    """The stack's ``s3ClusterEndpoints`` for ``site_id``: the bridge URLs when the site has real
    nodes (its bridges run), so Velero's node agents reach the backup stores; else none (the
    locations use the loopback endpoints, which the host-side Velero server reaches)."""
    from pdn.lab import sitenet

    return bridge_s3_endpoints(site_id) if sitenet.bridged(site_id) else {}


def s3_region(site_id: str) -> str:
    """The S3 region the site's MinIO announces (``object_storage.region`` in the site model)."""
    return load_sites().site(site_id).object_storage.region


def s3_credentials(site_id: str) -> tuple[str, str]:
    """(access key, secret key) of the site's MinIO root user, read from the lab dir."""
    layout.site_index(site_id)
    path = layout.minio_credentials_file(site_id)
    try:
        return read_credentials(path)
    except OSError:
        raise PdnError(
            f"no MinIO credentials for {site_id} ({path} is missing)", hint=f"pdn lab up --site {site_id}"
        ) from None


def _path_with_toolchain() -> str:
    folders = [str(Path(sys.executable).parent), *(str(folder) for folder in bin_path())]
    return os.pathsep.join([*folders, os.environ.get("PATH", "")])


def pulumi_env() -> dict[str, str]:
    """Variables that let ``pulumi`` run offline with the lab's file backend and no login.

    Merge into ``os.environ`` (the result holds only pdn's variables and PATH).
    """
    backend = layout.pulumi_backend_dir()
    backend.mkdir(parents=True, exist_ok=True)
    return {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(ensure_passphrase(layout.pulumi_passphrase_file())),
        "PULUMI_HOME": str(pulumi_home()),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_CONFIRMATIONS": "true",
        "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        "PATH": _path_with_toolchain(),
    }


def site_env(site_id: str) -> dict[str, str]:
    """What ``pdn lab env SITE`` prints: KUBECONFIG, S3 endpoint, region and credentials."""
    access, secret = s3_credentials(site_id)
    return {
        "KUBECONFIG": str(kubeconfig_path(site_id)),
        "PDN_SITE": site_id,
        "AWS_ENDPOINT_URL_S3": s3_endpoint(site_id),
        "AWS_ENDPOINT_URL": s3_endpoint(site_id),
        "AWS_REGION": s3_region(site_id),
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }
