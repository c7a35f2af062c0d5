"""Persistent HTTP/1.1 connections to one endpoint, one per thread (the standard library's http.client).

Each copy/verify worker thread keeps its own keep-alive connection, so no pool, lock or
queue sits between a request and its socket. TLS follows the same settings as the botocore
client (CA bundle or the default trust store, or no verification when asked); proxies come
from the environment (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``) as for botocore: HTTPS is
tunnelled with CONNECT, plain HTTP is sent to the proxy in absolute form.
"""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# A dropped, refused or timed-out connection, or an answer cut short: worth a retry on a new connection.
TRANSIENT = (OSError, http.client.HTTPException)


@dataclass
class Answer:
    """A whole (non-streamed) answer."""

    status: int
    headers: http.client.HTTPMessage
    content: bytes


class Connections:
    """Sends requests to ``base_url``'s host on the calling thread's own connection."""

    def __init__(
        self, base_url: str, verify: bool | str = True, connect_timeout: float = 5, read_timeout: float = 60
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.https = parts.scheme == "https"
        self.host_header = parts.netloc.rpartition("@")[2]
        self.hostname, self.port = parts.hostname, parts.port or (443 if self.https else 80)
        self.origin = f"{parts.scheme}://{self.host_header}"
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.context: ssl.SSLContext | None = None
        if self.https:
            self.context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:  # the caller's explicit choice, as botocore's verify=False
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
        self.proxy = _proxy_for(base_url, parts.hostname)
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        host, port = (self.proxy[0], self.proxy[1]) if self.proxy else (self.hostname, self.port)
        if self.https:
            connection = http.client.HTTPSConnection(host, port, timeout=self.connect_timeout, context=self.context)
            if self.proxy:
                connection.set_tunnel(self.hostname, self.port, headers=self.proxy[2])
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
        connection.connect()
        # Reads wait longer than connects; a later automatic reconnect (after the server closed
        # the connection) uses the read timeout for both.
        connection.timeout = self.read_timeout
        if connection.sock is not None:
            connection.sock.settimeout(self.read_timeout)
        self._local.connection = connection
        with self._lock:
            self._all.append(connection)
        return connection

    def drop(self) -> None:
        """Close this thread's connection (after an error: its state is unknown)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()
            with self._lock:
                if connection in self._all:
                    self._all.remove(connection)

    def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b"", stream: bool = False
    ) -> Answer | http.client.HTTPResponse:
        """Send one request; ``target`` is the path and query. Raises ``TRANSIENT`` errors
        (after dropping the connection). A streamed answer must be read to its end, or the
        connection dropped, before this thread sends again."""
        if not self.https and self.proxy:
            target = self.origin + target
            headers = {**headers, **self.proxy[2]}
        try:
            connection = self._connection()
            connection.request(method, target, body=body, headers={**headers, "Content-Length": str(len(body))})
            response = connection.getresponse()
            if stream and 200 <= response.status < 300:
                return response
            return Answer(response.status, response.headers, response.read())
        except TRANSIENT:
            self.drop()
            raise

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()


def _proxy_for(url: str, hostname: str) -> tuple[str, int, dict[str, str]] | None:
    """(host, port, headers) of the proxy the environment names for ``url``, or None."""
    proxies = urllib.request.getproxies()
    proxy_url = proxies.get(urlsplit(url).scheme)
    if not proxy_url or urllib.request.proxy_bypass(hostname):
        return None
    proxy = urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
    if not proxy.hostname:
        return None
    headers = {}
    if proxy.username is not None:
        pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    return proxy.hostname, proxy.port or 80, headers
