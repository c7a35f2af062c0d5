"""Which proxy the environment names, and NO_PROXY matched as curl matches it."""

from __future__ import annotations

import base64

import pytest

from pdn.proxyenv import bypasses, no_proxy_entries, proxy_for

# (host, NO_PROXY, exempted?) -- each line as curl 8 decides it (lib/noproxy.c)
CURL_CASES = [
    ("example.com", "example.com", True),
    ("s3.example.com", "example.com", True),  # a suffix after a dot
    ("myexample.com", "example.com", False),  # not after a dot
    ("example.com.org", "example.com", False),
    ("s3.example.com", ".example.com", True),  # leading dot ignored ...
    ("example.com", ".example.com", True),  # ... also for the domain itself
    ("example.com", "example.com.", True),  # trailing dot of the entry ignored
    ("example.com.", "example.com", True),  # trailing dot of the host ignored
    ("S3.Example.COM", "example.com", True),  # case
    ("s3.example.com", "EXAMPLE.com", True),
    ("anything.at.all", "*", True),  # a lone * exempts everything
    ("example.com", "*.example.com", False),  # * is no wildcard inside an entry
    ("s3.example.com", "*.example.com", False),
    ("example.com", "other.org,*", False),  # nor as an entry of a list
    ("example.com", "", False),
    ("example.com", "other.org, example.com", True),  # blanks around commas
    ("example.com", "other.org example.com", False),  # a blank without a comma ends the list
    ("example.com", " ,, ,example.com", True),  # empty entries
    ("10.1.2.3", "10.0.0.0/8", True),  # CIDR
    ("11.1.2.3", "10.0.0.0/8", False),
    ("10.1.2.3", "10.1.2.3", True),
    ("10.1.2.3", "10.1.2.4", False),
    ("127.0.0.1", "localhost", False),  # names and addresses do not mix
    ("::1", "::1", True),
    ("fd00::5", "fd00::/8", True),
    ("[::1]", "::1", True),
    ("example.com", "example.com:9000", False),  # entries carry no port ...
]


@pytest.mark.parametrize(("host", "no_proxy", "exempt"), CURL_CASES)
def test_no_proxy_matches_as_curl(host: str, no_proxy: str, exempt: bool) -> None:
    assert bypasses(host, no_proxy) is exempt


def test_the_port_of_the_url_plays_no_part() -> None:
    environ = {"HTTP_PROXY": "http://proxy.internal:3128", "NO_PROXY": "store.example"}
    for url in ("http://store.example", "http://store.example:9000", "http://s3.store.example:80/b"):
        assert proxy_for(url, environ) is None, url
    assert proxy_for("http://store.example.net:9000", environ) is not None


def test_entries_are_split_as_curl_splits_them() -> None:
    assert no_proxy_entries("a, b,,c  ,d e,f") == ["a", "b", "c", "d"]
    assert no_proxy_entries("") == []


def test_lower_case_wins_and_empty_clears() -> None:
    environ = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}
    found = proxy_for("https://store.example", environ)
    assert found is not None and (found.host, found.port) == ("lower", 1)
    environ = {"no_proxy": "", "NO_PROXY": "store.example", "HTTPS_PROXY": "http://p:3"}
    assert proxy_for("https://store.example", environ) is not None  # curl: no_proxy is set, and empty
    assert proxy_for("https://store.example", {"https_proxy": "", "HTTPS_PROXY": "http://p:3"}) is None


def test_proxy_for_the_scheme_with_credentials_and_defaults() -> None:
    environ = {"HTTPS_PROXY": "https://user:pa%20ss@proxy.internal", "HTTP_PROXY": "proxy.internal:8080"}
    secure = proxy_for("https://store.example", environ)
    assert secure is not None
    assert (secure.scheme, secure.host, secure.port, secure.url) == (
        "https",
        "proxy.internal",
        443,
        "https://proxy.internal:443",
    )
    assert secure.headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"user:pa ss").decode()}
    assert secure.url_with_credentials == "https://user:pa%20ss@proxy.internal:443"
    plain = proxy_for("http://store.example", environ)
    assert plain is not None and (plain.scheme, plain.port, plain.headers) == ("http", 8080, {})
    assert proxy_for("http://store.example", {"HTTPS_PROXY": "http://p:1"}) is None  # only its own scheme
    assert proxy_for("ftp://store.example", {"FTP_PROXY": "http://p:1"}) is None
