"""``pdn migrate dataplan``: how long the national data movement takes, wave by wave.

From the plan (``plan.csv``: every app's wave, site and data size) and three parameters — the
copy throughput of one Job pod (measured: docs/benchmarks.md), how many copy pods a site runs at
once, and the bandwidth a site's ingest has — it gives per wave and site the data, the shards
(an app's data cut at ``shard_gb``, as ``copy --on-cluster --shard-bytes`` does), the pods that
can work at once (at most one per shard) and the hours, taking the lower of the pods' sum and the
site's bandwidth. Sites copy side by side, so a wave takes as long as its slowest site.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Parameters:
    pod_mib_s: float  # copy throughput of one Job pod
    pods_per_site: int  # copy pods a site runs at once
    site_gbit_s: float  # ingest bandwidth of a site
    shard_gb: float = 20.0  # as ``copy --on-cluster --shard-bytes 20GB``


@dataclass(frozen=True)
class SiteWave:
    wave: int
    site: str
    apps: int
    data_tb: float
    shards: int
    pods: int
    mib_s: float
    hours: float
    limited_by: str  # "pods" or "bandwidth"


def plan_rows(rows: Iterable[Mapping[str, str]], params: Parameters) -> list[SiteWave]:
    """One entry per (wave, site) of the plan, in wave then site order."""
    data: dict[tuple[int, str], float] = defaultdict(float)
    shards: dict[tuple[int, str], int] = defaultdict(int)
    apps: dict[tuple[int, str], int] = defaultdict(int)
    for row in rows:
        key = (int(row["wave"]), row["site"])
        gb = float(row["data_gb"] or 0)
        data[key] += gb
        shards[key] += max(1, math.ceil(gb / params.shard_gb))
        apps[key] += 1
    bandwidth_mib_s = params.site_gbit_s * 1e9 / 8 / 2**20
    result = []
    for key in sorted(data):
        pods = min(params.pods_per_site, shards[key])
        by_pods = pods * params.pod_mib_s
        rate = min(by_pods, bandwidth_mib_s)
        seconds = data[key] * 1e9 / 2**20 / rate if rate else math.inf
        limited_by = "pods" if by_pods <= bandwidth_mib_s else "bandwidth"
        hours = seconds / 3600
        result.append(SiteWave(key[0], key[1], apps[key], data[key] / 1000, shards[key], pods, rate, hours, limited_by))
    return result


def wave_hours(entries: Iterable[SiteWave]) -> dict[int, float]:
    """Hours per wave: its slowest site (sites copy side by side)."""
    hours: dict[int, float] = defaultdict(float)
    for entry in entries:
        hours[entry.wave] = max(hours[entry.wave], entry.hours)
    return dict(hours)
