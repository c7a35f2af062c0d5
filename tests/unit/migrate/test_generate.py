"""generate: deterministic per seed, realistic mess, dependencies with cycles, true labels."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pdn.migrate import inventory
from pdn.migrate.graph import strongly_connected
from pdn.migrate.workspace import read_csv


def _digest(folder: Path) -> str:
    return hashlib.sha256(
        b"".join((folder / n).read_bytes() for n in ("inventory.csv", "datacenters.csv", "labels.csv"))
    ).hexdigest()


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    from pdn.migrate.generate import generate

    generate(tmp_path / "a", apps=400, datacenters=60, seed=11)
    generate(tmp_path / "b", apps=400, datacenters=60, seed=11)
    generate(tmp_path / "c", apps=400, datacenters=60, seed=12)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_generated_inventory_is_valid_and_messy(small_inventory: Path) -> None:
    loaded = inventory.load(small_inventory)
    names = [app.name for app in loaded.apps]
    assert len({app.legacy_dc for app in loaded.apps}) > 100
    assert any(name.isupper() for name in names) and any(name.islower() for name in names)
    assert any("Kab." in name or "Pemkab" in name for name in names)
    assert any(app.description == "" for app in loaded.apps)
    assert any(app.description.lower() in ("aplikasi internal", "-", "n/a") for app in loaded.apps)
    assert {app.agency_type.value for app in loaded.apps} == {"ministry", "agency", "province", "regency", "city"}
    labels = rows(small_inventory / "labels.csv")
    assert len(labels) == 1500
    assert len({row["function"] for row in labels}) > 30


def test_dependencies_include_cycles(small_inventory: Path) -> None:
    loaded = inventory.load(small_inventory)
    edges = {app.app_id: list(app.depends_on) for app in loaded.apps}
    components = strongly_connected(list(edges), edges)
    assert any(len(c) > 1 for c in components)
    assert sum(len(app.depends_on) for app in loaded.apps) > 300


def rows(path: Path) -> list[dict[str, str]]:
    return read_csv(path, "the pipeline")


def index(path: Path) -> dict[str, dict[str, str]]:
    return {row["app_id"]: row for row in rows(path)}
