"""Kubeconfig files for the lab clusters (certificates referenced by path, not embedded)."""

from __future__ import annotations

from pathlib import Path

import yaml

from pdn.lab.credentials import write_private


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, cluster: str, user: str) -> str:
    """A one-context kubeconfig as YAML text."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_kubeconfig(path: Path, text: str) -> None:
    """Write (0600) only when the content changed, so running clients never see a partial file."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    write_private(tmp, text)
    tmp.replace(path)
