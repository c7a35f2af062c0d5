"""``python3 -m pdn.migrate.probe URL...``: the smoke check's HTTP client, run in a pod of the app's
own namespace (so it is subject to the same NetworkPolicies as the app's real clients).

Prints exactly one JSON document (the pod's log is read back as JSON by :mod:`pdn.migrate.smoke`):
per URL the status, the decoded body (or its first characters) or the error. Exit 0 either way:
an unreachable URL is a result here, not a failure of the probe.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

BODY_LIMIT = 64 * 1024


def fetch(url: str, timeout: float, retry_refused: float = 0.0) -> dict[str, Any]:
    """One GET: ``{"url", "status", "body"}`` or ``{"url", "status": None, "error"}``.

    A refused connection is tried again for up to ``retry_refused`` seconds: a Service whose
    endpoints just became ready refuses until kube-proxy has programmed them on the node.
    """
    deadline = time.monotonic() + retry_refused
    while True:
        result = _fetch_once(url, timeout)
        refused = "Connection refused" in str(result.get("error", ""))
        if not refused or time.monotonic() >= deadline:
            return result
        time.sleep(0.5)


def _fetch_once(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            status, raw = reply.status, reply.read(BODY_LIMIT)
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read(BODY_LIMIT)
    except (OSError, ValueError) as error:
        return {"url": url, "status": None, "error": f"{type(error).__name__}: {error}"[:300]}
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")[:2000]
    return {"url": url, "status": status, "body": body}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pdn.migrate.probe", description=__doc__)
    parser.add_argument("urls", nargs="+", help="http:// URLs to GET, in order")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--retry-refused", type=float, default=0.0, help="seconds to retry a refused connection")
    args = parser.parse_args(argv)
    proxyless = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    urllib.request.install_opener(proxyless)
    results = [fetch(url, args.timeout, args.retry_refused) for url in args.urls]
    sys.stdout.write(json.dumps({"results": results}, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
