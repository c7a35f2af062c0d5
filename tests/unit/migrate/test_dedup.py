"""dedup: glossary normalisation, typo repair, learned acronyms, quality on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pdn.migrate import dedup, inventory
from pdn.migrate.glossary import edit_distance, load_glossary
from pdn.migrate.metrics import pairwise
from pdn.migrate.schema import App
from pdn.migrate.workspace import read_csv


def keys(*apps: App) -> list[str]:
    return [a.key for a in dedup.assign(list(apps), load_glossary())]


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app


def test_same_function_whatever_the_spelling(app: Any) -> None:
    found = keys(
        app("1", "SIMPEG Kab. Bogor"),
        app("2", "Sistem Informasi Manajemen Kepegawaian", "Pemerintah Kota Depok"),
        app("3", "Staff Management Information System v2", "Kementerian Sosial"),
        app("4", "SIMPEG 2019 - BKD Kab Garut", "Pemerintah Kabupaten Garut"),
        app("5", "Kepegawain Online"),  # typo
        app("6", "simpeg2"),
    )
    assert len(set(found)) == 1, found


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("SIMDA BMD", "SIMDA Keuangan"),
        ("Sistem Pemantauan Banjir", "Sistem Pemantauan Kualitas Udara"),
        ("Flood Monitoring System", "Air Quality Monitoring"),
        ("e-Kinerja", "SIMPEG"),
        ("Absensi Pegawai", "SIMPEG"),
        ("Sistem Informasi Perizinan", "Sistem Informasi Manajemen Bangunan Gedung"),
    ],
)
def test_different_functions_stay_apart(left: str, right: str, app: Any) -> None:
    first, second = keys(app("1", left), app("2", right))
    assert first != second


def test_synonyms_meet(app: Any) -> None:
    found = keys(app("1", "Pemantauan Banjir"), app("2", "Pengawasan Banjir"), app("3", "Flood Monitoring"))
    assert len(set(found)) == 1


def test_agency_place_words_are_not_function_words(app: Any) -> None:
    # "Tanah Laut" is a regency; "tanah" alone would mean land
    found = keys(app("1", "SIMPEG Tanah Laut", "Pemerintah Kabupaten Tanah Laut"), app("2", "SIMPEG"))
    assert found[0] == found[1] == "fn-staff"


def test_acronym_learned_from_spelled_out_names(app: Any) -> None:
    apps = [
        app("1", "SIMPONI (Sistem Informasi Perizinan)"),
        app("2", "SIMPONI (Perizinan Online)"),
        app("3", "SIMPONI Kab. Bogor"),
        app("4", "e-Perizinan"),
    ]
    assigned = dedup.assign(apps, load_glossary())
    assert len({a.key for a in assigned}) == 1
    assert assigned[2].method == "learned-acronym"


def test_empty_or_generic_description_never_merges_unrelated_apps(app: Any) -> None:
    found = keys(
        app("1", "Festival Budaya", description="aplikasi internal"),
        app("2", "Sensus Ternak Sapi", description="aplikasi internal"),
        app("3", "XYZ", description=""),
    )
    assert len(set(found)) == 3


def test_description_used_when_the_name_says_nothing(app: Any) -> None:
    found = keys(app("1", "SIJAGO", description="Pengelolaan data pegawai ASN"), app("2", "SIMPEG"))
    assert found[0] == found[1]


def test_user_glossary_extends_shipped_one(tmp_path: Path, app: Any) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("acronyms:\n  sijago: [staff]\n", encoding="utf-8")
    glossary = load_glossary(extra)
    assert dedup.assign([app("1", "SIJAGO")], glossary)[0].key == "fn-staff"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just a list\n", encoding="utf-8")
    from pdn.errors import InputError

    with pytest.raises(InputError):
        load_glossary(bad)


def test_a_real_word_is_no_typo_of_an_agency_marker() -> None:
    # "badak" (rhino) is one edit from the marker "badan": read as the owner, it would cut the name
    analysis = load_glossary().analyse("Perlindungan Badak", real_words=frozenset({"badak"}))
    assert analysis.unknown == ("perlindungan", "badak")


def test_edit_distance() -> None:
    assert edit_distance("slims", "silms") == 1
    assert edit_distance("kepegawaian", "kepegawain") == 1
    assert edit_distance("simrs", "silms") == 2


def test_clusters_file_and_idempotence(small_inventory: Path, tmp_path: Path) -> None:
    loaded = inventory.load(small_inventory)
    dedup.run(loaded.apps, tmp_path)
    first = (tmp_path / "clusters.csv").read_bytes()
    dedup.run(loaded.apps, tmp_path)
    assert (tmp_path / "clusters.csv").read_bytes() == first
    table = rows(tmp_path / "clusters.csv")
    assert {"app_id", "cluster_id", "confidence", "evidence"} <= set(table[0])
    assert len(table) == 1500


def test_quality_on_labelled_inventory(small_inventory: Path) -> None:
    """Pairwise F1 >= 0.95 on a labelled synthetic inventory (seed 7, 1,500 apps)."""
    loaded = inventory.load(small_inventory)
    predicted = dedup.cluster_ids(dedup.assign(loaded.apps, load_glossary()))
    truth = {row["app_id"]: row["function"] for row in rows(small_inventory / "labels.csv")}
    scores = pairwise(predicted, truth)
    assert scores.precision >= 0.97
    assert scores.f1 >= 0.95, scores


def test_pairwise_metric_by_hand() -> None:
    scores = pairwise({"a": "1", "b": "1", "c": "2", "d": "2"}, {"a": "x", "b": "x", "c": "x", "d": "y"})
    # predicted pairs ab, cd; true pairs ab, ac, bc -> TP = 1 (ab)
    assert (scores.precision, round(scores.recall, 4)) == (0.5, 0.3333)


def rows(path: Path) -> list[dict[str, str]]:
    return read_csv(path, "the pipeline")


def index(path: Path) -> dict[str, dict[str, str]]:
    return {row["app_id"]: row for row in rows(path)}


def test_a_qualifier_alone_binds_no_function_word(app: Any) -> None:
    """ "Penyuluhan Desa" (village counselling) is not the village information system, however
    often "penyuluhan" comes with "desa"; the head function's own phrasings still key as village."""
    village = [
        app(str(i), name)
        for i, name in enumerate(
            ["Sistem Informasi Desa", "SIDesa", "Aplikasi Profil Desa", "Village Information System"]
        )
    ]
    counselling = [
        app(f"c{i}", name) for i, name in enumerate(["Penyuluhan Desa", "SI Penyuluhan Desa", "Penyuluhan Desa"])
    ]
    assigned = {a.app_id: a.key for a in dedup.assign(village + counselling, load_glossary())}
    assert len({assigned[a.app_id] for a in village}) == 1
    assert len({assigned[a.app_id] for a in counselling}) == 1
    assert assigned["c0"] != assigned["0"]
