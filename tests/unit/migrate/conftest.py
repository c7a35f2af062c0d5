"""Fixtures of the migration unit tests: a small generated inventory and its pipeline output."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pdn.migrate import pipeline as stages
from pdn.migrate import plan, standin
from pdn.migrate.generate import generate

AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="session")
def small_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inventory")
    generate(folder, apps=1500, datacenters=200, seed=7)
    return folder


@pytest.fixture(scope="session")
def pipeline(small_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder after validate -> assess -> dedup -> consolidate -> plan on the small inventory."""
    out = tmp_path_factory.mktemp("out")
    run_pipeline(small_inventory, out)
    return out


def run_pipeline(inventory_dir: Path, out: Path, options: plan.Options | None = None) -> dict[str, Any]:
    return stages.run(inventory_dir, out, as_of=AS_OF, options=options)


@pytest.fixture(scope="session")
def pipeline_runner() -> Any:
    """``run_pipeline(inventory_dir, out, options=None)`` for tests that need their own run."""
    return run_pipeline


@pytest.fixture(scope="session")
def make_app() -> Any:
    """``make_app(app_id, name, agency=..., description=..., **fields)``: one App for unit tests."""
    import dataclasses

    from pdn.migrate.schema import AgencyType, App, Classification, Criticality, Runtime, Status

    def build(
        app_id: str, name: str, agency: str = "Pemerintah Kabupaten Bogor", description: str = "", **changes: Any
    ) -> App:
        base = App(
            app_id,
            name,
            description,
            agency,
            AgencyType.REGENCY,
            "Jawa Barat",
            "DC-1",
            ("php-5.6",),
            Runtime.VM,
            1.0,
            10,
            Classification.INTERNAL,
            Criticality.LOW,
            (),
            Status.ACTIVE,
            dt.date(2020, 1, 1),
        )
        return dataclasses.replace(base, **changes)

    return build


@pytest.fixture
def inventory_copy(small_inventory: Path, tmp_path: Path) -> Path:
    """A private copy of the small inventory that a test may break."""
    target = tmp_path / "inventory"
    shutil.copytree(small_inventory, target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An in-process S3 API (moto) on 127.0.0.1: exercises our boto3 code paths without MinIO.

    The lab tier repeats the copy/verify tests against real MinIO.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def serve() -> Iterator[Callable[[dict[str, str]], str]]:
    """Start stand-ins in-process on 127.0.0.1 ephemeral ports; returns their base URLs."""
    servers: list[standin.Server] = []

    def start(env: dict[str, str]) -> str:
        server = standin.make_server(standin.build(env), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
