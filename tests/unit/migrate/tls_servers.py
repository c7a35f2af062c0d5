"""Local HTTP(S) servers for the target store's network tests (TLS from the lab PKI's CA)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pdn.lab.pki import ensure_pki


def make_pki(folder: Path, name: str) -> Path:
    """A CA and a server certificate naming 127.0.0.1 (``apiserver.crt``) in ``folder``."""
    ensure_pki(folder, name, "10.96.0.0/12")
    return folder


def server_tls(pki: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
    return context


def serve(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``handler`` on a loopback port (over TLS with ``tls``); yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
