"""Tiers by folder: a test under tests/<tier>/ gets the marker <tier> (unit, lab, nodes, vm)."""

from __future__ import annotations

import pytest

TIERS = ("unit", "lab", "nodes", "vm")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _order_lab_areas(items)
    for item in items:
        parts = item.path.parts
        for tier in TIERS:
            if "tests" in parts and tier in parts[parts.index("tests") + 1 : parts.index("tests") + 2]:
                item.add_marker(getattr(pytest.mark, tier))


# Lab-tier areas run in this order on the one shared lab. The drill (tests/lab/backup) runs Velero
# servers, installs Velero's remaining CRDs and restores into partner clusters; the stacks tests
# end with a destroy that must find nothing left, so the drill runs after them and brings the stacks
# back up itself. The main job (tests/lab/up) comes last.
LAB_AREA_ORDER = ("lab", "migrate", "stacks", "backup", "up")


def _lab_area(item: pytest.Item) -> str | None:
    """``backup`` for tests/lab/backup/...; None outside the lab tier."""
    parts = item.path.parts
    index = parts.index("tests") if "tests" in parts else -1
    if index < 0 or len(parts) <= index + 3 or parts[index + 1] != "lab":
        return None
    return parts[index + 2]


def _lab_area_rank(item: pytest.Item) -> int:
    area = _lab_area(item)
    return LAB_AREA_ORDER.index(area) if area in LAB_AREA_ORDER else len(LAB_AREA_ORDER)


def _order_lab_areas(items: list[pytest.Item]) -> None:
    positions = [i for i, item in enumerate(items) if _lab_area(item) is not None]
    ordered = sorted((items[i] for i in positions), key=_lab_area_rank)  # stable: keeps order inside an area
    for position, item in zip(positions, ordered, strict=True):
        items[position] = item
