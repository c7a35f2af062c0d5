"""A Docker API proxy between Cluster API's Docker provider (CAPD) and podman's Docker-compatible socket.

CAPD creates the lab's workload-cluster machines as containers through a Docker API unix socket
(``DOCKER_HOST=unix://PATH``). It is pointed at this proxy, not at ``podman system service``:

* CAPD publishes its load balancer's port on HostIp "0.0.0.0" and podman then listens on every
  interface; lab listeners stay on loopback, so every port binding is rewritten to 127.0.0.1.
* Least privilege: only the Docker operations CAPD needs pass (an allowlist of method and path),
  and a container is created only from a lab image, on an allowed network, with host paths
  bind-mounted only from allowed folders.
* Podman refuses ulimits above nofile 20000 / nproc 32768 on the lab host and CAPD sets none, so
  every create gets exactly those.
* The load balancer runs haproxy, which needs no privileges: it is created unprivileged. Node
  containers keep the privileges CAPD asks for (their image shields the host itself).

Each client connection carries one checked request. Only an upgraded connection (``attach``,
``exec start``) relays bytes from the client after the request; on any other connection the
proxy forwards nothing more, so a client cannot smuggle a second, unchecked request behind the
first. Run it as ``python -m pdn.capi.dockerproxy --listen PATH --upstream PATH ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import http
import ipaddress
import json
import logging
import os
import posixpath
import re
import signal
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("pdn.capi.dockerproxy")

HEAD_LIMIT = 64 * 1024
READ_SIZE = 64 * 1024
REQUEST_TIMEOUT = 30.0  # seconds for a client to send its request head and body

ROLE_LABEL = "io.x-k8s.kind.role"
LOAD_BALANCER_ROLE = "external-load-balancer"
NODE_ROLES = ("control-plane", "worker")
LOOPBACK = "127.0.0.1"
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
ULIMITS = (
    {"Name": "nofile", "Soft": 20000, "Hard": 20000},
    {"Name": "nproc", "Soft": 32768, "Hard": 32768},
)
ALLOWED_DEVICES = ("/dev/fuse",)
HOST_NAMESPACE_FIELDS = ("NetworkMode", "PidMode", "IpcMode", "UsernsMode", "UTSMode", "CgroupnsMode")

# Headers that describe one hop of the connection: the proxy sets its own instead.
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect"}
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"/[\x21-\x7e]*")
_VERSION_PREFIX = re.compile(r"/v1\.[0-9]+(?=/)")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,18}")

_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
# A repository path (an optional registry port on its first part), a tag, a digest.
_IMAGE = rf"{_ID}(?::[0-9]+)?(?:/{_ID})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?(?:@sha256:[0-9a-f]{{64}})?"
_ROUTES = tuple(
    (method, re.compile(pattern))
    for method, pattern in (
        ("GET", r"/_ping"),
        ("HEAD", r"/_ping"),
        ("GET", r"/version"),
        ("GET", r"/info"),
        ("GET", r"/containers/json"),
        ("POST", r"/containers/create"),
        ("GET", rf"/containers/{_ID}/json"),
        ("POST", rf"/containers/{_ID}/(?:start|stop|kill|wait|restart|attach|resize)"),
        ("GET", rf"/containers/{_ID}/logs"),
        ("DELETE", rf"/containers/{_ID}"),
        ("POST", rf"/containers/{_ID}/exec"),
        ("POST", rf"/exec/{_ID}/(?:start|resize)"),
        ("GET", rf"/exec/{_ID}/json"),
        ("GET", rf"/networks/{_ID}"),
        ("GET", r"/networks"),
        ("GET", r"/images/json"),  # CAPD's "does the image exist locally" is an image list filtered by reference
        ("GET", rf"/images/{_IMAGE}/json"),
    )
)
_UPGRADE_ROUTES = (
    re.compile(rf"/containers/{_ID}/attach"),
    re.compile(rf"/exec/{_ID}/start"),
)


class ProxyDenied(Exception):
    """The policy refuses a request; the message names the operation or field and why."""


class _HttpError(Exception):
    """A request the proxy cannot check (malformed, too large): the HTTP ``status`` to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Policy:
    """What CAPD may create: images by name prefix, networks by name, host paths it may bind-mount.

    An image prefix matches at a name boundary: "localhost/pdn" allows "localhost/pdn/node:v1" and
    "localhost/pdn:v1", not "localhost/pdnx/node". A bind source allows the path itself and every
    path below it.
    """

    image_prefixes: tuple[str, ...]
    networks: tuple[str, ...]
    bind_sources: tuple[str, ...] = ()
    max_body: int = 1 << 20
    #: Labels put on every container made, over CAPD's own: whose lab it belongs to, so that
    #: removing one lab's machines never touches another lab's on the same machine.
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        relative = [source for source in self.bind_sources if not source.startswith("/")]
        if relative:
            raise ValueError(f"bind sources must be absolute paths: {', '.join(relative)}")


@dataclass(frozen=True)
class Request:
    """A parsed request head: method, target (path and query) and headers in their order."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        """Every value of header ``name`` (matched case-insensitively)."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def path(self) -> str:
        """The target without its query, as the client sent it."""
        return self.target.split("?", 1)[0]


# --- the allowlist ---------------------------------------------------------------------------


def api_path(target: str) -> str:
    """The request target's path without its query and without a leading ``/v1.NN`` version."""
    path = target.split("?", 1)[0]
    version = _VERSION_PREFIX.match(path)
    return path[version.end() :] if version else path


def is_allowed(method: str, target: str) -> bool:
    """Whether the allowlist lets ``method`` reach ``target`` (version prefix and query allowed)."""
    path = api_path(target)
    return any(method == allowed and pattern.fullmatch(path) for allowed, pattern in _ROUTES)


def may_upgrade(method: str, target: str) -> bool:
    """Whether the request may switch its connection to a raw stream (attach, exec start)."""
    path = api_path(target)
    return method == "POST" and any(pattern.fullmatch(path) for pattern in _UPGRADE_ROUTES)


# --- the container create rewrite ------------------------------------------------------------


def rewrite_create(body: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The create request CAPD sent, checked against ``policy`` and made safe for the lab host.

    Raises :class:`ProxyDenied` naming the offending field. Returns a new dict with every port
    binding on loopback, the host's ulimits, the policy's labels, and the load balancer
    unprivileged; ``body`` itself is left as it was.
    """
    role = _role(body)
    _check_image(_text(body.get("Image"), "Image"), policy.image_prefixes)
    host = _object(body.get("HostConfig"), "HostConfig")
    _check_host_namespaces(host)
    _check_networks(host, _object(body.get("NetworkingConfig"), "NetworkingConfig"), policy.networks)
    _check_binds(_array(host.get("Binds"), "HostConfig.Binds"), policy.bind_sources)
    _check_mounts(_array(host.get("Mounts"), "HostConfig.Mounts"), policy.bind_sources)
    _check_devices(_array(host.get("Devices"), "HostConfig.Devices"))
    _check_volumes_from(host)
    if host.get("PublishAllPorts"):
        raise ProxyDenied("HostConfig.PublishAllPorts is not allowed: it publishes on every interface")
    if role == LOAD_BALANCER_ROLE and _array(host.get("CapAdd"), "HostConfig.CapAdd"):
        raise ProxyDenied("HostConfig.CapAdd is not allowed for the load balancer")
    bindings = _loopback_bindings(_object(host.get("PortBindings"), "HostConfig.PortBindings"))

    rewritten = copy.deepcopy(body)
    rewritten["Labels"] = {**_object(body.get("Labels"), "Labels"), **dict(policy.labels)}
    new_host = rewritten["HostConfig"] = copy.deepcopy(host)
    new_host["PortBindings"] = bindings
    new_host["Ulimits"] = [dict(limit) for limit in ULIMITS]
    if role == LOAD_BALANCER_ROLE:
        new_host["Privileged"] = False
        new_host.pop("SecurityOpt", None)
    return rewritten


def _object(value: Any, field: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, {} if it is absent; anything else is denied."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProxyDenied(f"{field} must be a JSON object")
    return value


def _array(value: Any, field: str) -> list[Any]:
    """``value`` if it is a JSON array, [] if it is absent; anything else is denied."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProxyDenied(f"{field} must be a JSON array")
    return value


def _text(value: Any, field: str) -> str:
    """``value`` if it is a JSON string, "" if it is absent; anything else is denied."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProxyDenied(f"{field} must be a string")
    return value


def _role(body: dict[str, Any]) -> str:
    """The kind role label: it decides whether the container is the load balancer or a node."""
    labels = _object(body.get("Labels"), "Labels")
    role = labels.get(ROLE_LABEL)
    if role != LOAD_BALANCER_ROLE and role not in NODE_ROLES:
        known = ", ".join((*NODE_ROLES, LOAD_BALANCER_ROLE))
        raise ProxyDenied(f"Labels[{ROLE_LABEL}] is {role!r}, not one of {known}")
    return str(role)


def _check_image(image: str, prefixes: tuple[str, ...]) -> None:
    if not any(_image_matches(image, prefix) for prefix in prefixes):
        raise ProxyDenied(f"Image {image!r} does not start with an allowed prefix ({', '.join(prefixes)})")


def _image_matches(image: str, prefix: str) -> bool:
    """``image`` starts with ``prefix`` at a name boundary (a "/", ":" or "@" follows, or nothing)."""
    if not prefix or not image.startswith(prefix):
        return False
    rest = image[len(prefix) :]
    return not rest or prefix.endswith(("/", ":")) or rest[0] in "/:@"


def _check_host_namespaces(host: dict[str, Any]) -> None:
    for field in HOST_NAMESPACE_FIELDS:
        if _text(host.get(field), f"HostConfig.{field}") == "host":
            raise ProxyDenied(f"HostConfig.{field} 'host' is not allowed")


def _check_networks(host: dict[str, Any], networking: dict[str, Any], allowed: tuple[str, ...]) -> None:
    mode = _text(host.get("NetworkMode"), "HostConfig.NetworkMode")
    if mode not in allowed:
        raise ProxyDenied(f"HostConfig.NetworkMode {mode!r} is not an allowed network ({', '.join(allowed)})")
    endpoints = _object(networking.get("EndpointsConfig"), "NetworkingConfig.EndpointsConfig")
    for name in endpoints:
        if name not in allowed:
            raise ProxyDenied(f"NetworkingConfig.EndpointsConfig network {name!r} is not allowed")


def _check_binds(binds: list[Any], sources: tuple[str, ...]) -> None:
    """Each "SOURCE:TARGET[:OPTIONS]" bind must come from an allowed host path (no named volumes)."""
    for bind in binds:
        source = _text(bind, "HostConfig.Binds").split(":", 1)[0]
        if not _under(source, sources):
            raise ProxyDenied(f"HostConfig.Binds source {source!r} is outside the allowed bind sources")


def _check_mounts(mounts: list[Any], sources: tuple[str, ...]) -> None:
    """Bind mounts from allowed host paths and tmpfs only: a volume mount can name driver options
    that bind-mount any host path."""
    for mount in mounts:
        entry = _object(mount, "HostConfig.Mounts")
        kind = _text(entry.get("Type"), "HostConfig.Mounts Type")
        if kind == "tmpfs":
            continue
        if kind != "bind":
            raise ProxyDenied(f"HostConfig.Mounts type {kind!r} is not allowed (only bind and tmpfs)")
        source = _text(entry.get("Source"), "HostConfig.Mounts Source")
        if not _under(source, sources):
            raise ProxyDenied(f"HostConfig.Mounts source {source!r} is outside the allowed bind sources")


def _under(path: str, roots: tuple[str, ...]) -> bool:
    """``path`` is absolute and, once normalised, one of ``roots`` or below one of them."""
    if not path.startswith("/"):
        return False
    normal = posixpath.normpath(path)
    for root in roots:
        base = posixpath.normpath(root)
        if normal == base or normal.startswith(base.rstrip("/") + "/"):
            return True
    return False


def _check_devices(devices: list[Any]) -> None:
    for device in devices:
        host_path = _text(_object(device, "HostConfig.Devices").get("PathOnHost"), "HostConfig.Devices PathOnHost")
        if host_path not in ALLOWED_DEVICES:
            raise ProxyDenied(f"HostConfig.Devices {host_path!r} is not allowed (only {', '.join(ALLOWED_DEVICES)})")


def _check_volumes_from(host: dict[str, Any]) -> None:
    if _array(host.get("VolumesFrom"), "HostConfig.VolumesFrom"):
        raise ProxyDenied("HostConfig.VolumesFrom is not allowed")


def _loopback_bindings(bindings: dict[str, Any]) -> dict[str, Any]:
    """The port bindings with every wildcard (or missing) HostIp on 127.0.0.1.

    An explicit loopback address stays; any other address would listen off the host's loopback
    and is denied.
    """
    rewritten: dict[str, Any] = {}
    for port, entries in bindings.items():
        field = f"HostConfig.PortBindings[{port}]"
        if entries is None:
            rewritten[port] = None
            continue
        rewritten[port] = [_loopback_binding(_object(entry, field), field) for entry in _array(entries, field)]
    return rewritten


def _loopback_binding(binding: dict[str, Any], field: str) -> dict[str, Any]:
    host_ip = _text(binding.get("HostIp"), f"{field} HostIp")
    if host_ip in WILDCARD_HOSTS:
        return {**binding, "HostIp": LOOPBACK}
    try:
        loopback = ipaddress.ip_address(host_ip).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ProxyDenied(f"{field} HostIp {host_ip!r} is not a loopback address")
    return dict(binding)


# --- HTTP: reading and checking one request --------------------------------------------------


def parse_head(raw: bytes) -> Request:
    """The request line and headers of ``raw`` (up to and including the blank line).

    Strict on purpose: whatever the proxy cannot read unambiguously is refused (400) rather than
    forwarded for the upstream to read differently.
    """
    lines = raw.decode("latin-1").split("\r\n")
    if len(lines) < 3 or lines[-2:] != ["", ""]:
        raise _HttpError(400, "malformed request head")
    if any("\r" in line or "\n" in line for line in lines):
        raise _HttpError(400, "bare CR or LF in the request head")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _HttpError(400, "malformed request line")
    if not _TARGET.fullmatch(parts[1]):
        raise _HttpError(400, "the request target must be a path")
    return Request(method=parts[0], target=parts[1], headers=tuple(_header(line) for line in lines[1:-2]))


def _header(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not _TOKEN.fullmatch(name):  # also refuses obsolete line folding
        raise _HttpError(400, "malformed header line")
    return name, value.strip(" \t")


def body_length(request: Request, max_body: int) -> int | None:
    """The body's Content-Length; None for a chunked body; 0 without either.

    Both at once, differing lengths, or a transfer coding other than chunked are refused: they
    are how a request is smuggled past a proxy that reads it differently than the upstream.
    """
    lengths = set(request.values("Content-Length"))
    codings = request.values("Transfer-Encoding")
    if lengths and codings:
        raise _HttpError(400, "both Content-Length and Transfer-Encoding")
    if codings:
        if [coding.lower() for coding in codings] != ["chunked"]:
            raise _HttpError(400, "only the chunked transfer coding is supported")
        return None
    if not lengths:
        return 0
    if len(lengths) > 1 or not _DIGITS.fullmatch(next(iter(lengths))):
        raise _HttpError(400, "invalid Content-Length")
    length = int(next(iter(lengths)))
    if length > max_body:
        raise _HttpError(413, f"request body larger than {max_body} bytes")
    return length


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The request head; the reader's limit (HEAD_LIMIT) bounds it."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as error:
        raise _HttpError(431, f"request head larger than {HEAD_LIMIT} bytes") from error


async def _read_body(reader: asyncio.StreamReader, length: int | None, max_body: int) -> bytes:
    if length is None:
        return await _read_chunked(reader, max_body)
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    """A chunked body, decoded; trailers are read and dropped."""
    body = bytearray()
    while size := _chunk_size(await _read_line(reader)):
        if len(body) + size > max_body:
            raise _HttpError(413, f"request body larger than {max_body} bytes")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise _HttpError(400, "chunk data not followed by CRLF")
    trailers = 0
    while (line := await _read_line(reader)) != b"\r\n":
        trailers += len(line)
        if trailers > HEAD_LIMIT:
            raise _HttpError(431, "chunked trailers too large")
    return bytes(body)


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError as error:
        raise _HttpError(400, "chunk line too long") from error


def _chunk_size(line: bytes) -> int:
    size = line[:-2].split(b";", 1)[0].strip(b" \t")
    if not _CHUNK_SIZE.fullmatch(size):
        raise _HttpError(400, "malformed chunk size")
    return int(size, 16)


def checked_body(request: Request, body: bytes, policy: Policy) -> bytes:
    """The body to forward: a container create is parsed, checked and rewritten; others pass as sent."""
    if not (request.method == "POST" and api_path(request.target) == "/containers/create"):
        return body
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise _HttpError(400, f"container create body is not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise _HttpError(400, "container create body is not a JSON object")
    return json.dumps(rewrite_create(parsed, policy), separators=(",", ":")).encode()


def forward_head(request: Request, length: int, upgrade: bool) -> bytes:
    """The head sent upstream: the client's end-to-end headers, the body's real Content-Length, and
    ``Connection: close`` (an upgrade keeps the client's Connection and Upgrade headers instead)."""
    kept = [
        (name, value)
        for name, value in request.headers
        if name.lower() != "content-length"
        and (name.lower() not in _HOP_HEADERS or (upgrade and name.lower() in ("connection", "upgrade")))
    ]
    kept.append(("Content-Length", str(length)))
    if not upgrade:
        kept.append(("Connection", "close"))
    lines = [f"{request.method} {request.target} HTTP/1.1", *(f"{name}: {value}" for name, value in kept)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_response(status: int, message: str) -> bytes:
    """A small Docker-style error reply: ``{"message": ...}`` on a connection that then closes."""
    body = json.dumps({"message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


# --- HTTP: one client connection -------------------------------------------------------------


async def handle(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, upstream: Path, policy: Policy
) -> None:
    """Serve one client connection: one checked request, forwarded or refused; then close."""
    try:
        await _serve_request(client_reader, client_writer, upstream, policy)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        # a peer went away mid-way, or the upstream's reply head was unreadable: nobody left to answer
        LOG.debug("connection ended early: %s", error)
    finally:
        await _close(client_writer)


async def _serve_request(
    client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter, upstream: Path, policy: Policy
) -> None:
    what = "- -"
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            request = parse_head(await _read_head(client_reader))
            what = f"{request.method} {request.path}"
            if not is_allowed(request.method, request.target):
                raise ProxyDenied(f"{what} is not allowed")
            length = body_length(request, policy.max_body)
            if length != 0 and "100-continue" in (value.lower() for value in request.values("Expect")):
                client_writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await _read_body(client_reader, length, policy.max_body)
        body = checked_body(request, body, policy)
    except ProxyDenied as denied:
        await _refuse(client_writer, what, 403, str(denied))
        return
    except _HttpError as error:
        await _refuse(client_writer, what, error.status, str(error))
        return
    except TimeoutError:
        LOG.warning("%s denied: request not received within %g s", what, REQUEST_TIMEOUT)
        return
    upgrade = may_upgrade(request.method, request.target) and bool(request.values("Upgrade"))
    LOG.info("%s allowed%s", what, " (upgrade)" if upgrade else "")
    await _forward(request, body, upgrade, client_reader, client_writer, upstream)


async def _refuse(writer: asyncio.StreamWriter, what: str, status: int, reason: str) -> None:
    LOG.warning("%s denied (%d): %s", what, status, reason)
    writer.write(error_response(status, f"pdn docker proxy: {reason}"))
    await writer.drain()


async def _forward(
    request: Request,
    body: bytes,
    upgrade: bool,
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream: Path,
) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_unix_connection(str(upstream), limit=HEAD_LIMIT)
    except OSError as error:
        LOG.warning("upstream %s unreachable: %s", upstream, error)
        client_writer.write(error_response(502, f"pdn docker proxy: upstream unreachable: {error}"))
        await client_writer.drain()
        return
    try:
        upstream_writer.write(forward_head(request, len(body), upgrade) + body)
        await upstream_writer.drain()
        if upgrade:
            await _relay_upgrade(client_reader, client_writer, upstream_reader, upstream_writer)
        else:
            await _pump(upstream_reader, client_writer)
    finally:
        await _close(upstream_writer)


async def _relay_upgrade(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    """Relay both ways once the upstream switched protocols (101); otherwise relay its one reply.

    A refused upgrade leaves an ordinary HTTP connection upstream, on which the client's bytes
    could be another request: then nothing is relayed from the client.
    """
    head = await upstream_reader.readuntil(b"\r\n\r\n")
    client_writer.write(head)
    await client_writer.drain()
    if _status(head) == 101:
        await _relay_both(client_reader, client_writer, upstream_reader, upstream_writer)
        return
    length = _response_length(head)
    if length is None:
        await _pump(upstream_reader, client_writer)
    else:
        await _copy(upstream_reader, client_writer, length)


def _status(head: bytes) -> int:
    parts = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and _DIGITS.fullmatch(parts[1]) else 0


def _response_length(head: bytes) -> int | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and _DIGITS.fullmatch(value.strip()):
            return int(value.strip())
    return None


async def _relay_both(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    """Relay until the upstream ends the stream; a client that half-closes still gets the rest."""
    down = asyncio.create_task(_pump(upstream_reader, client_writer))
    up = asyncio.create_task(_pump(client_reader, upstream_writer))
    pending = {down, up}
    try:
        while down in pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if up in done and up.exception() is not None:
                break  # the client is gone: the session is over
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until end of file, then half-close ``writer``."""
    while chunk := await reader.read(READ_SIZE):
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, length: int) -> None:
    """Copy exactly ``length`` bytes (fewer if ``reader`` ends first)."""
    while length > 0 and (chunk := await reader.read(min(length, READ_SIZE))):
        writer.write(chunk)
        await writer.drain()
        length -= len(chunk)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


# --- the listener ----------------------------------------------------------------------------


async def open_listener(listen: Path, upstream: Path, policy: Policy) -> asyncio.Server:
    """The proxy's unix listener at ``listen``, mode 0600, serving connections as they come.

    A stale socket file is removed first; any other file there is left alone (FileExistsError).
    The socket is created under umask 0177, so it is never reachable by anyone but its owner,
    not even for the moment between bind and chmod. (The umask is process-wide for that moment.)
    """
    _remove_stale_socket(listen)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(reader, writer, upstream, policy)

    previous = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(on_connect, path=str(listen), limit=HEAD_LIMIT)
    finally:
        os.umask(previous)
    os.chmod(listen, 0o600)
    return server


def _remove_stale_socket(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    path.unlink()


async def serve(listen: Path, upstream: Path, policy: Policy) -> None:
    """Proxy CAPD's Docker API requests from ``listen`` to podman's socket ``upstream`` until cancelled."""
    server = await open_listener(listen, upstream, policy)
    inode = listen.stat().st_ino
    LOG.info("listening on %s, forwarding to %s", listen, upstream)
    try:
        async with server:
            await server.serve_forever()
    finally:
        with contextlib.suppress(OSError):
            if listen.stat().st_ino == inode:  # still ours, not a successor's
                listen.unlink()


async def _serve_until_signalled(listen: Path, upstream: Path, policy: Policy) -> None:
    """``serve`` until SIGTERM or SIGINT, which end it cleanly (the socket file is removed)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serve(listen, upstream, policy)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pdn.capi.dockerproxy",
        description="Docker API proxy for Cluster API's Docker provider: allowlisted calls, loopback ports.",
    )
    parser.add_argument("--listen", type=Path, required=True, help="unix socket to create (mode 0600)")
    parser.add_argument("--upstream", type=Path, required=True, help="podman's Docker-compatible unix socket")
    parser.add_argument("--image-prefix", action="append", required=True, help="allowed image name prefix")
    parser.add_argument("--network", action="append", required=True, help="allowed container network")
    parser.add_argument("--bind-source", action="append", default=[], help="host path containers may bind-mount")
    parser.add_argument("--label", action="append", default=[], help="KEY=VALUE put on every container made")
    return parser.parse_args(argv)


def _label(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--label wants KEY=VALUE, got {item!r}")
    return key, value


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        policy = Policy(
            image_prefixes=tuple(args.image_prefix),
            networks=tuple(args.network),
            bind_sources=tuple(args.bind_source),
            labels=tuple(_label(item) for item in args.label),
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 2
    asyncio.run(_serve_until_signalled(args.listen, args.upstream, policy))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
