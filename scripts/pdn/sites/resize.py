"""A copy of the site model with one worker pool resized or another Kubernetes release: how the lab
rehearses scaling and upgrading a site.

The repository's model stays as it is; the copy goes where ``PDN_SITES`` then points, so every
part (the CLI, the Pulumi program, the policy pack) reads the same resized model.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pdn import paths, safeload


def resized_model(
    folder: Path,
    site_id: str,
    replicas: int,
    pool: int = 0,
    version: str | None = None,
    upgrade_from: tuple[str, ...] = (),
) -> Path:
    """Write the model with pool number ``pool`` of ``site_id`` at ``replicas`` (and, with
    ``version``, the site at that Kubernetes release, its clusters allowed to still run
    ``upgrade_from``) into ``folder`` (a new file per change: the loader caches one model per path)
    and return its path."""
    model = safeload.load_yaml(paths.sites_file())
    (site,) = [s for s in model["sites"] if s["id"] == site_id]
    site["kubernetes"]["worker_pools"][pool]["replicas"] = replicas
    release = ""
    if version is not None:
        site["kubernetes"]["version"] = version
        site["kubernetes"]["upgrade_from"] = list(upgrade_from)
        release = f"-{version}" + "".join(f"-from-{v}" for v in upgrade_from)
    path = folder / f"sites-{site_id}{release}-pool{pool}-{replicas}.yaml"
    path.write_text(yaml.safe_dump(model, sort_keys=False), encoding="utf-8")
    return path
