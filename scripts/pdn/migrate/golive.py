"""A wave's apps go live on a site's cluster and are checked: credentials, manifests, Ready, smoke.

The steps of the runbook's cutover, for apps whose data is already copied and verified:
1. issue the app's read-only object store credentials (:mod:`pdn.migrate.appcreds`) into its
   Secret, 2. apply its manifests server-side, 3. wait until every replica is Ready, 4. run the
   smoke check from inside its namespace and record the evidence (:mod:`pdn.migrate.smoke`).
Then, per site, apps of two different tenants are checked to be unreachable from each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdn import kube, safeload
from pdn.errors import PdnError
from pdn.migrate import appcreds, smoke
from pdn.migrate.render import credentials_secret

FIELD_MANAGER = "pdn-migrate"
READY_TIMEOUT = 300.0


@dataclass(frozen=True)
class StoreAccess:
    """How credentials are issued for a site: the store as the operator reaches it, with the
    identity allowed to call STS (in the lab: MinIO's root user on 127.0.0.1)."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str


def apply_folder(client: kube.Kube, folder: Path, field_manager: str = FIELD_MANAGER) -> int:
    """Server-side apply of every manifest under ``folder`` (files in name order, as ``kubectl apply
    --server-side -R -f`` takes them); returns how many objects were applied."""
    applied = 0
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json"}):
        document = safeload.load_yaml(file)
        if document is None:
            continue
        if not isinstance(document, dict):
            raise PdnError(f"{file}: not a Kubernetes object (a YAML mapping)")
        objects = document.get("items", []) if str(document.get("kind", "")).endswith("List") else [document]
        for obj in objects:
            try:
                client.apply(obj, field_manager=field_manager)
            except kube.KubeError as error:
                raise PdnError(f"applying {file} failed: {error}") from None
            applied += 1
    return applied


def deploy(client: kube.Kube, folder: Path, bucket: str, access: StoreAccess) -> smoke.AppService:
    """Credentials Secret, then the app's manifests; returns where the app answers."""
    app = smoke.read_service(folder)
    values = appcreds.issue_read_only(access.endpoint, access.region, access.access_key, access.secret_key, bucket)
    labels = {"app.kubernetes.io/name": app.name, "app.kubernetes.io/managed-by": "pdn-migrate"}
    secret = appcreds.secret_object(app.namespace, credentials_secret(app.name), labels, values)
    client.apply(secret, field_manager=FIELD_MANAGER, force=True)
    apply_folder(client, folder)
    return app


def ready_times(client: kube.Kube, apps: Sequence[smoke.AppService], since: float) -> dict[str, float | str]:
    """Wait for every app's replicas to be Ready: seconds from ``since`` (``time.monotonic()``
    when the wave was applied) per app id, or why it did not get there."""
    found: dict[str, float | str] = {}
    for app in apps:
        try:
            smoke.wait_ready(client, app, READY_TIMEOUT)
        except PdnError as error:
            found[app.app_id] = str(error)[:300]
        else:
            found[app.app_id] = round(time.monotonic() - since, 1)
    return found


def check(
    client: kube.Kube, site: str, app: smoke.AppService, expected: Mapping[str, str], out: Path, ready: float | str
) -> smoke.Evidence:
    """The smoke check of an app that got Ready after ``ready`` seconds (or did not: the reason);
    writes the evidence file."""
    if isinstance(ready, str):
        evidence = smoke.Evidence(app.app_id, site, app.namespace, app.name, 0.0,
                                  False, False, 0, len(expected), len(expected), 0, [ready])  # fmt: skip
    else:
        evidence = smoke.smoke_app(client, site, app, expected, ready)
    smoke.write_evidence(out, evidence)
    return evidence


def isolation(client: kube.Kube, apps: Sequence[smoke.AppService]) -> dict[str, Any]:
    """Two apps of different tenants: neither's namespace reaches the other's Service."""
    first = apps[0] if apps else None
    other = next((app for app in apps if first and app.namespace != first.namespace), None)
    if first is None or other is None:
        return {"checked": False, "reason": "fewer than two tenants on this site"}
    return {
        "checked": True,
        "pair": [f"{first.namespace}/{first.name}", f"{other.namespace}/{other.name}"],
        "blocked_both_ways": smoke.unreachable_from(client, first.namespace, other)
        and smoke.unreachable_from(client, other.namespace, first),
    }


def go_live(
    site: str,
    folders: Sequence[Path],
    buckets: Mapping[str, str],
    expected: Mapping[str, Mapping[str, str]],
    access: StoreAccess,
    out: Path,
    report: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Deploy and check the apps rendered into ``folders`` on ``site``; the per-site result."""
    client = kube.site(site)
    started = time.monotonic()
    apps = []
    for folder in folders:
        app = deploy(client, folder, buckets[folder.name], access)
        report(f"applied {app.kind} {app.namespace}/{app.name}")
        apps.append(app)
    ready = ready_times(client, apps, started)  # all were applied first: they start side by side
    evidence = []
    for app in apps:
        found = check(client, site, app, expected[app.app_id], out, ready[app.app_id])
        report(f"{app.app_id}: {'verified' if found.passed else 'FAILED: ' + '; '.join(found.problems)[:200]}")
        evidence.append(found)
    return {
        "apps": len(apps),
        "ready": sum(isinstance(seconds, float) for seconds in ready.values()),
        "verified": sum(found.passed for found in evidence),
        # from the first apply until the last app was Ready (each app's own: its evidence file)
        "wave_ready_seconds": max((found.ready_seconds for found in evidence), default=0.0),
        "isolation": isolation(client, apps),
        "failed": [found.app_id for found in evidence if not found.passed],
    }
