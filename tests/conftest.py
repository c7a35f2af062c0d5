"""Tiers by folder: a test under tests/<tier>/ gets the marker <tier> (unit, lab, nodes, vm)."""

from __future__ import annotations

import pytest

TIERS = ("unit", "lab", "nodes", "vm")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for tier in TIERS:
            if "tests" in parts and tier in parts[parts.index("tests") + 1 : parts.index("tests") + 2]:
                item.add_marker(getattr(pytest.mark, tier))
