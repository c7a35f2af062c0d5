"""The plan as a picture: apps per wave over time (stacked by site), data per wave, site load."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pdn.migrate.workspace import CHART, atomic_write


def draw(result: dict[str, Any], out: Path) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    waves = result["waves"]
    sites = sorted(result["site_load"])
    dates = [dt.date.fromisoformat(w["date"]) for w in waves]
    per_site = {site: [0] * len(waves) for site in sites}
    for index, wave in enumerate(waves):
        for part in filter(None, wave["sites"].split(";")):
            site, count = part.split("=")
            per_site[site][index] = int(count)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), constrained_layout=True)
    bottoms = [0] * len(waves)
    for site in sites:
        top.bar(dates, per_site[site], width=8, bottom=bottoms, label=site)
        bottoms = [b + v for b, v in zip(bottoms, per_site[site], strict=True)]
    if dates:
        first, last = dates[0] - dt.timedelta(days=21), dates[-1] + dt.timedelta(days=21)
        for blackout in result["blackouts"]:
            start, end = dt.date.fromisoformat(blackout["start"]), dt.date.fromisoformat(blackout["end"])
            if end >= first and start <= last:
                top.axvspan(max(start, first), min(end, last), color="grey", alpha=0.2)
        top.set_xlim(first, last)
    top.set_ylabel("apps moved in the wave")
    top.set_title(f"{result['summary']['moving']} apps in {len(waves)} waves (grey: blackout periods)")
    top.legend(loc="upper left")
    twin = top.twinx()
    twin.plot(dates, [w["data_gb"] / 1000 for w in waves], color="black", marker="o", label="TB per wave")
    twin.set_ylabel("TB moved in the wave")
    cumulative = {site: 0.0 for site in sites}
    series: dict[str, list[float]] = {site: [] for site in sites}
    load_by_wave: dict[int, dict[str, float]] = {}
    for row in result["apps"]:
        load_by_wave.setdefault(row["wave"], {}).setdefault(row["site"], 0.0)
        load_by_wave[row["wave"]][row["site"]] += row["vcpu"]
    for wave in waves:
        for site in sites:
            cumulative[site] += load_by_wave.get(wave["wave"], {}).get(site, 0.0)
            capacity = result["site_load"][site]["capacity_vcpu"] or 1
            series[site].append(100 * cumulative[site] / capacity)
    for site in sites:
        bottom.plot(dates, series[site], marker=".", label=site)
    bottom.axhline(100, color="red", linestyle="--", linewidth=1)
    bottom.set_ylabel("tenant capacity used (%)")
    bottom.set_title("Load per site after each wave (vCPU requested / derived tenant capacity)")
    bottom.legend(loc="upper left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write(out / CHART, buffer.getvalue())
    return out / CHART
