"""Tiers by folder: a test under tests/<tier>/ gets the marker <tier> (unit, lab, nodes, kube, vm, capi)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

TIERS = ("unit", "lab", "nodes", "kube", "vm", "capi")


def _below_tests(item: pytest.Item) -> tuple[str, ...]:
    """The item's path parts below ``tests/``: ("lab", "backup", "test_drill_lab.py") and so on."""
    parts = item.path.parts
    return parts[parts.index("tests") + 1 :] if "tests" in parts else ()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _order_lab_areas(items)
    for item in items:
        below = _below_tests(item)
        if below and below[0] in TIERS:
            item.add_marker(getattr(pytest.mark, below[0]))


# Lab-tier areas run in this order on the one shared lab. The drill (tests/lab/backup) runs Velero
# servers, installs Velero's remaining CRDs and restores into partner clusters; the stacks tests
# end with a destroy that must find nothing left, so the drill runs after them and brings the stacks
# back up itself. The main job (tests/lab/up) comes last.
LAB_AREA_ORDER = ("lab", "migrate", "stacks", "backup", "up")


def _lab_area(item: pytest.Item) -> str | None:
    """``backup`` for tests/lab/backup/...; None outside the lab tier."""
    below = _below_tests(item)
    return below[1] if len(below) > 2 and below[0] == "lab" else None


def _lab_area_rank(item: pytest.Item) -> int:
    area = _lab_area(item)
    return LAB_AREA_ORDER.index(area) if area in LAB_AREA_ORDER else len(LAB_AREA_ORDER)


def _order_lab_areas(items: list[pytest.Item]) -> None:
    positions = [i for i, item in enumerate(items) if _lab_area(item) is not None]
    ordered = sorted((items[i] for i in positions), key=_lab_area_rank)  # stable: keeps order inside an area
    for position, item in zip(positions, ordered, strict=True):
        items[position] = item


@pytest.fixture(scope="session")
def own_lab(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str], AbstractContextManager[None]]:
    """``with own_lab(NAMESPACE, LAB_PORT_BASE, NODES_PORT_BASE):`` a lab of the tier's own (state
    folder, ports, node names), never the developer's; skips when podman or socat is missing."""

    @contextlib.contextmanager
    def enter(namespace: str, lab_port_base: str, nodes_port_base: str) -> Iterator[None]:
        for tool in ("podman", "socat"):
            if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, check=False).returncode:
                pytest.skip(f"{tool} is not installed")
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PDN_LAB_DIR", str(tmp_path_factory.mktemp("lab")))
            env.setenv("PDN_LAB_PORT_BASE", lab_port_base)
            env.setenv("PDN_NODES_NAMESPACE", namespace)
            env.setenv("PDN_NODES_PORT_BASE", nodes_port_base)
            yield

    return enter
