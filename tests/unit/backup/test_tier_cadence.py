"""The tiers' backup cadence (infra/pdn_infra/tiers.py) keeps within the site model's RPO targets
(stacks/sites.yaml ``policy.recovery``): a schedule that fires less often than its tier's RPO
would miss the target by construction."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO / "infra") not in sys.path:
    sys.path.insert(0, str(REPO / "infra"))

from pdn.sites import load_sites  # noqa: E402
from pdn.sites.vocabulary import Tier  # noqa: E402
from pdn_infra.tiers import PROFILES  # noqa: E402

HOURLY = re.compile(r"^([0-5]?\d) \* \* \* \*$")
DAILY = re.compile(r"^([0-5]?\d) (1?\d|2[0-3]) \* \* \*$")


def period_minutes(cron: str) -> int:
    """Minutes between two runs of ``M * * * *`` (hourly) or ``M H * * *`` (daily); any other form
    fails, so that a new kind of schedule gets a look here."""
    if HOURLY.match(cron):
        return 60
    if DAILY.match(cron):
        return 24 * 60
    raise ValueError(f"backup_cron {cron!r} is neither 'M * * * *' nor 'M H * * *'")


def test_cron_periods_parse_only_the_two_known_forms() -> None:
    assert period_minutes("0 * * * *") == 60
    assert period_minutes("45 3 * * *") == 1440
    for other in ("*/30 * * * *", "0 */6 * * *", "0 1 * * 0", "0 1 1 * *", "60 * * * *", "0 24 * * *", "@hourly"):
        with pytest.raises(ValueError):
            period_minutes(other)


def test_every_tier_has_a_profile_and_a_recovery_target() -> None:
    recovery = load_sites().policy.recovery
    assert set(PROFILES) == set(Tier)
    assert set(recovery) == set(Tier), f"tiers without a recovery target: {set(Tier) - set(recovery)}"


@pytest.mark.parametrize("tier", list(Tier), ids=str)
def test_backup_period_is_shorter_than_the_tier_rpo(tier: Tier) -> None:
    target = load_sites().policy.recovery[tier]
    period = period_minutes(PROFILES[tier].backup_cron)
    assert period < target.rpo_minutes, (
        f"{tier}: backups every {period} min cannot keep an RPO of {target.rpo_minutes} min"
    )
