"""Draw the national site map: islands, the four sites and their backup links (PNG and SVG)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pdn import safeload
from pdn.sites.model import SiteModel
from pdn.sites.vocabulary import Tier


@dataclass(frozen=True)
class MapFiles:
    png: Path
    svg: Path


def island_outlines() -> dict[str, list[list[float]]]:
    """Hand-simplified island rings shipped with the package (see ``data/islands.json``)."""
    text = resources.files("pdn").joinpath("data/islands.json").read_text(encoding="utf-8")
    outlines: dict[str, list[list[float]]] = safeload.json_text(text, "islands.json (shipped)")["islands"]
    return outlines


def draw_map(model: SiteModel, out_dir: Path, stem: str = "sites-map") -> MapFiles:
    """Write ``<stem>.png`` and ``<stem>.svg`` into ``out_dir`` and return their paths.

    Text stays text in the SVG (``svg.fonttype=none``) and the PNG carries the site names in
    its metadata, so both files can be searched and checked by machines as well as people.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, Polygon

    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "pdn-sites-map"
    territory = model.policy.territory
    figure, axes = plt.subplots(figsize=(12, 5.2), dpi=110)
    axes.set_facecolor("#eaf2fb")
    for name, ring in island_outlines().items():
        axes.add_patch(Polygon(ring, closed=True, facecolor="#f3efe3", edgecolor="#9c927a", lw=0.7, label=None))
        if len(ring) > 10:
            lon = sum(point[0] for point in ring) / len(ring)
            lat = sum(point[1] for point in ring) / len(ring)
            axes.text(lon, lat, name, fontsize=7, color="#9c927a", ha="center", va="center", style="italic")

    positions = {site.id: (site.coordinates.lon, site.coordinates.lat) for site in model.sites}
    for site in model.sites:
        for partner in site.backup.partners:
            if partner.site == site.id or partner.site not in positions:
                continue
            full = set(partner.tiers) >= set(Tier)
            axes.add_patch(
                FancyArrowPatch(
                    positions[site.id],
                    positions[partner.site],
                    connectionstyle="arc3,rad=0.18",
                    arrowstyle="-|>",
                    mutation_scale=13,
                    lw=1.8 if full else 1.1,
                    linestyle="-" if full else (0, (4, 3)),
                    color="#1f5fa8" if full else "#c0392b",
                    shrinkA=7,
                    shrinkB=7,
                )
            )
    for site in model.sites:
        lon, lat = positions[site.id]
        axes.plot(lon, lat, marker="o", markersize=9, color="#0b3d2e", markeredgecolor="white", zorder=5)
        label = f"{site.name}\n{site.id} · {site.power.capacity_mw:g} MW{'*' if site.power.estimate else ''}"
        axes.annotate(
            label,
            (lon, lat),
            xytext=(8, 8),
            textcoords="offset points",
            fontsize=8.5,
            weight="bold",
            color="#0b3d2e",
            zorder=6,
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#0b3d2e", "lw": 0.6, "alpha": 0.9},
        )
    axes.plot([], [], color="#1f5fa8", lw=1.8, label="backup, all tiers")
    axes.plot([], [], color="#c0392b", lw=1.1, linestyle=(0, (4, 3)), label="backup, selected tiers")
    axes.legend(loc="lower left", fontsize=8, framealpha=0.9)
    axes.set_xlim(territory.min_lon, territory.max_lon)
    axes.set_ylim(territory.min_lat, territory.max_lat)
    axes.set_aspect("equal")
    axes.grid(color="#c9d6e3", lw=0.4)
    axes.set_xlabel("longitude (°E)")
    axes.set_ylabel("latitude (°)")
    axes.set_title("Pusat Data Nasional: national sites and cross-region backup links")
    figure.text(0.99, 0.01, "* estimate · island outlines hand-simplified", ha="right", fontsize=7, color="#666666")
    figure.tight_layout()

    out_dir.mkdir(parents=True, exist_ok=True)
    files = MapFiles(out_dir / f"{stem}.png", out_dir / f"{stem}.svg")
    names = ", ".join(f"{site.id} ({site.name})" for site in model.sites)
    figure.savefig(files.png, metadata={"Title": "PDN sites", "Description": f"Sites: {names}"})
    figure.savefig(files.svg, metadata={"Title": "PDN sites", "Description": f"Sites: {names}", "Date": None})
    plt.close(figure)
    return files
