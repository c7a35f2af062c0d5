"""The data-movement plan: shards per app, pods capped by shards, the lower of pods and bandwidth."""

from __future__ import annotations

import math

import pytest

from pdn.migrate import dataplan

ROWS = [
    {"wave": "1", "site": "cikarang", "data_gb": "45"},  # 3 shards of 20 GB
    {"wave": "1", "site": "cikarang", "data_gb": "0.5"},  # 1 shard
    {"wave": "1", "site": "batam", "data_gb": "10"},
    {"wave": "2", "site": "cikarang", "data_gb": "4000"},  # 200 shards
]


def test_pods_are_capped_by_shards_and_time_follows_the_rate() -> None:
    params = dataplan.Parameters(pod_mib_s=10, pods_per_site=64, site_gbit_s=100)
    first, batam_first, second = sorted(dataplan.plan_rows(ROWS, params), key=lambda e: (e.wave, e.site != "cikarang"))
    assert (first.wave, first.site, first.apps, first.shards, first.pods) == (1, "cikarang", 2, 4, 4)
    assert first.limited_by == "pods" and first.mib_s == 40
    assert math.isclose(first.hours, 45.5e9 / 2**20 / 40 / 3600)
    assert second.pods == 64 and second.shards == 200
    assert batam_first.site == "batam" and batam_first.pods == 1


def test_bandwidth_caps_many_pods_and_a_wave_takes_its_slowest_site() -> None:
    params = dataplan.Parameters(pod_mib_s=100, pods_per_site=64, site_gbit_s=1)
    entries = dataplan.plan_rows(ROWS, params)
    big = next(entry for entry in entries if entry.wave == 2)
    assert big.limited_by == "bandwidth" and big.mib_s == pytest.approx(1e9 / 8 / 2**20)
    hours = dataplan.wave_hours(entries)
    assert hours[1] == max(entry.hours for entry in entries if entry.wave == 1)
    assert set(hours) == {1, 2}
