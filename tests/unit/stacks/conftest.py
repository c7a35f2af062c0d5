"""Shared fixtures of the stacks unit tests: each real stack run once under Pulumi mocks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Registered, run_program

SITES = ("cikarang", "batam", "ikn", "labuan-bajo")
_cache: dict[str, list[Registered]] = {}


@pytest.fixture(params=SITES)
def site_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def resources(site_id: str) -> list[Registered]:
    if site_id not in _cache:
        _cache[site_id] = run_program(site_id)
    return _cache[site_id]
