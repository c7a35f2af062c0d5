"""The super-app catalog: traced to policy, typed, every error with its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdn.errors import InputError
from pdn.migrate.catalog import load_catalog
from pdn.sites import load_sites

GOVSTACK = {
    "identity",
    "payments",
    "messaging",
    "registration",
    "workflow",
    "information-mediation",
    "digital-registries",
}
NINE = {
    "health",
    "education",
    "social-assistance",
    "digital-identity",
    "satu-data",
    "financial-transactions",
    "portal-integration",
    "asn-services",
    "driving-licence",
}

HEAD = """sources:
  - {id: perpres, title: Perpres 82/2023, publisher: Government, year: 2023, says: nine priority services}
priority_services:
  - {id: health, name: Health, source: perpres, superapp: kes, note: carried by the health super app}
superapps:
  - id: kes
    name: SuperApp Kesehatan
    concepts: [clinic, hospital]
    site: batam
    sources: [perpres]
    priority_services: [health]
    building_blocks: [identity, registration]
    datasets:
      - {id: rekam-medis, title: Rekam Medis, owner: Kemenkes, concepts: [clinic, hospital]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_is_traced_to_policy() -> None:
    catalog, _ = load_catalog(None, load_sites())
    sources = {s.id: s for s in catalog.sources}
    assert "perpres-82-2023" in sources and "82" in sources["perpres-82-2023"].title
    assert {p.id for p in catalog.priority_services} == NINE
    assert all(p.source == "perpres-82-2023" for p in catalog.priority_services)
    for app in catalog.superapps:
        assert app.sources and set(app.sources) <= set(sources)
        assert set(app.building_blocks) <= GOVSTACK
        assert "identity" in app.building_blocks  # the digital-identity priority service says every one relies on it
        assert app.datasets and {c for d in app.datasets for c in d.concepts} == set(app.concepts)
    # every priority service a super app carries points back at it, and none is claimed twice
    for service in catalog.priority_services:
        if service.superapp:
            assert service.id in catalog.superapp(service.superapp).priority_services
    claimed = [s for app in catalog.superapps for s in app.priority_services]
    assert len(claimed) == len(set(claimed))


def test_a_valid_small_catalog_loads(tmp_path: Path) -> None:
    catalog, text = load_catalog(write(tmp_path, HEAD), load_sites())
    assert catalog.superapp("kes").datasets[0].owner == "Kemenkes"
    assert text.startswith("sources:")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("[identity, registration]", "[identity, idenity]"),
            r"catalog.yaml:12: superapps\[0\]\.building_blocks\[1\]: Input should be",
        ),
        (
            ("sources: [perpres]", "sources: [perpress]"),
            r"catalog.yaml:10: superapps\[0\]\.sources\[0\]: unknown source 'perpress'",
        ),
        (
            ("superapp: kes", "superapp: kesehatan"),
            r"catalog.yaml:4: priority_services\[0\]\.superapp: unknown super app 'kesehatan'",
        ),
        (
            ("concepts: [clinic, hospital]}", "concepts: [clinic, tax]}"),
            r"datasets\[0\]\.concepts\[1\]: 'tax' is not a concept of kes",
        ),
        (
            ("concepts: [clinic, hospital]}", "concepts: [clinic]}"),
            r"superapps\[0\]\.datasets: no dataset takes the data of concept\(s\) hospital",
        ),
        (
            ("site: batam", "site: jakarta"),
            r"catalog.yaml:9: superapps\[0\]\.site: super app kes on unknown site 'jakarta'",
        ),
        (("year: 2023", "year: twenty"), r"catalog.yaml:2: sources\[0\]\.year: Input should be a valid integer"),
        (
            ("    name: SuperApp Kesehatan\n", "    name: SuperApp Kesehatan\n    colour: red\n"),
            r"superapps\[0\]\.colour: Extra inputs are not permitted",
        ),
    ],
)
def test_errors_name_line_and_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in HEAD
    with pytest.raises(InputError, match=expected):
        load_catalog(write(tmp_path, HEAD.replace(old, new, 1)), load_sites())


def test_yaml_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"catalog\.yaml"):
        load_catalog(write(tmp_path, "sources: [unclosed\n"), load_sites())
