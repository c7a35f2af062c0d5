"""The Docker API proxy in front of podman's real API service, as Cluster API's Docker provider uses it.

A container created through the proxy the way the provider creates its load balancer (privileged,
port published on every interface) comes out unprivileged, published on 127.0.0.1 only and with
the host's ulimits; a pull and an image outside the policy never reach podman.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pdn.nodes.image import ensure_image
from pdn.nodes.podman import podman, require
from pdn.paths import repo_root

NETWORK = "pdn-test-capi-proxy"
NAME = "pdn-test-capi-proxy-lb"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(str(self.path))


def call(path: Path, method: str, target: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    connection = UnixConnection(path)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    connection.request(method, target, body=data, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    return response.status, json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw


def _wait_socket(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not path.is_socket():
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def image() -> str:
    return ensure_image()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, image: str) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("capi-proxy")
    folder.chmod(0o700)
    upstream, listen = folder / "podman.sock", folder / "docker.sock"
    service = subprocess.Popen([require("podman", "podman"), "system", "service", "--time=0", f"unix://{upstream}"])
    proxy_args = [sys.executable, "-m", "pdn.capi.dockerproxy", "--listen", str(listen), "--upstream", str(upstream),
                  "--image-prefix", image.rsplit(":", 1)[0], "--network", NETWORK]  # fmt: skip
    env = {"PYTHONPATH": str(repo_root() / "scripts")}
    relay = subprocess.Popen(proxy_args, env={**os.environ, **env})
    podman(["network", "create", "--internal", NETWORK], check=False)
    try:
        _wait_socket(upstream, service)
        _wait_socket(listen, relay)
        yield listen
    finally:
        podman(["rm", "-f", NAME], check=False)
        podman(["network", "rm", NETWORK], check=False)
        for process in (relay, service):
            process.terminate()
            process.wait(timeout=30)


def test_a_load_balancer_comes_out_unprivileged_on_loopback_with_the_hosts_ulimits(proxy: Path, image: str) -> None:
    body = {
        "Image": image,
        "Cmd": ["sleep", "600"],
        "Labels": {"io.x-k8s.kind.cluster": "pdn-test", "io.x-k8s.kind.role": "external-load-balancer"},
        "ExposedPorts": {"6443/tcp": {}},
        "HostConfig": {
            "Privileged": True,
            "SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"],
            "NetworkMode": NETWORK,
            "PortBindings": {"6443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "0"}]},
        },
    }
    status, created = call(proxy, "POST", f"/v1.41/containers/create?name={NAME}", body)
    assert status == 201, created
    status, _ = call(proxy, "POST", f"/v1.41/containers/{NAME}/start")
    assert status == 204
    status, info = call(proxy, "GET", f"/v1.41/containers/{NAME}/json")
    assert status == 200
    assert info["HostConfig"]["Privileged"] is False
    bindings = info["NetworkSettings"]["Ports"]["6443/tcp"]
    assert bindings and all(binding["HostIp"] == "127.0.0.1" for binding in bindings)
    limits = {limit["Name"].lower().removeprefix("rlimit_"): (limit["Soft"], limit["Hard"])
              for limit in info["HostConfig"]["Ulimits"]}  # fmt: skip
    assert limits["nofile"] == (20000, 20000) and limits["nproc"] == (32768, 32768)
    listeners = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    port = bindings[0]["HostPort"]
    assert f"127.0.0.1:{port} " in listeners and f"0.0.0.0:{port} " not in listeners


def test_a_pull_and_a_foreign_image_never_reach_podman(proxy: Path) -> None:
    status, answer = call(proxy, "POST", "/v1.41/images/create?fromImage=docker.io/library/busybox")
    assert status == 403 and "not allowed" in answer["message"]
    body = {
        "Image": "docker.io/library/busybox:latest",  # everything else as the provider asks: only the image is wrong
        "Labels": {"io.x-k8s.kind.cluster": "pdn-test", "io.x-k8s.kind.role": "worker"},
        "HostConfig": {"NetworkMode": NETWORK},
    }
    status, answer = call(proxy, "POST", "/v1.41/containers/create?name=pdn-test-foreign", body)
    assert status == 403 and "Image" in answer["message"]
    assert podman(["container", "exists", "pdn-test-foreign"], check=False).returncode != 0
