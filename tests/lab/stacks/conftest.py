"""Lab fixtures of the stacks tests: all four stacks brought up once per session, then destroyed.

Needs the lab (the session fixture ``lab`` from tests/lab/conftest.py: clusters, MinIO, Pulumi
toolchain). The destroy at the end is itself asserted by ``test_destroy_leaves_nothing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pdn.stacks import crds
from pdn.stacks.runner import Outcome, run
from pdn.stacks.workspace import Workspace, lab_workspace, stack_sites


@pytest.fixture(scope="session")
def stacks_ws(lab: Any) -> Workspace:
    return lab_workspace(stack_sites(), crds.fetch())


@pytest.fixture(scope="session")
def stacks_up(stacks_ws: Workspace) -> Iterator[list[Outcome]]:
    outcomes = run(stacks_ws, stack_sites(), "up", policy=True)
    yield outcomes
