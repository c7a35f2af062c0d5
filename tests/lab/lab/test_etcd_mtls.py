"""The running lab's etcd speaks mutual TLS on 127.0.0.1 only and knows one client: the API server."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pdn.lab import layout
from pdn.lab.components import etcd_context


def _health(url: str, context: ssl.SSLContext | None) -> bytes:
    with urllib.request.urlopen(url, timeout=3, context=context) as answer:
        body: bytes = answer.read()
        return body


def test_etcd_refuses_every_client_but_the_api_server(lab: Any) -> None:
    for site in lab.sites:
        port = layout.port(site, "etcd")
        url = f"https://127.0.0.1:{port}/health"
        assert b'"health":"true"' in _health(url, etcd_context(site)).replace(b" ", b"")
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _health(url, etcd_context(site, client_cert=False))  # no certificate
        pki = layout.pki_dir(site)
        admin = ssl.create_default_context(cafile=str(pki / "etcd-ca.crt"))
        admin.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))  # cluster-admin of the API
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _health(url, admin)
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            _health(f"http://127.0.0.1:{port}/health", None)  # no plain HTTP either
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.2", port), timeout=1).close()  # bound to 127.0.0.1 only
        assert not stat.S_IMODE(layout.site_dir(site).stat().st_mode) & 0o077


def test_lab_status_shows_how_etcd_is_protected(lab: Any) -> None:
    env = {key: value for key, value in os.environ.items() if key.startswith("PDN_") or key in ("HOME", "PATH")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("pdn")), "lab", "status", *(f"--site={site}" for site in lab.sites)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "250"},
        check=False,
    )
    for site in lab.sites:
        line = next((row for row in done.stdout.splitlines() if site in row and "mutual TLS" in row), "")
        assert "mutual TLS on 127.0.0.1" in line and " only" in line and "refused" in line, done.stdout
        assert "0700 (owner only)" in line, done.stdout
