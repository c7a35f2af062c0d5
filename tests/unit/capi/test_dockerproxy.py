"""The Docker API proxy in front of CAPD: the create rewrite, the allowlist, and requests over real unix sockets."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import socket
import stat
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pdn.capi.dockerproxy import ROLE_LABEL, Policy, ProxyDenied, is_allowed, main, open_listener, rewrite_create

T = TypeVar("T")

POLICY = Policy(
    image_prefixes=("localhost/pdn",),
    networks=("kind",),
    bind_sources=("/lib/modules", "/dev/mapper", "/srv/lab/images"),
)
ULIMITS = [{"Name": "nofile", "Soft": 20000, "Hard": 20000}, {"Name": "nproc", "Soft": 32768, "Hard": 32768}]
LOOPBACK = "127.0.0.1"


def create_body(role: str = "control-plane", **host: Any) -> dict[str, Any]:
    """A container create as CAPD sends it (node or load balancer), HostConfig fields overridden by ``host``."""
    balancer = role == "external-load-balancer"
    host_config: dict[str, Any] = {
        "Privileged": True,
        "SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"],
        "NetworkMode": "kind",
        "Tmpfs": {"/tmp": "", "/run": ""},
        "Binds": [] if balancer else ["/lib/modules:/lib/modules:ro"],
        "PortBindings": {"6443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "0"}]},
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "Init": False,
    }
    host_config.update(host)
    return {
        "Hostname": "site-a-lb" if balancer else "site-a-cp-1",
        "Image": "localhost/pdn/haproxy:v2.9" if balancer else "localhost/pdn/node:v1.34.1",
        "Labels": {"io.x-k8s.kind.cluster": "site-a", ROLE_LABEL: role},
        "Tty": True,
        "Env": ["container=docker"],
        "Volumes": {} if balancer else {"/var": {}},
        "HostConfig": host_config,
        "NetworkingConfig": {},
    }


# --- rewrite_create ------------------------------------------------------------------------


def test_every_wildcard_or_missing_host_ip_is_moved_to_loopback() -> None:
    bindings = {
        "6443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "0"}, {"HostIp": "::", "HostPort": "0"}],
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "443/tcp": [{"HostPort": "8443"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
    }
    rewritten = rewrite_create(create_body(PortBindings=bindings), POLICY)["HostConfig"]["PortBindings"]
    assert rewritten == {
        "6443/tcp": [{"HostIp": LOOPBACK, "HostPort": "0"}, {"HostIp": LOOPBACK, "HostPort": "0"}],
        "80/tcp": [{"HostIp": LOOPBACK, "HostPort": "8080"}],
        "443/tcp": [{"HostIp": LOOPBACK, "HostPort": "8443"}],
        "53/udp": [{"HostIp": LOOPBACK, "HostPort": "5353"}],
    }


def test_ulimits_are_exactly_what_podman_accepts_on_the_lab_host() -> None:
    body = create_body(Ulimits=[{"Name": "nofile", "Soft": 1 << 20, "Hard": 1 << 20}])
    assert rewrite_create(body, POLICY)["HostConfig"]["Ulimits"] == ULIMITS
    assert rewrite_create(create_body(), POLICY)["HostConfig"]["Ulimits"] == ULIMITS


def test_the_load_balancer_is_created_unprivileged_and_without_security_options() -> None:
    host = rewrite_create(create_body("external-load-balancer"), POLICY)["HostConfig"]
    assert host["Privileged"] is False
    assert "SecurityOpt" not in host
    assert host["PortBindings"] == {"6443/tcp": [{"HostIp": LOOPBACK, "HostPort": "0"}]}


@pytest.mark.parametrize("role", ["control-plane", "worker"])
def test_a_node_keeps_its_privileges(role: str) -> None:
    fuse = {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rw"}
    body = create_body(role, CapAdd=["SYS_ADMIN"], Devices=[fuse])
    host = rewrite_create(body, POLICY)["HostConfig"]
    assert host["Privileged"] is True
    assert host["SecurityOpt"] == ["seccomp=unconfined", "apparmor=unconfined"]
    assert host["CapAdd"] == ["SYS_ADMIN"]


def test_the_input_is_left_as_it_was_and_everything_else_passes_unchanged() -> None:
    body = create_body("external-load-balancer", PortBindings={"6443/tcp": [{"HostPort": "0"}]})
    before = copy.deepcopy(body)
    rewritten = rewrite_create(body, POLICY)
    assert body == before
    assert rewritten is not body and rewritten["HostConfig"] is not body["HostConfig"]
    changed = ("PortBindings", "Ulimits", "Privileged", "SecurityOpt")
    assert {k: v for k, v in rewritten["HostConfig"].items() if k not in changed} == {
        k: v for k, v in before["HostConfig"].items() if k not in changed
    }
    assert {k: v for k, v in rewritten.items() if k != "HostConfig"} == {
        k: v for k, v in before.items() if k != "HostConfig"
    }


@pytest.mark.parametrize(
    "binds",
    [
        ["/lib/modules:/lib/modules:ro"],
        ["/dev/mapper:/dev/mapper:ro"],
        ["/srv/lab/images/node.tar:/kind/images/node.tar:ro,Z"],
        ["/srv/lab/images:/kind/images"],
    ],
)
def test_binds_from_the_allowed_sources_pass(binds: list[str]) -> None:
    assert rewrite_create(create_body(Binds=binds), POLICY)["HostConfig"]["Binds"] == binds


def test_bind_mounts_from_allowed_sources_and_tmpfs_mounts_pass() -> None:
    mounts = [
        {"Type": "bind", "Source": "/srv/lab/images/x", "Target": "/x", "ReadOnly": True},
        {"Type": "tmpfs", "Target": "/scratch"},
    ]
    assert rewrite_create(create_body(Mounts=mounts), POLICY)["HostConfig"]["Mounts"] == mounts


def test_an_image_prefix_ending_in_a_slash_matches_anything_below_it() -> None:
    policy = Policy(image_prefixes=("localhost/pdn/",), networks=("kind",))
    assert rewrite_create(create_body(Binds=[]), policy)["Image"] == "localhost/pdn/node:v1.34.1"


def _with(role: str = "control-plane", top: dict[str, Any] | None = None, **host: Any) -> dict[str, Any]:
    body = create_body(role, **host)
    body.update(top or {})
    return body


DENIED: list[tuple[str, dict[str, Any], str]] = [
    ("image-elsewhere", _with(top={"Image": "docker.io/library/alpine:3"}), "Image"),
    ("image-prefix-not-at-a-boundary", _with(top={"Image": "localhost/pdnx/node:v1"}), "Image"),
    ("image-missing", _with(top={"Image": None}), "Image"),
    ("network-bridge", _with(NetworkMode="bridge"), "HostConfig.NetworkMode"),
    ("network-empty", _with(NetworkMode=""), "HostConfig.NetworkMode"),
    ("network-default", _with(NetworkMode="default"), "HostConfig.NetworkMode"),
    ("network-missing", _with(NetworkMode=None), "HostConfig.NetworkMode"),
    ("network-host", _with(NetworkMode="host"), "HostConfig.NetworkMode"),
    ("pid-host", _with(PidMode="host"), "HostConfig.PidMode"),
    ("ipc-host", _with(IpcMode="host"), "HostConfig.IpcMode"),
    ("userns-host", _with(UsernsMode="host"), "HostConfig.UsernsMode"),
    ("uts-host", _with(UTSMode="host"), "HostConfig.UTSMode"),
    ("cgroupns-host", _with(CgroupnsMode="host"), "HostConfig.CgroupnsMode"),
    ("endpoint-elsewhere", _with(top={"NetworkingConfig": {"EndpointsConfig": {"podman": {}}}}), "NetworkingConfig"),
    ("bind-etc", _with(Binds=["/etc:/host-etc"]), "HostConfig.Binds"),
    ("bind-dot-dot", _with(Binds=["/lib/modules/../../etc:/x"]), "HostConfig.Binds"),
    ("bind-sibling", _with(Binds=["/lib/modules-evil:/x"]), "HostConfig.Binds"),
    ("bind-named-volume", _with(Binds=["data:/data"]), "HostConfig.Binds"),
    ("mount-bind-root", _with(Mounts=[{"Type": "bind", "Source": "/", "Target": "/host"}]), "HostConfig.Mounts"),
    ("mount-volume", _with(Mounts=[{"Type": "volume", "Source": "v", "Target": "/v"}]), "HostConfig.Mounts"),
    ("lb-cap-add", _with("external-load-balancer", CapAdd=["NET_ADMIN"]), "HostConfig.CapAdd"),
    ("device-disk", _with(Devices=[{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]), "HostConfig.Devices"),
    ("host-ip-lan", _with(PortBindings={"6443/tcp": [{"HostIp": "192.0.2.7", "HostPort": "0"}]}), "HostIp"),
    ("publish-all", _with(PublishAllPorts=True), "HostConfig.PublishAllPorts"),
    ("volumes-from", _with(VolumesFrom=["site-a-cp-1"]), "HostConfig.VolumesFrom"),
    ("role-missing", _with(top={"Labels": {"io.x-k8s.kind.cluster": "site-a"}}), f"Labels[{ROLE_LABEL}]"),
    ("host-config-not-an-object", _with(top={"HostConfig": []}), "HostConfig"),
]


@pytest.mark.parametrize(("body", "field"), [(body, field) for _, body, field in DENIED], ids=[d[0] for d in DENIED])
def test_each_refused_setting_is_denied_naming_its_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ProxyDenied) as caught:
        rewrite_create(body, POLICY)
    assert field in str(caught.value)


def test_a_policy_with_a_relative_bind_source_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        Policy(image_prefixes=("localhost/pdn",), networks=("kind",), bind_sources=("images",))


def test_main_refuses_a_relative_bind_source_before_it_listens(tmp_path: Path) -> None:
    argv = ["--listen", str(tmp_path / "p.sock"), "--upstream", str(tmp_path / "u.sock"), "--image-prefix",
            "localhost/pdn", "--network", "kind", "--bind-source", "images"]  # fmt: skip
    assert main(argv) == 2
    assert not (tmp_path / "p.sock").exists()


# --- the allowlist -------------------------------------------------------------------------

ALLOWED = [
    ("GET", "/_ping"),
    ("HEAD", "/_ping"),
    ("GET", "/v1.41/version"),
    ("GET", "/v1.41/info"),
    ("GET", "/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%22%5D%7D"),
    ("POST", "/v1.41/containers/create?name=site-a-cp-1"),
    ("GET", "/v1.41/containers/site-a-cp-1/json"),
    ("POST", "/v1.41/containers/0123abcd/start"),
    ("POST", "/v1.41/containers/site-a-cp-1/stop?t=10"),
    ("POST", "/v1.41/containers/site-a-cp-1/kill?signal=KILL"),
    ("POST", "/v1.41/containers/site-a-cp-1/wait?condition=not-running"),
    ("POST", "/v1.41/containers/site-a-cp-1/restart"),
    ("POST", "/v1.41/containers/site-a-cp-1/attach?stream=1&stdout=1"),
    ("POST", "/v1.41/containers/site-a-cp-1/resize?h=40&w=120"),
    ("GET", "/v1.41/containers/site-a-cp-1/logs?stdout=1"),
    ("DELETE", "/v1.41/containers/site-a-cp-1?force=1&v=1"),
    ("POST", "/v1.41/containers/site-a-cp-1/exec"),
    ("POST", "/v1.41/exec/4f1e2d/start"),
    ("POST", "/v1.41/exec/4f1e2d/resize?h=40&w=120"),
    ("GET", "/v1.41/exec/4f1e2d/json"),
    ("GET", "/v1.41/networks/kind"),
    ("GET", "/v1.41/networks"),
    ("GET", "/v1.41/images/json?filters=%7B%22reference%22%3A%5B%22x%22%5D%7D"),
    ("GET", "/v1.41/images/localhost/pdn/haproxy:v2.9/json"),
    ("GET", "/images/localhost:5000/pdn/node@sha256:" + "a" * 64 + "/json"),
    ("GET", "/v1.44/containers/json"),
]
REFUSED = [
    ("POST", "/v1.41/images/create?fromImage=alpine"),
    ("POST", "/v1.41/build"),
    ("POST", "/v1.41/volumes/create"),
    ("GET", "/v1.41/volumes"),
    ("POST", "/v1.41/networks/create"),
    ("DELETE", "/v1.41/networks/kind"),
    ("POST", "/v1.41/containers/site-a-cp-1/update"),
    ("PUT", "/v1.41/containers/site-a-cp-1/archive?path=/etc"),
    ("GET", "/v1.41/containers/site-a-cp-1/archive?path=/etc"),
    ("GET", "/v1.41/containers/site-a-cp-1/export"),
    ("POST", "/v1.41/containers/site-a-cp-1/attach/ws"),
    ("DELETE", "/v1.41/images/localhost/pdn/node:v1"),
    ("GET", "/v1.41/images/localhost/../containers/json"),
    ("GET", "/v1.41/containers/..%2Fimages/json"),
    ("GET", "/v1.41/containers/-x/json"),
    ("POST", "/v1.41/_ping"),
    ("GET", "/v1.41/v1.41/_ping"),
    ("GET", "/v2.0/_ping"),
    ("GET", "/libpod/info"),
    ("GET", "/v1.41/events"),
    ("POST", "/v1.41/containers/prune"),
    ("get", "/_ping"),
]


@pytest.mark.parametrize(("method", "target"), ALLOWED)
def test_the_calls_capd_makes_are_allowed(method: str, target: str) -> None:
    assert is_allowed(method, target)


@pytest.mark.parametrize(("method", "target"), REFUSED)
def test_anything_else_is_refused(method: str, target: str) -> None:
    assert not is_allowed(method, target)


# --- over real unix sockets ----------------------------------------------------------------

OK_REPLY = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{"Id":"x"}'
UPGRADED = b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\n"
UPGRADED += b"Upgrade: tcp\r\n\r\n"


def run(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), 5))


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(headers_of(head).get("content-length", ["0"])[0])
    return head + await reader.readexactly(length)


def headers_of(raw: bytes) -> dict[str, list[str]]:
    """Header values by lower-case name, of a request or response head (body ignored)."""
    found: dict[str, list[str]] = {}
    for line in raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        found.setdefault(name.lower(), []).append(value.strip())
    return found


def body_of(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


class FakePodman:
    """podman's socket stand-in: records all it receives per connection and answers one reply.

    ``upgrade``: answer 101 and echo what follows instead. ``received`` gets each connection's
    bytes once the proxy closed it.
    """

    def __init__(self, reply: bytes = OK_REPLY, *, upgrade: bool = False) -> None:
        self.reply = reply
        self.upgrade = upgrade
        self.connections = 0
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        data = await read_request(reader)
        writer.write(UPGRADED if self.upgrade else self.reply)
        if self.upgrade:
            while chunk := await reader.read(4096):
                data += chunk
                writer.write(chunk)
                await writer.drain()
        else:
            writer.write_eof()
            data += await reader.read()  # whatever else arrives before the proxy closes
        writer.close()
        await self.received.put(data)


@contextlib.asynccontextmanager
async def proxied(tmp_path: Path, podman: FakePodman, policy: Policy = POLICY) -> AsyncIterator[Path]:
    """The proxy at tmp_path/proxy.sock in front of ``podman`` at tmp_path/podman.sock."""
    upstream = tmp_path / "podman.sock"
    listen = tmp_path / "proxy.sock"
    podman_server = await asyncio.start_unix_server(podman.handle, path=str(upstream))
    try:
        proxy = await open_listener(listen, upstream, policy)
        try:
            yield listen
        finally:
            proxy.close()
            await proxy.wait_closed()
    finally:
        podman_server.close()
        await podman_server.wait_closed()


async def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, str(path))
    return sock


async def read_to_end(sock: socket.socket) -> bytes:
    """All the proxy sends until it closes (a close with unread input arrives as a reset)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := await asyncio.get_running_loop().sock_recv(sock, 65536):
            data += chunk
    return data


async def exchange(path: Path, request: bytes) -> bytes:
    with await connect(path) as sock:
        await asyncio.get_running_loop().sock_sendall(sock, request)
        return await read_to_end(sock)


def post_create(body: bytes, *, extra: str = "") -> bytes:
    head = f"POST /v1.41/containers/create?name=site-a-cp-1 HTTP/1.1\r\nHost: api.moby.localhost\r\n{extra}"
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\nX-Trailer: t\r\n\r\n"


def test_a_create_arrives_rewritten_with_its_real_length_and_connection_close(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        podman = FakePodman()
        async with proxied(tmp_path, podman) as listen:
            body = json.dumps(create_body()).encode()
            reply = await exchange(listen, post_create(body, extra="Connection: keep-alive\r\nKeep-Alive: 5\r\n"))
            return reply, await podman.received.get()

    reply, received = run(scenario)
    assert reply == OK_REPLY
    assert received.startswith(b"POST /v1.41/containers/create?name=site-a-cp-1 HTTP/1.1\r\n")
    headers = headers_of(received)
    assert headers["connection"] == ["close"] and "keep-alive" not in headers
    assert headers["host"] == ["api.moby.localhost"] and headers["content-type"] == ["application/json"]
    assert headers["content-length"] == [str(len(body_of(received)))]
    forwarded = json.loads(body_of(received))
    assert forwarded["HostConfig"]["PortBindings"] == {"6443/tcp": [{"HostIp": LOOPBACK, "HostPort": "0"}]}
    assert forwarded["HostConfig"]["Ulimits"] == ULIMITS


def test_a_chunked_create_is_decoded_and_forwarded_with_a_content_length(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        podman = FakePodman()
        async with proxied(tmp_path, podman) as listen:
            body = json.dumps(create_body("external-load-balancer")).encode()
            head = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n"
            return await exchange(listen, head + chunked(body, 100)), await podman.received.get()

    reply, received = run(scenario)
    assert reply == OK_REPLY
    headers = headers_of(received)
    assert "transfer-encoding" not in headers and "x-trailer" not in headers
    assert headers["content-length"] == [str(len(body_of(received)))]
    assert json.loads(body_of(received))["HostConfig"]["Privileged"] is False


def test_a_refused_call_never_reaches_podman_and_gets_a_docker_style_403(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, bytes, int]:
        podman = FakePodman()
        async with proxied(tmp_path, podman) as listen:
            pull = await exchange(listen, b"POST /v1.41/images/create?fromImage=alpine HTTP/1.1\r\nHost: d\r\n\r\n")
            evil = create_body(Binds=["/etc:/etc"])
            create = await exchange(listen, post_create(json.dumps(evil).encode()))
            return pull, create, podman.connections

    pull, create, connections = run(scenario)
    assert connections == 0
    for reply in (pull, create):
        assert reply.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        headers = headers_of(reply)
        assert headers["content-type"] == ["application/json"] and headers["connection"] == ["close"]
        assert headers["content-length"] == [str(len(body_of(reply)))]
    assert json.loads(body_of(pull)) == {"message": "pdn docker proxy: POST /v1.41/images/create is not allowed"}
    assert "HostConfig.Binds" in json.loads(body_of(create))["message"]


def test_a_create_that_is_not_json_gets_400(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, int]:
        podman = FakePodman()
        async with proxied(tmp_path, podman) as listen:
            return await exchange(listen, post_create(b"{not json")), podman.connections

    reply, connections = run(scenario)
    assert reply.startswith(b"HTTP/1.1 400 ") and connections == 0


def test_an_exec_start_upgrade_relays_bytes_both_ways(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, bytes, bytes]:
        podman = FakePodman(upgrade=True)
        loop = asyncio.get_running_loop()
        async with proxied(tmp_path, podman) as listen:
            with await connect(listen) as sock:
                body = b'{"Detach":false,"Tty":false}'
                request = b"POST /v1.41/exec/4f1e2d/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n"
                request += b"Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                await loop.sock_sendall(sock, request + body)
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += await loop.sock_recv(sock, 1)
                await loop.sock_sendall(sock, b"ping")
                echoed = b""
                while len(echoed) < 4:
                    echoed += await loop.sock_recv(sock, 4 - len(echoed))
                await loop.sock_sendall(sock, b"-stdin-end")
                sock.shutdown(socket.SHUT_WR)  # as the Docker client does once stdin is done
                rest = await read_to_end(sock)
            return head, echoed + rest, await podman.received.get()

    head, streamed, received = run(scenario)
    assert head == UPGRADED
    assert streamed == b"ping-stdin-end"
    headers = headers_of(received)
    assert headers["connection"] == ["Upgrade"] and headers["upgrade"] == ["tcp"]
    assert body_of(received) == b'{"Detach":false,"Tty":false}ping-stdin-end'


NOT_FOUND = b'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"message":""}'
OK_EMPTY_LIST = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"


@pytest.mark.parametrize(
    ("reply", "first", "second"),
    [
        pytest.param(  # a refused upgrade relays nothing more from the client
            NOT_FOUND,
            b"POST /exec/gone/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            b"POST /images/create?fromImage=alpine HTTP/1.1\r\nHost: d\r\n\r\n",
            id="after-a-refused-upgrade",
        ),
        pytest.param(
            OK_EMPTY_LIST,
            b"GET /v1.41/containers/json HTTP/1.1\r\nHost: d\r\n\r\n",
            b"POST /v1.41/images/create?fromImage=alpine HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n",
            id="pipelined",
        ),
    ],
)
def test_a_second_request_on_one_connection_never_reaches_podman(
    tmp_path: Path, reply: bytes, first: bytes, second: bytes
) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        podman = FakePodman(reply)
        async with proxied(tmp_path, podman) as listen:
            return await exchange(listen, first + second), await podman.received.get()

    answer, received = run(scenario)
    assert answer == reply
    assert b"images/create" not in received and received.count(b" HTTP/1.1\r\n") == 1
    if b"Upgrade" not in first:
        assert headers_of(received)["connection"] == ["close"]


def test_the_listening_socket_is_only_for_its_owner_and_replaces_a_stale_one(tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "proxy.sock"))
    stale.close()

    async def scenario() -> int:
        async with proxied(tmp_path, FakePodman()) as listen:
            return listen.stat().st_mode

    mode = run(scenario)
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "proxy.sock").write_text("keep me")

    async def scenario() -> None:
        async with proxied(tmp_path, FakePodman()):
            pass

    with pytest.raises(FileExistsError):
        run(scenario)
    assert (tmp_path / "proxy.sock").read_text() == "keep me"


@pytest.mark.parametrize("encoding", ["length", "chunked"])
def test_a_body_larger_than_the_limit_gets_413(tmp_path: Path, encoding: str) -> None:
    policy = Policy(image_prefixes=("localhost/pdn",), networks=("kind",), max_body=1024)
    body = json.dumps({**create_body(), "Env": ["X=" + "x" * 2048]}).encode()
    if encoding == "length":
        request = post_create(body)
    else:
        head = b"POST /containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
        request = head + chunked(body, 512)

    async def scenario() -> tuple[bytes, int]:
        podman = FakePodman()
        async with proxied(tmp_path, podman, policy) as listen:
            return await exchange(listen, request), podman.connections

    reply, connections = run(scenario)
    assert reply.startswith(b"HTTP/1.1 413 ") and connections == 0
    assert "1024 bytes" in json.loads(body_of(reply))["message"]


@pytest.mark.parametrize(
    "head",
    [
        b"POST /containers/create HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"GET /_ping HTTP/1.1\r\nHost: d\r\n folded\r\n\r\n",
        b"GET http://docker/_ping HTTP/1.1\r\n\r\n",
        b"GET /_ping\r\n\r\n",
    ],
    ids=["length-and-chunked", "two-lengths", "other-coding", "folded-header", "absolute-form", "no-version"],
)
def test_an_ambiguous_request_gets_400_and_never_reaches_podman(tmp_path: Path, head: bytes) -> None:
    async def scenario() -> tuple[bytes, int]:
        podman = FakePodman()
        async with proxied(tmp_path, podman) as listen:
            return await exchange(listen, head + b"{}"), podman.connections

    reply, connections = run(scenario)
    assert reply.startswith(b"HTTP/1.1 400 ") and connections == 0


def test_one_log_line_per_request_without_the_body(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pdn.capi.dockerproxy")

    async def scenario() -> None:
        async with proxied(tmp_path, FakePodman()) as listen:
            await exchange(listen, post_create(json.dumps({**create_body(), "Env": ["TOKEN=s3cret"]}).encode()))
            await exchange(listen, b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\n\r\n")

    run(scenario)
    lines = [record.getMessage() for record in caplog.records if record.name == "pdn.capi.dockerproxy"]
    assert lines == [
        "POST /v1.41/containers/create allowed",
        "POST /v1.41/volumes/create denied (403): POST /v1.41/volumes/create is not allowed",
    ]
    assert "s3cret" not in caplog.text


def test_every_container_made_carries_the_labs_labels_over_capds_own() -> None:
    policy = Policy(**{**POLICY.__dict__, "labels": (("pdn.namespace", "pdncapi"),)})
    body = create_body(Labels={})
    body["Labels"] = {"io.x-k8s.kind.cluster": "site-a", ROLE_LABEL: "worker", "pdn.namespace": "someone-else"}
    rewritten = rewrite_create(body, policy)
    assert rewritten["Labels"] == {"io.x-k8s.kind.cluster": "site-a", ROLE_LABEL: "worker", "pdn.namespace": "pdncapi"}
    assert body["Labels"]["pdn.namespace"] == "someone-else"  # the input is left as it was


def test_main_refuses_a_label_without_a_value_before_it_listens(tmp_path: Path) -> None:
    code = main(["--listen", str(tmp_path / "d.sock"), "--upstream", str(tmp_path / "p.sock"),
                 "--image-prefix", "localhost/pdn", "--network", "kind", "--label", "pdn.namespace"])  # fmt: skip
    assert code == 2 and not (tmp_path / "d.sock").exists()
