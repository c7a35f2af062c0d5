"""Word knowledge the dedup uses beyond the glossary, read from maintained packages at run time.

* Indonesian morphology: the Sastrawi stemmer (PyPI ``pysastrawi``) strips prefixes, suffixes
  and confixes ("pendaftaran", "mendaftar" -> "daftar"), checked against its root dictionary.
* English morphology and synonyms: Princeton WordNet 3.0 (Debian ``wordnet-base``): base forms
  by WordNet's own morphy rules (exception lists, then suffix rules), synonyms as the synset of
  a word's most frequent sense, derivations ("registration" ~ "register") by its ``+`` pointers.
* Indonesian-English equivalents: the FreeDict/WikDict English-Indonesian dictionary (Debian
  ``dict-freedict-eng-ind``, built from Wiktionary): "vehicle" -> "kendaraan".
* Indonesian synonyms: the LibreOffice Indonesian thesaurus (Debian ``mythes-id``, MyThes
  format, LGPL-2.1): "perbaikan" -> "reparasi", "pencatatan" -> "registrasi" (first sense only).

No multilingual wordnet with Indonesian ships inside a PyPI package (the ``wn`` package and
its kin download their data at run time), hence the Debian packages, installed by the
bootstrap from ``scripts/apt-packages.txt``. Nothing here touches the network.

A word becomes a set of *features*: ``w:<root>`` for the word itself and ``s:<synset>`` for
every sense it may share with a synonym or a translation. Two words are equivalent to the
degree their features overlap; the dedup weighs each feature by how rare it is.
"""

from __future__ import annotations

import gzip
import os
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from pdn.errors import InputError

WORDNET_DIR = Path(os.environ.get("PDN_WORDNET_DIR", "/usr/share/wordnet"))
FREEDICT_DIR = Path(os.environ.get("PDN_FREEDICT_DIR", "/usr/share/dictd"))
FREEDICT_NAME = "freedict-eng-ind"
THESAURUS = Path(os.environ.get("PDN_MYTHES_FILE", "/usr/share/mythes/th_id_ID_v2.dat"))
PHRASE_WORDS = 3  # longest dictionary phrase (either side) whose words are read as translations
OTHER_SENSES = 3  # WordNet senses after the most frequent one that a word may share (weakly)
HINT = (
    "install the Debian packages in scripts/apt-packages.txt (scripts/run does it): wordnet-base,"
    " dict-freedict-eng-ind, mythes-id"
)

# WordNet's morphy detachment rules (suffix, replacement) per part of speech, as its manual gives them.
_DETACH = {
    "n": (
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
        ("s", ""),
    ),
    "v": (("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""), ("s", "")),
}
_WORD = re.compile(r"^[a-z][a-z-]*$")
_NUMBERED = re.compile(r"^\d+\.\s")
_SENSE_NUMBER = re.compile(r"^\s*\d+\.\s*|\s+\d+\.\s*$")


class _WordNet:
    """Lookups in the WordNet database files: index lines by lemma, synsets by byte offset."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: dict[str, dict[str, list[str]]] = {}
        self.exceptions: dict[str, dict[str, str]] = {}
        for pos, name in (("n", "noun"), ("v", "verb")):
            table: dict[str, list[str]] = {}
            for line in _read_lines(folder / f"index.{name}"):
                if line.startswith(" "):
                    continue  # licence header
                fields = line.split()
                pointer_count = int(fields[3])
                offsets = fields[6 + pointer_count :]
                table[fields[0]] = offsets
            self.index[pos] = table
            self.exceptions[pos] = {
                fields[0]: fields[1]
                for fields in (line.split() for line in _read_lines(folder / f"{name}.exc"))
                if len(fields) >= 2
            }
        self._data = {pos: (folder / f"data.{name}").open("rb") for pos, name in (("n", "noun"), ("v", "verb"))}

    def base_forms(self, word: str) -> list[tuple[str, str]]:
        """(lemma, pos) pairs WordNet knows for ``word``: the word itself, exceptions, then suffix rules."""
        found: list[tuple[str, str]] = []
        for pos in ("n", "v"):
            table = self.index[pos]
            candidates = [word, self.exceptions[pos].get(word, "")]
            candidates += [word[: -len(suffix)] + repl for suffix, repl in _DETACH[pos] if word.endswith(suffix)]
            for candidate in candidates:
                if candidate and candidate in table:
                    found.append((candidate, pos))
                    break
        return found

    def synset(self, pos: str, offset: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """Words of a synset and its derivation pointers (pos, offset)."""
        handle = self._data[pos]
        handle.seek(int(offset))
        fields = handle.readline().decode("utf-8", "replace").split(" | ")[0].split()
        count = int(fields[3], 16)
        words = tuple(fields[4 + 2 * i].lower() for i in range(count))
        at = 4 + 2 * count
        pointers = int(fields[at])
        derived = []
        for i in range(pointers):
            symbol, target, target_pos = fields[at + 1 + 4 * i : at + 4 + 4 * i]
            if symbol == "+" and target_pos in ("n", "v"):
                derived.append((target_pos, target))
        return words, tuple(derived)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise InputError(f"lexical resource {path} is missing: {error.strerror}", hint=HINT) from None


class _Dictionary(NamedTuple):
    """The English-Indonesian dictionary as the lexicon reads it."""

    words: dict[str, set[str]]  # English headword -> one-word translations, every sense
    first: dict[str, set[str]]  # ... of the first sense of each entry only
    phrases: dict[str, set[tuple[str, ...]]]  # headword -> translations of two or three words


def _freedict(folder: Path) -> _Dictionary:
    """The FreeDict dictionary from its dictd files: "orphanage" -> "panti asuhan", "keep" ->
    "jaga" (first sense), "simpan", "membayar"."""
    index = _read_lines(folder / f"{FREEDICT_NAME}.index")
    try:
        with gzip.open(folder / f"{FREEDICT_NAME}.dict.dz", "rb") as handle:  # dictzip is gzip
            text = handle.read()
    except OSError as error:
        raise InputError(f"lexical resource {folder / FREEDICT_NAME}.dict.dz: {error}", hint=HINT) from None
    found = _Dictionary({}, {}, {})
    for line in index:
        fields = line.split("\t")
        if len(fields) != 3 or fields[0].startswith("00database"):
            continue
        head = fields[0].lower()
        start, length = _b64(fields[1]), _b64(fields[2])
        lines = text[start : start + length].decode("utf-8", "replace").splitlines()
        for sense, translation in enumerate(_translation_lines(lines)):
            for item in _SENSE_NUMBER.sub("", translation).split(","):
                word = item.strip().lower()
                parts = tuple(word.split())
                if _WORD.match(word):
                    found.words.setdefault(head, set()).add(word)
                    if sense == 0:
                        found.first.setdefault(head, set()).add(word)
                elif 2 <= len(parts) <= PHRASE_WORDS and all(_WORD.match(part) for part in parts):
                    found.phrases.setdefault(head, set()).add(parts)
    return found


def _translation_lines(lines: list[str]) -> list[str]:
    """The translation lines of one dictd entry: a header line, then translation and gloss
    lines alternating, except that numbered senses may come without a gloss ("1. rapat",
    "2. temu", "encounter between people"): there the numbered lines are the translations."""
    body = lines[1:]
    numbered = [line for line in body if _NUMBERED.match(line)]
    return numbered if numbered else body[0::2]


def _thesaurus(path: Path) -> dict[str, list[str]]:
    """Indonesian headword -> the single words of its first sense, from the LibreOffice
    (MyThes) thesaurus: "perbaikan" -> koreksi, reparasi, renovasi, ... The first sense only,
    as with WordNet: no chains through rare senses."""
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as error:
        raise InputError(f"lexical resource {path} is missing: {error.strerror}", hint=HINT) from None
    table: dict[str, list[str]] = {}
    at = 1  # line 0 names the encoding
    while at < len(lines):
        head, _, count = lines[at].partition("|")
        senses = int(count) if count.isdigit() else 0
        if senses and _WORD.match(head):
            words = lines[at + 1].split("|")[1:]
            table[head] = [word for word in words if _WORD.match(word) and "-" not in word]
        at += 1 + senses
    return table


def _b64(text: str) -> int:
    """dictd's base-64 numbers (A-Z a-z 0-9 + /, most significant digit first)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = 0
    for char in text:
        value = value * 64 + alphabet.index(char)
    return value


_NASAL = (
    ("peny", "s"),
    ("meny", "s"),
    ("peng", "k"),
    ("meng", "k"),
    ("pem", "p"),
    ("mem", "p"),
    ("pen", "t"),
    ("men", "t"),
)


def _nasal_alternatives(word: str) -> list[str]:
    """Roots a peN-/meN- word may have when its nasal replaced the root's first letter."""
    found = []
    for prefix, letter in _NASAL:
        if word.startswith(prefix) and len(word) > len(prefix) + 2 and word[len(prefix)] in "aeiou":
            rest = letter + word[len(prefix) :]
            for suffix in ("an", "kan", "i", ""):
                if suffix and rest.endswith(suffix) and len(rest) - len(suffix) >= 3:
                    found.append(rest[: -len(suffix)])
                elif not suffix:
                    found.append(rest)
    return found


class Lexicon:
    """Roots and sense features of words, Indonesian or English."""

    def __init__(
        self, wordnet_dir: Path = WORDNET_DIR, freedict_dir: Path = FREEDICT_DIR, thesaurus: Path = THESAURUS
    ) -> None:
        from Sastrawi.Stemmer.StemmerFactory import StemmerFactory  # type: ignore[import-untyped]

        self._stemmer = StemmerFactory().create_stemmer()
        roots = resources.files("Sastrawi").joinpath("Stemmer/data/kata-dasar.txt").read_text(encoding="utf-8")
        self.indonesian_roots = frozenset(word.strip() for word in roots.split() if word.strip())
        self._wordnet = _WordNet(wordnet_dir)
        dictionary = _freedict(freedict_dir)
        self._to_indonesian = dictionary.words
        self._to_english_raw = {word for words in self._to_indonesian.values() for word in words}
        roots_of = self._translation_roots(freedict_dir)
        self._phrase_parts = self._align_phrases(dictionary.phrases, roots_of)
        self._synonyms_raw = _thesaurus(thesaurus)
        # Back to English through first senses only: "bayar" is not "keep" (its third sense).
        self._to_english: dict[str, set[str]] = {}
        for english, words in dictionary.first.items():
            for word in words:
                self._to_english.setdefault(roots_of.get(word) or word, set()).add(english)

    def _align_phrases(self, phrases: dict[str, set[tuple[str, ...]]], roots_of: dict[str, str]) -> dict[str, set[str]]:
        """English word -> Indonesian words it stands for inside a dictionary phrase.

        A one-word headword stands for every word of its phrase ("orphanage" -> "panti",
        "asuhan"). A phrase headword first pairs its words through the one-word entries
        ("cooking oil" -> "minyak goreng": "oil" -> "minyak"); when one English word is left,
        it stands for the one or two Indonesian words left ("cooking" -> "goreng"). English
        words that are no WordNet noun or verb ("of", "for") never stand for anything.
        """

        def root(word: str) -> str:
            return roots_of.get(word, word)

        parts: dict[str, set[str]] = {}
        for head, translations in phrases.items():
            english = head.split()
            if len(english) == 1:
                known = {root(t) for t in self._to_indonesian.get(head, ())}
                for words in translations:
                    if not known & {root(t) for t in words}:  # "oil": "minyak", not "minyak bumi"
                        parts.setdefault(head, set()).update(words)
                continue
            if len(english) > PHRASE_WORDS or not all(_WORD.match(w) for w in english):
                continue
            for words in translations | {(w,) for w in self._to_indonesian.get(head, ())}:
                if len(words) not in (1, len(english)) or (len(english) > 2 and len(words) > 1):
                    continue  # word order differs: "emergency room" / "unit gawat darurat"
                left = [w for w in english if self._wordnet.base_forms(w)]
                right = list(words)
                for word in list(left):
                    known = {root(t) for t in self._to_indonesian.get(word, ())}
                    match = next((t for t in right if root(t) in known), None)
                    if match is not None:
                        left.remove(word)
                        right.remove(match)
                if len(left) == 1 and len(right) == 1:
                    parts.setdefault(left[0], set()).update(right)
                elif len(left) == len(right) == len(english):  # nothing paired ("swimming pool"):
                    for word in left:  # a word no entry of its own translates stands for the phrase
                        if not self._to_indonesian.get(word):
                            parts.setdefault(word, set()).update(right)
        return parts

    def _translation_roots(self, freedict_dir: Path) -> dict[str, str]:
        """Root of every affixed Indonesian word in the dictionary ("menyimpan" -> "simpan").

        Stemming the few thousand of them takes seconds, so the result is kept in the user's
        cache, keyed by the dictionary file and the stemmer's version (a derived table; the
        sources stay the installed packages).
        """
        import hashlib
        import importlib.metadata
        import json

        from pdn.paths import cache_dir

        index = freedict_dir / f"{FREEDICT_NAME}.index"
        stat = index.stat()
        version = importlib.metadata.version("pysastrawi")
        tag = f"{stat.st_size}:{int(stat.st_mtime)}:{version}:{len(self.indonesian_roots)}:{len(self._to_english_raw)}"
        path = cache_dir() / "lexicon" / f"freedict-roots-{hashlib.sha256(tag.encode()).hexdigest()[:16]}.json"
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(cached, dict):
                return {str(k): str(v) for k, v in cached.items()}
        except (OSError, ValueError):
            pass
        roots = {
            word: root
            for word in sorted(self._to_english_raw - self.indonesian_roots)
            if (root := self._indonesian_root(word)) is not None
        }
        try:
            from pdn.migrate.workspace import atomic_write

            atomic_write(path, json.dumps(roots, sort_keys=True))
        except OSError:
            pass  # a read-only home: stem again next time
        return roots

    def _indonesian_root(self, word: str) -> str | None:
        if word in self.indonesian_roots:
            return word
        stem = str(self._stemmer.stem(word))
        if stem not in self.indonesian_roots or stem == word:
            return None
        if stem not in self._to_english_raw:
            # Sastrawi reads "pemetaan" as pe-meta-an; the nasal may also stand for a lost
            # p/t/k/s ("peta"). Prefer the reading the dictionary can translate.
            for alternative in _nasal_alternatives(word):
                if alternative in self.indonesian_roots and alternative in self._to_english_raw:
                    return alternative
        return stem

    def is_word(self, word: str) -> bool:
        """A root of either language as it stands (not a typo of one)."""
        return word in self.indonesian_roots or bool(self._wordnet.base_forms(word))

    def reads(self, word: str) -> bool:
        """Either language's morphology reads the word: a root, or a root with affixes."""
        return self.root(word)[1] != "?"

    def is_english(self, word: str) -> bool:
        """A WordNet lemma as it stands (or an inflection of one)."""
        return bool(self._wordnet.base_forms(word))

    def is_gerund(self, word: str) -> bool:
        """An English -ing form of a verb ("padlocking", and "sealing", which is a noun too)."""
        return word.endswith("ing") and any(
            pos == "v" and lemma != word for lemma, pos in self._wordnet.base_forms(word)
        )

    def root(self, word: str) -> tuple[str, str]:
        """(root, language) of a lower-case word: ``id``, ``en`` or ``?`` (unknown, kept as it is)."""
        return self._root(word)

    @lru_cache(maxsize=200_000)  # noqa: B019 - one lexicon per process; words repeat
    def _root(self, word: str) -> tuple[str, str]:
        indonesian = self._indonesian_root(word)
        forms = self._wordnet.base_forms(word)
        if indonesian is not None and (indonesian == word or not any(lemma == word for lemma, _ in forms)):
            return indonesian, "id"
        # An English word as WordNet spells it is not an affixed Indonesian one: Sastrawi
        # reads "cinema" as ci-nema -> "cema" and "bonus" as bon-us.
        if forms:
            return forms[0][0], "en"
        return word, "?"

    def _english_senses(self, lemma: str) -> set[str]:
        senses: set[str] = set()
        for base, pos in self._wordnet.base_forms(lemma):
            offsets = self._wordnet.index[pos][base]
            if not offsets:
                continue
            senses.add(f"s:{pos}{offsets[0]}")  # the most frequent sense only: no chains through rare senses
            _, derived = self._wordnet.synset(pos, offsets[0])
            senses.update(f"s:{p}{o}" for p, o in derived)
        return senses

    def synonyms(self, word: str) -> frozenset[str]:
        """Roots of the thesaurus synonyms of an Indonesian word (looked up as written, then by
        its root): "perbaikan" -> "reparasi", "koreksi", ... (``u:`` features: a word is
        the synonym of another when its root is in the other's list)."""
        root = self.root(word)[0]
        listed = self._synonyms_raw.get(word) or self._synonyms_raw.get(root) or []
        return frozenset(self.root(synonym)[0] for synonym in listed) - {root}

    def _other_senses(self, lemma: str) -> set[str]:
        """``a:`` features: the next ``OTHER_SENSES`` senses of a word ("reservation" is first a
        reserved district, second a booking). They weigh less than the most frequent one."""
        senses: set[str] = set()
        for base, pos in self._wordnet.base_forms(lemma):
            senses.update(f"a:{pos}{offset}" for offset in self._wordnet.index[pos][base][1 : 1 + OTHER_SENSES])
        return senses

    @lru_cache(maxsize=200_000)  # noqa: B019
    def features(self, word: str) -> frozenset[str]:
        """``w:<root>`` plus the senses a synonym or a translation of ``word`` would share."""
        root, language = self.root(word)
        found = {f"w:{root}"}
        if language == "id":
            found |= {f"u:{synonym}" for synonym in self.synonyms(word)}
            for english in sorted(self._to_english.get(root, ())):
                found.add(f"w:{english}")
                found |= self._english_senses(english)
            if any(lemma == word for lemma, _ in self._wordnet.base_forms(word)):
                # Spelled alike in both languages ("map": a folder, and a map): both readings.
                found |= self._english_senses(word) | self._translations(word, word)
        elif language == "en":
            # A gerund WordNet keeps as a noun ("stockpiling", "sealing") is also its verb.
            found |= {f"w:{lemma}" for lemma, pos in self._wordnet.base_forms(word) if pos == "v" and lemma != root}
            found |= self._english_senses(root)
            found |= self._other_senses(root)
            found |= self._translations(word, root)
        return frozenset(found)

    def _translations(self, word: str, lemma: str) -> set[str]:
        """``w:`` features of the Indonesian words the dictionary gives an English word, and of
        the Indonesian phrase words it stands for ("orphanage": "panti", "asuh")."""
        words = self._to_indonesian.get(lemma, set()) | self._phrase_parts.get(word, set())
        words |= self._phrase_parts.get(lemma, set())
        return {f"w:{self._indonesian_root(indonesian) or indonesian}" for indonesian in words}

    def describe(self, feature: str) -> str:
        """A feature as a reviewer reads it: the word, or a sense by its first two words."""
        kind, _, value = feature.partition(":")
        if kind not in ("s", "a"):
            return value
        words, _ = self._wordnet.synset(value[0], value[1:])
        return "sense '" + "/".join(word.replace("_", " ") for word in words[:2]) + "'"


class InventoryLexicon(Lexicon):
    """The lexicon, reading ambiguous Indonesian affixes the way the inventory itself does.

    A meN-/peN- word may hide a lost first letter of its root or not: Sastrawi reads
    "memetakan" as me-petak-an ("petak", a plot) where the inventory's "pemetaan" and "peta"
    say me-peta-kan (a map); "memesan" as me-pes-an where "pemesanan" and "pesan" say pesan.
    Of the readings that are Indonesian roots, the one the inventory's other words have most
    often wins (the stemmer's own reading on a tie).
    """

    def __init__(self, base: Lexicon, words: Iterable[str]) -> None:
        self.__dict__.update(base.__dict__)
        self._base = base
        self._counts: Counter[str] = Counter(base.root(word)[0] for word in words)
        self._read: dict[str, tuple[str, str]] = {}

    def root(self, word: str) -> tuple[str, str]:
        found = self._read.get(word)
        if found is None:
            found = self._base.root(word)
            if found[1] == "id" and found[0] != word:
                readings = [(self._counts[a], a) for a in _nasal_alternatives(word) if a in self.indonesian_roots]
                best = max(readings, default=None)
                if best is not None and best[0] > self._counts[found[0]]:
                    found = (best[1], "id")
            self._read[word] = found
        return found


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The process-wide lexicon (loading WordNet's indexes takes a fraction of a second)."""
    return Lexicon()
