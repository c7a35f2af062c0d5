"""consolidate: families map to the eight super apps; one base each; roles with evidence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pdn.errors import InputError
from pdn.migrate.consolidate import load_catalog, match
from pdn.migrate.workspace import read_csv
from pdn.sites import load_sites


def test_shipped_catalog_has_eight_super_apps_on_known_sites() -> None:
    catalog, _ = load_catalog(None, load_sites())
    assert len(catalog.superapps) == 8


def test_matching() -> None:
    catalog, _ = load_catalog(None, load_sites())
    assert match("fn-staff", catalog).id == "asn"  # type: ignore[union-attr]
    assert match("fn-asset", catalog).id == "keuangan"  # type: ignore[union-attr]
    assert match("fn-airquality", catalog) is None
    assert match("nm-festival-budaya", catalog) is None


def test_roles(pipeline: Path) -> None:
    table = rows(pipeline / "consolidation.csv")
    bases = Counter(row["super_app"] for row in table if row["role"] == "becomes")
    assert set(bases) == {
        "asn",
        "keuangan",
        "pengadaan",
        "perizinan",
        "layanan-publik",
        "perkantoran",
        "perencanaan",
        "kesehatan",
    }
    assert set(bases.values()) == {1}
    roles = Counter(row["role"] for row in table)
    assert roles["joins"] > 100 and roles["retired-into"] > 50 and roles["standalone"] > 100
    assert all(row["evidence"] and "approved_by" in row for row in table)
    assert all(row["super_app"] == "" for row in table if row["role"] == "standalone")


def test_catalog_errors(tmp_path: Path) -> None:
    head = "sources:\n  - {id: s, title: A source, publisher: Someone, year: 2023, says: what it says here}\n"
    app = "{id: x, name: X, concepts: [staff], site: %s, sources: [s], building_blocks: [identity], datasets: [%s]}"
    dataset = "{id: d, title: Data, owner: BKN, concepts: [staff]}"
    bad = tmp_path / "catalog.yaml"
    bad.write_text(head + "superapps:\n  - " + app % ("jakarta", dataset) + "\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"catalog\.yaml:4: superapps\[0\]\.site: super app x on unknown site 'jakarta'"
    ):
        load_catalog(bad, load_sites())
    bad.write_text(head + "superapps:\n  - {id: x, name: X, concepts: [], site: ikn}\n", encoding="utf-8")
    with pytest.raises(InputError, match="invalid"):
        load_catalog(bad, load_sites())


def rows(path: Path) -> list[dict[str, str]]:
    return read_csv(path, "the pipeline")


def index(path: Path) -> dict[str, dict[str, str]]:
    return {row["app_id"]: row for row in rows(path)}
