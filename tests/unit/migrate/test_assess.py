"""assess: the 6 Rs follow status, usage and stack; readiness and risk move the right way."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pdn.migrate.assess import assess_app, load_eol
from pdn.migrate.schema import App, Criticality, Runtime, Status

TODAY = dt.date(2026, 11, 1)
EOL = load_eol()


@pytest.fixture
def with_(make_app: Any) -> Any:
    def build(**changes: Any) -> App:
        app: App = make_app("A", "SIMPEG", **changes)
        return app

    return build


def test_actions(with_: Any) -> None:
    assert assess_app(with_(status=Status.DECOMMISSIONED), EOL, TODAY).action == "retire"
    assert assess_app(with_(status=Status.IDLE, monthly_users=3), EOL, TODAY).action == "retire"
    assert assess_app(with_(tech_stack=("php-5.6", "mysql-5.5")), EOL, TODAY).action == "replatform"
    assert assess_app(with_(tech_stack=("java-17",), runtime=Runtime.CONTAINER), EOL, TODAY).action == "rehost"
    dead = ("vb6", "access-2003")
    assert assess_app(with_(tech_stack=dead), EOL, TODAY).action == "repurchase"
    assert assess_app(with_(tech_stack=dead, criticality=Criticality.VITAL), EOL, TODAY).action == "refactor"
    assert (
        assess_app(with_(tech_stack=dead, criticality=Criticality.VITAL, runtime=Runtime.BARE_METAL), EOL, TODAY).action
        == "retain"
    )


def test_readiness_and_risk_order(with_: Any) -> None:
    good = assess_app(
        with_(tech_stack=("java-17",), runtime=Runtime.CONTAINER, last_release=dt.date(2026, 1, 1)), EOL, TODAY
    )
    bad = assess_app(
        with_(
            tech_stack=("vb6",),
            runtime=Runtime.BARE_METAL,
            criticality=Criticality.VITAL,
            last_release=dt.date(2008, 1, 1),
        ),
        EOL,
        TODAY,
    )
    assert good.readiness == 100 and bad.readiness == 10
    assert (good.risk, bad.risk) == ("low", "high")
    assert bad.rationale and "vb6" in bad.rationale
