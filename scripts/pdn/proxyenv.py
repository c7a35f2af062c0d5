"""Which proxy the environment names for a URL, with ``NO_PROXY`` matched as curl matches it.

Every S3 request pdn sends (boto3 clients through :mod:`pdn.s3client`, the copy/verify target)
asks :func:`proxy_for` once per endpoint, so one set of rules decides for all of them.

Proxy: ``<scheme>_proxy`` of the URL's scheme, lower case before upper case (``https_proxy`` /
``HTTPS_PROXY``, ``http_proxy`` / ``HTTP_PROXY``); a value without a scheme is an ``http://``
proxy, an ``https://`` proxy is spoken to over TLS.

Exemptions: ``no_proxy`` before ``NO_PROXY``, with curl's rules: a lone ``*`` exempts every host
(anywhere else ``*`` is an ordinary entry), entries are separated by commas, and a blank that
is not followed by a comma ends the list; a host name matches an entry that equals it or that
it ends with after a dot (``example.com`` exempts ``example.com`` and ``s3.example.com``, not
``myexample.com``), a leading or trailing dot of an entry and a trailing dot of the host name
are ignored, case does not matter, and the URL's port plays no part; an IP address matches an
equal address or a CIDR range (``10.0.0.0/8``, ``fd00::/8``); an empty list exempts nothing.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Proxy:
    """A proxy as requests go to it: ``url`` without credentials, ``headers`` with them."""

    scheme: str  # "http" or "https" (TLS to the proxy itself)
    host: str
    port: int
    headers: dict[str, str] = field(default_factory=dict)  # Proxy-Authorization when the URL has a user
    userinfo: str = field(default="", repr=False)  # "user:password" as written in the environment (quoted)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url_with_credentials(self) -> str:
        """The proxy URL as clients that take credentials in the URL want it (botocore)."""
        return f"{self.scheme}://{self.userinfo}@{self.url.split('://', 1)[1]}" if self.userinfo else self.url


def _environment(name: str, environ: Mapping[str, str]) -> str | None:
    """``name`` in lower case, else upper case; an empty value counts as set (it clears)."""
    for key in (name.lower(), name.upper()):
        if key in environ:
            return environ[key]
    return None


def no_proxy_entries(no_proxy: str) -> list[str]:
    """The entries of a ``NO_PROXY`` value, split as curl splits it."""
    entries: list[str] = []
    rest = no_proxy.lstrip(" \t")
    while rest:
        end = 0
        while end < len(rest) and rest[end] not in " \t,":
            end += 1
        if end:
            entries.append(rest[:end])
        rest = rest[end:].lstrip(" \t")
        if not rest.startswith(","):
            break
        rest = rest.lstrip(",").lstrip(" \t")
    return entries


def _host_matches(entry: str, host: str) -> bool:
    entry = entry.removesuffix(".").removeprefix(".").lower()
    if not entry:
        return False
    return host == entry or host.endswith("." + entry)


def _ip_matches(entry: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network


def bypasses(host: str, no_proxy: str) -> bool:
    """True when ``no_proxy`` exempts ``host`` (a name or address, without port or brackets)."""
    if not host or not no_proxy:
        return False
    if no_proxy == "*":
        return True
    host = host.strip("[]")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    name = host.removesuffix(".").lower()
    for entry in no_proxy_entries(no_proxy):
        if address is not None:
            if _ip_matches(entry, address):
                return True
        elif _host_matches(entry, name):
            return True
    return False


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy the environment names for ``url``, or None (none set, or exempted)."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    value = _environment(f"{parts.scheme}_proxy", environ)
    if not value:
        return None
    if bypasses(parts.hostname, _environment("no_proxy", environ) or ""):
        return None
    proxy = urlsplit(value if "://" in value else f"http://{value}")
    if proxy.scheme not in ("http", "https") or not proxy.hostname:
        return None
    headers: dict[str, str] = {}
    userinfo = ""
    if proxy.username is not None:
        pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        userinfo = proxy.netloc.rpartition("@")[0]
    port = proxy.port or (443 if proxy.scheme == "https" else 80)
    return Proxy(proxy.scheme, proxy.hostname, port, headers, userinfo)
