"""Which sites each step of ``pdn up`` touches."""

from __future__ import annotations

import pytest

from pdn.errors import InputError
from pdn.sites import load_sites
from pdn.up import plan_sites


def test_every_site_by_default() -> None:
    plan = plan_sites([])
    order = [site.id for site in sorted(load_sites().sites, key=lambda site: site.order)]
    assert plan.chosen == plan.stacks == plan.lab == order
    assert plan.drill_from == order[0]


@pytest.mark.parametrize("site_id", ["cikarang", "batam", "ikn", "labuan-bajo"])
def test_one_site_brings_what_its_stack_and_drill_need(site_id: str) -> None:
    model = load_sites()
    plan = plan_sites([site_id])
    assert plan.chosen == [site_id]
    assert plan.drill_from == site_id
    assert plan.drill_to == model.site(site_id).partner_ids[0]
    assert set(plan.stacks) == {site_id, plan.drill_to}
    for stack_site in plan.stacks:  # every bucket a stack creates lives on a running lab site
        assert set(model.site(stack_site).partner_ids) <= set(plan.lab)


def test_sites_keep_build_order_whatever_the_order_asked() -> None:
    assert plan_sites(["labuan-bajo", "cikarang"]).chosen == ["cikarang", "labuan-bajo"]


def test_unknown_site_is_named() -> None:
    with pytest.raises(InputError, match="jakarta"):
        plan_sites(["jakarta"])
