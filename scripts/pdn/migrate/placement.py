"""Where each move group lands: region affinity, classification rules and site capacity.

Everything comes from the site model (nothing per site is hard-coded):

* Region affinity: great-circle distance from the group's province (centroid in provinces.yaml)
  to each site's coordinates; nearest first.
* Classification: restricted and secret data, and vital apps, only go to sites with at least
  three failure domains (they survive the loss of a hall with quorum).
* Capacity: tenant capacity of a site in vCPU = the vCPU of its general worker pools (pools not
  labelled ``pdn.go.id/pool-role: storage``) x ``overcommit``. An app needs
  0.1 + 0.15 x log10(1 + monthly users) vCPU. The site model has no tenant-capacity field; this
  derivation is documented in docs/migration.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

from pdn import safeload
from pdn.migrate.schema import App, Classification, Criticality
from pdn.sites.model import Site, SiteModel

PROTECTED = {Classification.RESTRICTED, Classification.SECRET}


def may_hold(site: Site, classification: Classification) -> bool:
    """Restricted and secret data only on sites with >= 3 failure domains (the residency rule)."""
    return classification not in PROTECTED or len(site.failure_domains) >= 3


def app_vcpu(app: App) -> float:
    return 0.1 + 0.15 * math.log10(1 + app.monthly_users)


def site_vcpu(site: Site) -> float:
    return float(
        sum(
            pool.replicas * pool.cpu
            for pool in site.kubernetes.worker_pools
            if pool.labels.get("pdn.go.id/pool-role") != "storage"
        )
    )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(a))


def province_centroids() -> dict[str, tuple[float, float]]:
    text = resources.files("pdn.data").joinpath("migrate/provinces.yaml").read_text(encoding="utf-8")
    provinces = safeload.yaml_text(text, "provinces.yaml (shipped)")["provinces"]
    return {p["name"].lower(): (float(p["lat"]), float(p["lon"])) for p in provinces}


@dataclass
class SiteLoad:
    site: Site
    capacity: float
    used: float = 0.0
    apps: int = 0
    protected_ok: bool = field(init=False)

    def __post_init__(self) -> None:
        self.protected_ok = may_hold(self.site, Classification.SECRET)


class Placer:
    """Stateful first-fit by distance; ``place`` returns (site id, reason)."""

    def __init__(self, sites: SiteModel, overcommit: float) -> None:
        self.loads = {site.id: SiteLoad(site, site_vcpu(site) * overcommit) for site in sites.sites}
        self.centroids = province_centroids()
        self.national = (
            sum(s.coordinates.lat for s in sites.sites) / len(sites.sites),
            sum(s.coordinates.lon for s in sites.sites) / len(sites.sites),
        )

    def _order(self, province: str) -> list[tuple[float, SiteLoad]]:
        lat, lon = self.centroids.get(province.lower(), self.national)
        ranked = [
            (distance_km(lat, lon, load.site.coordinates.lat, load.site.coordinates.lon), load)
            for load in self.loads.values()
        ]
        return sorted(ranked, key=lambda item: (item[0], item[1].site.id))

    def charge(self, site_id: str, demand: float, count: int) -> None:
        load = self.loads[site_id]
        load.used += demand
        load.apps += count

    def place(self, members: Sequence[App], demand: float) -> tuple[str, str]:
        provinces: dict[str, int] = {}
        for app in members:
            provinces[app.province] = provinces.get(app.province, 0) + 1
        province = max(sorted(provinces), key=lambda p: provinces[p])
        protected = any(a.classification in PROTECTED or a.criticality == Criticality.VITAL for a in members)
        ranked = [(km, load) for km, load in self._order(province) if load.protected_ok or not protected]
        if not ranked:
            ranked = self._order(province)
        rule = "restricted/secret/vital: sites with >= 3 failure domains; " if protected else ""
        for rank, (km, load) in enumerate(ranked):
            if load.used + demand <= load.capacity:
                self.charge(load.site.id, demand, len(members))
                why = "nearest" if rank == 0 else f"nearest with capacity (choice {rank + 1})"
                return load.site.id, f"{rule}{why} to {province} ({km:.0f} km)"
        km, load = min(ranked, key=lambda item: item[1].used / max(item[1].capacity, 1e-9))
        self.charge(load.site.id, demand, len(members))
        return load.site.id, f"{rule}OVER CAPACITY: every allowed site is full; least loaded is {load.site.id}"
