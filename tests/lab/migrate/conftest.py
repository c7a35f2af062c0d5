"""Fixtures of the migration lab tests: a planned small inventory, and a private MinIO to restart.

``lab`` (tests/lab/conftest.py) provides the real kube-apiserver and MinIO of each site. The
fault-injection test needs a MinIO it may kill and restart without disturbing other tests, so
``own_minio`` starts one more from the same toolchain binary on a free 127.0.0.1 port.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pdn.migrate import pipeline
from pdn.migrate.generate import generate
from pdn.toolchain import resolve


@pytest.fixture(scope="session")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(inventory folder, output folder) after the whole pipeline on 800 generated apps."""
    inv_dir = tmp_path_factory.mktemp("inventory")
    out = tmp_path_factory.mktemp("out")
    generate(inv_dir, apps=800, datacenters=120, seed=21)
    pipeline.run(inv_dir, out, as_of=dt.date(2026, 11, 1), chart=False)
    return inv_dir, out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OwnMinio:
    """A MinIO process this test session owns: it may be killed and restarted at will."""

    data: Path
    port: int
    access: str
    secret: str
    region: str = "id-cikarang-1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access,
            "MINIO_ROOT_PASSWORD": self.secret,
            "MINIO_SITE_REGION": self.region,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "1",
        }
        console = free_port()
        self.process = subprocess.Popen(
            [
                str(resolve("minio")),
                "server",
                str(self.data),
                f"--address=127.0.0.1:{self.port}",
                f"--console-address=127.0.0.1:{console}",
                "--quiet",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/minio/health/live", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("own MinIO did not become healthy in 60 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def own_minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnMinio]:
    server = OwnMinio(tmp_path_factory.mktemp("minio"), free_port(), "migrate-test", secrets.token_hex(16))
    server.start()
    yield server
    server.kill()
