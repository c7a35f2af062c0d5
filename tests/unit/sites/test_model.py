"""The site model: the shipped file is valid, every topology rule catches its fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn.sites import SiteFileError, check, load_sites
from pdn.sites.loader import format_loc, parse_sites

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sites"
REPO_SITES = Path(__file__).resolve().parents[3] / "stacks" / "sites.yaml"


def test_shipped_model_has_the_four_national_sites() -> None:
    model = load_sites()
    assert model.ids == ["cikarang", "batam", "ikn", "labuan-bajo"]
    assert model.site("cikarang").order == 1
    assert model.site("batam").island != model.site("cikarang").island
    assert "volcanic" in model.site("labuan-bajo").risk.notes


def test_shipped_model_keeps_every_rule() -> None:
    assert check(load_sites()) == []


def test_cikarang_and_batam_back_each_other_up() -> None:
    model = load_sites()
    assert "batam" in model.site("cikarang").partner_ids
    assert "cikarang" in model.site("batam").partner_ids


def test_every_worker_pool_sits_in_a_declared_failure_domain() -> None:
    for site in load_sites().sites:
        domains = {domain.id for domain in site.failure_domains}
        assert {pool.failure_domain for pool in site.kubernetes.worker_pools} <= domains


def test_estimates_are_marked_with_a_source() -> None:
    for site in load_sites().sites:
        for figure in (site.coordinates, site.power):
            if figure.estimate:
                assert figure.source, f"{site.id}: an estimate must say where it comes from"


def test_base_fixture_is_valid() -> None:
    assert check(load_sites(FIXTURES / "base.yaml")) == []


@pytest.mark.parametrize(
    ("fixture", "rule", "sites"),
    [
        ("rule-offsite-copy.yaml", "offsite-copy", {"gamma"}),
        ("rule-not-self-only.yaml", "not-self-only", {"gamma"}),
        ("rule-off-island.yaml", "off-island", {"gamma"}),
        ("rule-mutual-pair.yaml", "mutual-pair", {"alpha"}),
        ("rule-in-country.yaml", "in-country", {"alpha", "gamma"}),
        ("rule-in-country-territory.yaml", "in-country", {"alpha", "gamma"}),
        ("rule-capacity.yaml", "capacity", {"gamma"}),
    ],
)
def test_each_rule_names_the_site_that_breaks_it(fixture: str, rule: str, sites: set[str]) -> None:
    violations = check(load_sites(FIXTURES / fixture))
    assert {violation.rule for violation in violations} == {rule}
    assert {violation.site for violation in violations} == sites
    assert all(f"site {v.site}: rule {rule}" in str(v) for v in violations)


@pytest.mark.parametrize(
    ("fixture", "field", "line", "words"),
    [
        ("bad-unknown-field.yaml", "sites[0].colour", 18, "Extra inputs"),
        ("bad-wrong-type.yaml", "sites[0].power.capacity_mw", 17, "valid number"),
        (
            "bad-missing-partner.yaml",
            "sites[2].backup.partners[0].site",
            44,
            "unknown backup partner 'delta'",
        ),
        ("bad-duplicate-id.yaml", "sites[2].id", 38, "duplicate site id 'beta'"),
        ("bad-yaml-syntax.yaml", "", 20, "YAML syntax error"),
    ],
)
def test_bad_files_name_file_line_and_field(fixture: str, field: str, line: int, words: str) -> None:
    path = FIXTURES / fixture
    with pytest.raises(SiteFileError) as raised:
        load_sites(path)
    first = raised.value.problems[0]
    assert first.file == path.resolve()
    assert first.field == field
    assert first.line == line
    assert words in first.message
    assert f"{path.resolve()}:{line}" in str(raised.value)


def test_even_control_plane_is_rejected() -> None:
    text = (FIXTURES / "base.yaml").read_text().replace("control_plane: {replicas: 1}", "control_plane: {replicas: 2}")
    with pytest.raises(SiteFileError) as raised:
        parse_sites(text, Path("even.yaml"))
    assert "quorum" in str(raised.value)


def test_a_backup_tier_outside_the_national_scale_is_rejected() -> None:
    """Backup partners name tiers of pdn.sites.vocabulary, the scale the stacks' tenants use."""
    text = (REPO_SITES).read_text().replace("tiers: [vital]", "tiers: [critical]", 1)
    assert "critical" in text
    with pytest.raises(SiteFileError) as raised:
        parse_sites(text, Path("tiers.yaml"))
    assert "tiers" in str(raised.value) and "'vital'" in str(raised.value)


def test_a_file_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(SiteFileError, match="must hold a mapping"):
        parse_sites("- just\n- a list\n", Path("list.yaml"))


def test_format_loc() -> None:
    assert format_loc(("sites", 1, "kubernetes", "worker_pools", 0)) == "sites[1].kubernetes.worker_pools[0]"


@pytest.mark.parametrize(
    ("upgrade_from", "message"),
    [
        (["v1.34.4"], "not an older release"),
        (["v1.35.0"], "not an older release"),
        (["v1.32.9"], "not an older release"),  # two minors back: kubeadm upgrades one at a time
        (["v1.34.3", "v1.34.3"], "listed twice"),
        (["1.34.3"], "pattern"),
    ],
)
def test_a_release_to_upgrade_from_is_an_older_one_of_the_same_or_previous_minor(
    upgrade_from: list[str], message: str
) -> None:
    from pydantic import ValidationError

    from pdn.sites.model import Kubernetes

    base = {"version": "v1.34.4", "control_plane": {"replicas": 3},
            "worker_pools": [{"name": "general", "replicas": 1, "failure_domain": "a"}]}  # fmt: skip
    assert Kubernetes.model_validate({**base, "upgrade_from": ["v1.33.9", "v1.34.3"]}).versions == [
        "v1.33.9", "v1.34.3", "v1.34.4"
    ]  # fmt: skip
    with pytest.raises(ValidationError, match=message):
        Kubernetes.model_validate({**base, "upgrade_from": upgrade_from})
