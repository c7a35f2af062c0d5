"""A copy of the site model with one worker pool resized: how the lab rehearses scaling a site.

The repository's model stays as it is; the copy goes where ``PDN_SITES`` then points, so every
part (the CLI, the Pulumi program, the policy pack) reads the same resized model.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pdn import paths, safeload


def resized_model(folder: Path, site_id: str, replicas: int, pool: int = 0) -> Path:
    """Write the model with pool number ``pool`` of ``site_id`` at ``replicas`` into ``folder``
    (a new file per size: the loader caches one model per path) and return its path."""
    model = safeload.load_yaml(paths.sites_file())
    (site,) = [s for s in model["sites"] if s["id"] == site_id]
    site["kubernetes"]["worker_pools"][pool]["replicas"] = replicas
    path = folder / f"sites-{site_id}-pool{pool}-{replicas}.yaml"
    path.write_text(yaml.safe_dump(model, sort_keys=False), encoding="utf-8")
    return path
