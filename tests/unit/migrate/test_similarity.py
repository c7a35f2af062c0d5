"""The similarity path of dedup: morphology, translations, rare-word weights, blocking, linkage, evidence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pdn.migrate import dedup, similar
from pdn.migrate.glossary import load_glossary
from pdn.migrate.lexicon import InventoryLexicon, load_lexicon


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app


def background(app: Any) -> list[Any]:
    """An inventory around the apps under test: inverse document frequency needs one (a word in
    every name weighs nothing), and action words are used with more than one object."""
    filler = [app(f"B{i}", name) for i, name in enumerate(["SIMPEG", "e-Kinerja", "SIPKD", "LPSE", "e-Lapor"] * 6)]
    objects = ("Kambing", "Perahu", "Tenda")
    actions = ("Pencacahan", "Pemilihan", "Peminjaman", "Pemeriksaan")
    filler += [app(f"C{i}", f"{a} {t}") for i, (a, t) in enumerate((a, t) for a in actions for t in objects)]
    return filler


def assign(app: Any, *apps: Any) -> list[Any]:
    return dedup.assign([*apps, *background(app)], load_glossary())[: len(apps)]


def keys(app: Any, *apps: Any) -> list[str]:
    return [a.key for a in assign(app, *apps)]


def test_lexicon_roots_and_translations() -> None:
    lexicon = load_lexicon()
    assert lexicon.root("pendaftaran") == ("daftar", "id")
    assert lexicon.root("mencatat") == ("catat", "id")
    assert lexicon.root("pemetaan")[0] == "peta"  # the nasal read as a lost p, as the dictionary knows "peta"
    assert lexicon.root("registrations") == ("registration", "en")
    assert "w:kendara" in lexicon.features("vehicle") or "w:vehicle" in lexicon.features("kendaraan")
    assert lexicon.features("census") & lexicon.features("sensus")
    assert lexicon.root("cinema") == ("cinema", "en")  # not Sastrawi's ci-nema -> "cema"


def test_dictionary_phrases_numbered_senses_and_first_senses_back() -> None:
    lexicon = load_lexicon()
    assert {"w:bandar", "w:udara"} <= lexicon.features("airport")  # a one-word headword, "bandar udara"
    assert "w:temu" in lexicon.features("meeting")  # a later numbered sense ("1. rapat", "2. temu", gloss)
    assert "w:simpan" in lexicon.features("keep")  # every sense from English ...
    assert "w:keep" not in lexicon.features("bayar")  # ... first senses only back: "keep" is third "membayar"


def test_a_thesaurus_synonym_translating_the_other_word_bridges_them() -> None:
    features = {"w:a": frozenset({"w:a", "u:minta"}), "w:b": frozenset({"w:b", "w:minta"})}
    assert similar.term_similarity("w:a", "w:b", features.__getitem__) == similar.BRIDGED
    assert similar.reason("w:a", "w:b", features.__getitem__, similar.BRIDGED) == "a synonym's translation"


def test_conflicting_words_cost_more_than_an_extra_word() -> None:
    scorer = similar.Scorer(lambda term: frozenset({term}))
    base = similar.Node(("w:peta", "w:badak"), (1.0, 1.0), 1)
    extra = similar.Node(("w:peta", "w:badak", "w:cepat"), (1.0, 1.0, 1.0), 1)
    other = similar.Node(("w:sensus", "w:badak"), (1.0, 1.0), 1)
    assert scorer.name(base, extra) == pytest.approx(5 / 6)  # all of "base" is matched: no conflict
    assert scorer.name(base, other) == pytest.approx(0.5 - similar.CONFLICT * 0.5)  # each keeps a word of its own
    space = similar.TermSpace([base, extra, other], scorer)
    weights = space.weights([base, extra, other])
    vectorised = similar.name_similarities(weights, similar.reach(weights, space), np.array([0, 0]), np.array([1, 2]))
    assert vectorised.tolist() == pytest.approx([scorer.name(base, extra), scorer.name(base, other)])


def test_two_letter_words_are_words(app: Any) -> None:
    found = keys(app, app("1", "Pemeliharaan WC"), app("2", "Pemeliharaan WC"), app("3", "Pemeliharaan Dermaga"))
    assert found[0] == found[1] != found[2]


def test_thesaurus_synonyms_of_indonesian_words() -> None:
    lexicon = load_lexicon()
    assert "reparasi" in lexicon.synonyms("perbaikan")  # LibreOffice's Indonesian thesaurus (mythes-id)
    assert "registrasi" in lexicon.synonyms("pencatatan")
    words = {"w:catat": "pencatatan", "w:registrasi": "registrasi", "w:tulis": "tulis", "w:bayar": "bayar"}

    def features(term: str) -> frozenset[str]:
        return lexicon.features(words[term])

    assert similar.term_similarity("w:catat", "w:registrasi", features) == similar.SYNONYM
    assert similar.reason("w:catat", "w:registrasi", features, similar.SYNONYM) == "synonym (thesaurus)"
    assert similar.term_similarity("w:catat", "w:bayar", features) == 0.0


def test_inventory_reads_nasal_affixes_as_its_other_words_do() -> None:
    base = load_lexicon()
    assert base.root("memetakan")[0] == "petak"  # Sastrawi: me-petak-an (a plot)
    inventory = InventoryLexicon(base, ["pemetaan", "peta", "peta", "memetakan"])
    assert inventory.root("memetakan") == ("peta", "id")  # the inventory says me-peta-kan (a map)
    assert "w:map" in inventory.features("memetakan")
    alone = InventoryLexicon(base, ["memetakan", "petak"])
    assert alone.root("memetakan")[0] == "petak"  # nothing says otherwise: the stemmer's reading


def test_substitutes_are_learned_across_languages_on_translated_contexts() -> None:
    translations = {"w:kendaraan": "w:vehicle", "w:perahu": "w:boat", "w:makam": "w:cemetery"}
    translations |= {v: k for k, v in translations.items()}
    language = {"w:pinjam": "id", "w:loan": "en", "w:sewa": "id", "w:hire": "en"}
    language |= {t: ("id" if t in ("w:kendaraan", "w:perahu", "w:makam") else "en") for t in translations}

    def features(term: str) -> frozenset[str]:
        return frozenset({term, translations[term]}) if term in translations else frozenset({term})

    names = [
        ("w:pinjam", "w:kendaraan"),
        ("w:loan", "w:vehicle"),
        ("w:pinjam", "w:perahu"),
        ("w:loan", "w:boat"),
        ("w:sewa", "w:makam"),
        ("w:hire", "w:makam"),  # an identical context: may be two functions of one object
        ("w:sewa", "w:kendaraan"),
    ]
    nodes = [similar.Node(terms, (1.0, 1.0), 1) for terms in names]
    pairs = [(i, j) for i in range(len(nodes)) for j in range(i + 1, len(nodes))]
    learned = similar.learn_substitutes(nodes, pairs, similar.Scorer(features), lambda t: language.get(t, "?"))
    assert learned == {("w:loan", "w:pinjam"): 2}  # not pinjam~sewa (one language), not hire~sewa (one context)


def test_profiles_merge_two_spelling_families_of_one_function_only() -> None:
    # nodes 0-1: "pesan seberang" spellings; 2-3: "reservation seberang"; 4: "antre seberang"
    nodes = [
        similar.Node(("w:pesan", "w:seberang"), (1.0, 1.0), 5),
        similar.Node(("w:pesan", "w:seberang", "w:warga"), (1.0, 1.0, 0.2), 2),
        similar.Node(("w:reservation", "w:seberang"), (1.0, 1.0), 3),
        similar.Node(("w:reservation", "w:seberang", "w:pesan"), (1.0, 1.0, 0.5), 1),
        similar.Node(("w:antre", "w:seberang"), (1.0, 1.0), 4),
    ]
    scorer = similar.Scorer(lambda t: frozenset({t}), links={("w:pesan", "w:reservation"): 3.0})
    space = similar.TermSpace(nodes, scorer)
    merged = similar.merge_profiles([0, 0, 2, 2, 4], nodes, space.weights(nodes), space, cut=0.85)
    assert merged[0] == merged[2] != merged[4]


def test_one_long_tail_function_in_two_languages_affixes_and_word_order(app: Any) -> None:
    found = keys(
        app,
        app("1", "Peminjaman Kendaraan", "Pemerintah Kabupaten Garut"),
        app("2", "Sistem Informasi Pinjam Kendaraan", "Pemerintah Kota Depok"),
        app("3", "Kendaraan - Peminjaman", "Pemerintah Kabupaten Sleman"),
        app("4", "Vehicle Loan", "Pemerintah Kota Medan", description="Aplikasi untuk peminjaman kendaraan"),
        app("5", "e-Meminjam Kendaraan", "Pemerintah Kabupaten Sigi"),
        app("6", "Peminjamann Kendaraan", "Pemerintah Kota Palu"),  # typo
        app("7", "Peminjaman Kendaraan Dinas", "Pemerintah Kota Bogor"),
    )
    assert len(set(found)) == 1, found


def test_a_word_other_names_write_as_two_is_those_two(app: Any) -> None:
    found = assign(
        app,
        app("1", "Sterilisasi Batubara", "Pemerintah Kabupaten Garut"),
        app("2", "Sterilisasi Batu Bara", "Pemerintah Kota Depok"),
        app("3", "Layanan Sterilisasi Batu Bara", "Pemerintah Kabupaten Sleman"),
    )
    assert len({a.key for a in found}) == 1, found
    assert "compound batubara->batu bara (inventory)" in found[0].evidence


def test_same_object_different_action_and_shared_generic_word_stay_apart(app: Any) -> None:
    found = keys(
        app,
        app("1", "Peminjaman Kendaraan"),
        app("2", "Pinjam Kendaraan"),
        app("3", "Pemeriksaan Kendaraan"),
        app("4", "Periksa Kendaraan"),
        app("5", "Pencacahan Desa"),
        app("6", "Cacah Desa"),
        app("7", "Pemilihan Desa"),
        app("8", "Pilih Desa"),
        app("9", "Sistem Informasi Desa"),
        app("10", "Aplikasi Profil Desa"),
    )
    assert found[0] == found[1] and found[2] == found[3] and found[4] == found[5] and found[6] == found[7]
    assert found[8] == found[9] == "fn-village"
    assert len({found[0], found[2], found[4], found[6], found[8]}) == 5, found


def test_glossary_does_not_repair_real_words_into_its_own(app: Any) -> None:
    # "pantai" (beach) is one edit from the glossary's "pantau" (monitor)
    assigned = assign(app, app("1", "Sewa Pantai"), app("2", "Penyewaan Pantai"), app("3", "SIPANTAU Banjir"))
    assert assigned[0].key == assigned[1].key != assigned[2].key
    assert "monitor" not in assigned[0].evidence


def test_evidence_says_what_joined_each_app(app: Any) -> None:
    assigned = assign(
        app,
        app("1", "Peminjaman Kendaraan"),
        app("2", "Pinjam Kendaraan"),
        app("3", "Vehicle Loan", description="Aplikasi untuk peminjaman kendaraan"),
    )
    assert {a.method for a in assigned} == {"similarity"}
    assert len({a.key for a in assigned}) == 1
    joined = next(a for a in assigned if a.app_id == "3")
    assert "like" in joined.evidence and "kendara" in joined.evidence


def test_inventory_typo_repair_and_learned_links() -> None:
    assert dedup.repair_typos(__import__("collections").Counter({"ternak": 7, "ternka": 1, "telur": 1})) == {
        "ternka": "ternak"
    }
    pairs = [(["w:canteen", "w:storage"], ["w:simpan", "w:kantin"])] * 2
    links = similar.learn_links(pairs, lambda t: frozenset({"w:kantin"}) if t == "w:canteen" else frozenset())
    assert ("w:simpan", "w:storage") in links and ("w:canteen", "w:kantin") not in links


def test_two_words_left_on_each_side_pair_action_with_action() -> None:
    pairs = [(["w:padlock", "w:footwear"], ["w:segel", "w:sepatu"])] * 2
    tied = similar.learn_links(pairs, lambda t: frozenset(), minimum=0.5)
    assert len(tied) == 4  # nothing tells which word is which: all four pairs tie
    actions = {"w:padlock", "w:segel"}
    links = similar.learn_links(pairs, lambda t: frozenset(), minimum=0.5, action=actions.__contains__)
    assert set(links) == {("w:padlock", "w:segel"), ("w:footwear", "w:sepatu")}


def test_action_terms_come_from_verbal_affixes_and_gerunds() -> None:
    lexicon = load_lexicon()
    found = dedup._action_terms(["penyegelan", "sepatu", "padlocking", "footwear", "sealing", "string"], lexicon)
    assert {"w:segel", "w:padlock", "w:sealing"} <= found
    assert not {"w:sepatu", "w:footwear", "w:string"} & found
    assert "w:stockpile" in lexicon.features("stockpiling")  # a gerund WordNet keeps as a noun is its verb too


def test_two_equivalents_of_one_word_are_equivalent_unless_it_has_more() -> None:
    links = {("w:gilding", "w:plating"): 1.0, ("w:plating", "w:sepuh"): 1.0}
    scorer = similar.Scorer(lambda t: frozenset({t}), links)
    assert scorer.term("w:gilding", "w:sepuh") == similar.TWO_HOP
    assert "one word" in similar.reason("w:gilding", "w:sepuh", scorer.features, similar.TWO_HOP, scorer.hops)
    translated = {"w:plating": {"w:lapis"}}  # a third equivalent: "plating" may have two senses
    crowded = similar.Scorer(lambda t: frozenset({t}), links, translated=translated)
    assert crowded.term("w:gilding", "w:sepuh") == 0.0
    through = similar.Scorer(lambda t: frozenset({t}), {("w:jerigen", "w:jeriken"): 1.0},
                             translated={"w:jeriken": {"w:jerrycan"}})  # fmt: skip
    assert through.term("w:jerigen", "w:jerrycan") == similar.TWO_HOP  # a learned link and a translation
    assert similar.Scorer(lambda t: frozenset({t}), {}, translated={"w:a": {"w:b", "w:c"}}).hops == frozenset()


def test_average_linkage_splits_a_chain() -> None:
    # a~b and b~c are close, a and c are not: single linkage would chain them, average linkage does not
    edges = {(0, 1): 0.9, (1, 2): 0.9, (2, 3): 0.95}
    labels = similar.average_linkage(4, [1.0, 1.0, 1.0, 1.0], edges, cut=0.6)
    assert labels[2] == labels[3] and labels[0] == labels[1] and labels[0] != labels[2]


def test_blocking_ignores_generic_words() -> None:
    nodes = [similar.Node((f"w:x{i}", "w:desa"), (5.0, 0.5), 1) for i in range(6)]
    pairs = similar.candidate_pairs(nodes, lambda t: frozenset({t}), block_limit=3)
    assert pairs == []  # "desa" is in 6 names > 3: never a block


def test_a_small_inventory_repairs_unreadable_words_to_readable_ones() -> None:
    counts = __import__("collections").Counter({"pengiriman": 2, "pngiriman": 1, "hostel": 1, "hotel": 2})
    readable = {"pengiriman", "hostel", "hotel"}.__contains__
    assert dedup.repair_typos(counts, readable) == {"pngiriman": "pengiriman"}
    assert dedup.repair_typos(counts) == {}  # without morphology: too rare to be sure


def test_spelling_variants_meet_unless_both_are_words() -> None:
    none: dict[str, frozenset[str]] = {}
    features = lambda t: none.get(t, frozenset())  # noqa: E731
    assert similar.term_similarity("w:ketinting", "w:katinting", features, lambda t: False) == similar.SPELLING
    assert similar.term_similarity("w:hostel", "w:hotel", features, lambda t: True) == 0.0
    assert similar.term_similarity("w:ketinting", "w:katinting", features) == 0.0  # no dictionary, no guess
    scorer = similar.Scorer(features, word=lambda t: False)
    nodes = [
        similar.Node(("w:anyam", "w:ketinting"), (1.0, 1.0), 1),
        similar.Node(("w:anyam", "w:katinting"), (1.0, 1.0), 1),
    ]
    space = similar.TermSpace(nodes, scorer)
    assert space.matrix[space.index["w:ketinting"], space.index["w:katinting"]] == similar.SPELLING


def test_an_object_named_with_one_action_is_no_phrase() -> None:
    names = (
        [["w:peta", "w:guru"]] * 3
        + [["w:peta", "w:hotel"]] * 4
        + [["w:panti", "w:asuh", "w:bayar"]] * 3
        + [["w:bayar", "w:hotel"]] * 3
    )
    factor = dedup._collocations(names)
    assert "w:peta" not in factor and "w:guru" not in factor
    assert factor["w:panti"] == factor["w:asuh"] == 0.5
