"""The dedup glossary: turns a messy application name into the set of concepts it names.

Shipped as ``pdn/data/migrate/glossary.yaml``; users extend it with their own YAML, merged in.
Typo repair uses a symmetric-deletion index (the SymSpell idea): every vocabulary word is stored
with its one-letter deletions, so a lookup costs a handful of dictionary probes instead of a scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pdn import safeload
from pdn.errors import InputError
from pdn.mappings import deep_merged

TOKEN = re.compile(r"[a-z0-9]+")
VERSION = re.compile(r"^(v?\d+([.]\d+)*|v|rev\d*|(19|20)\d\d)$")


def deletions(word: str) -> set[str]:
    """``word`` with one letter removed, every way (the symmetric-deletion typo index)."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, transpositions."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


@dataclass
class Analysis:
    """What the glossary found in one text."""

    concepts: frozenset[str]
    evidence: list[str] = field(default_factory=list)
    unknown: tuple[str, ...] = ()
    typo_fixed: bool = False
    core: frozenset[str] = frozenset()  # the concepts that are not qualifiers (may be empty)


class Glossary:
    """Compiled glossary: word -> concepts, phrases, typo index."""

    def __init__(self, data: dict[str, Any]) -> None:
        try:
            self.stopwords = {str(w).lower() for w in data.get("stopwords", [])}
            self.markers = {str(w).lower() for w in data.get("agency_markers", [])}
            self.qualifiers = {str(w).lower() for w in data.get("qualifiers", [])}
            self.words: dict[str, frozenset[str]] = {}
            for concept, words in (data.get("concepts") or {}).items():
                for word in words:
                    key = str(word).lower()
                    self.words[key] = self.words.get(key, frozenset()) | {str(concept)}
            for acronym, concepts in (data.get("acronyms") or {}).items():
                self.words[str(acronym).lower()] = frozenset(str(c) for c in concepts)
            self.phrases: list[tuple[tuple[str, ...], frozenset[str]]] = sorted(
                (
                    (tuple(TOKEN.findall(str(phrase).lower())), frozenset(str(c) for c in concepts))
                    for phrase, concepts in (data.get("phrases") or {}).items()
                ),
                key=lambda item: -len(item[0]),
            )
        except (AttributeError, TypeError) as error:
            raise InputError(f"glossary is malformed: {error}", hint="compare with the shipped glossary.yaml") from None
        self.first_words = {phrase[0] for phrase, _ in self.phrases}
        vocabulary = set(self.words) | self.stopwords | self.markers
        vocabulary |= {word for phrase, _ in self.phrases for word in phrase}
        self.vocabulary = vocabulary
        self._deletes: dict[str, set[str]] = {}
        for word in vocabulary:
            if len(word) >= 5:
                for variant in deletions(word) | {word}:
                    self._deletes.setdefault(variant, set()).add(word)

    @lru_cache(maxsize=65536)  # noqa: B019 - one glossary per process, names repeat a lot
    def correct(self, word: str) -> str | None:
        """The vocabulary word ``word`` is a typo of (one edit; two for long words), or None."""
        if word in self.vocabulary or len(word) < 5:
            return word if word in self.vocabulary else None
        candidates: set[str] = set()
        for variant in deletions(word) | {word}:
            candidates |= self._deletes.get(variant, set())
        if not candidates and len(word) >= 8:
            for variant in deletions(word):
                for second in deletions(variant):
                    candidates |= self._deletes.get(second, set())
        limit = 2 if len(word) >= 8 else 1
        scored = [(edit_distance(word, c), c[0] != word[0], c) for c in candidates]
        scored = [item for item in scored if item[0] <= limit]
        if not scored:
            return None
        # Closest first; then the candidate sharing the first letter; ties: alphabetical.
        return min(scored)[2]

    @staticmethod
    def names_agency(words: list[str], agency_words: frozenset[str]) -> bool:
        """True when a name part is (a short form of) the owning agency: "(KemenKeuangan)"."""
        if not words or not agency_words:
            return False
        hits = 0
        for word in words:
            bare = word[5:] if word.startswith("kemen") else word[1:] if word.startswith("b") else word
            hits += word in agency_words or bare in agency_words or any(len(a) > 3 and a in word for a in agency_words)
        return hits * 2 >= len(words)

    def canonical_tokens(
        self,
        text: str,
        owner_words: frozenset[str] = frozenset(),
        agency_words: frozenset[str] = frozenset(),
        real_words: frozenset[str] = frozenset(),
    ) -> list[str]:
        """Lower-case tokens of ``text`` without agency parts, owner names and version suffixes.

        A real word is no typo of an agency marker: "Perbaikan Bidan" (midwife) keeps its
        object, where "bidan" read as "badan" would cut the name there."""
        parts = re.split(r"\s[-–|/]\s|[()\[\],:]", text.lower())
        tokens: list[str] = []
        for number, part in enumerate(parts):
            words = TOKEN.findall(part)
            if number > 0 and self.names_agency(words, agency_words):
                continue
            for index, word in enumerate(words):
                fixed = word if word in real_words else self.correct(word) or word
                if fixed in self.markers:
                    words = words[:index]  # "SIMPEG Kab Bogor": the owner starts at the marker
                    break
            for word in words:
                if VERSION.match(word) or word in owner_words:
                    continue
                base = word.rstrip("0123456789")
                if base != word and base in self.vocabulary:
                    word = base  # "simpeg2" -> "simpeg"
                tokens.append(word)
        return tokens

    def analyse(
        self,
        text: str,
        owner_words: frozenset[str] = frozenset(),
        agency_words: frozenset[str] = frozenset(),
        real_words: frozenset[str] = frozenset(),
    ) -> Analysis:
        """Concepts named in ``text`` with the evidence for each.

        ``real_words`` are never "repaired" into a glossary word: a word of the language that
        merely lies one edit from a glossary word ("pantai" beach, "pantau" monitor).
        """
        tokens = self.canonical_tokens(text, owner_words, agency_words, real_words)
        fixed_tokens: list[str] = []
        typo = False
        evidence: list[str] = []
        for token in tokens:
            if token in real_words and token not in self.vocabulary:
                fixed_tokens.append(token)
                continue
            fixed = self.correct(token)
            if fixed is None and token.startswith("e") and len(token) > 4:
                fixed = self.correct(token[1:])  # "ekinerja" -> "kinerja"
            if fixed is not None and fixed not in (token, token[1:]):
                typo = True
                evidence.append(f"typo {token}->{fixed}")
            fixed_tokens.append(fixed or token)
        concepts: set[str] = set()
        unknown: list[str] = []
        index = 0
        while index < len(fixed_tokens):
            token = fixed_tokens[index]
            matched = False
            if token in self.first_words:
                for phrase, phrase_concepts in self.phrases:
                    if tuple(fixed_tokens[index : index + len(phrase)]) == phrase:
                        concepts |= phrase_concepts
                        evidence.append(f"phrase '{' '.join(phrase)}'->{'+'.join(sorted(phrase_concepts))}")
                        index += len(phrase)
                        matched = True
                        break
            if matched:
                continue
            if token in self.words:
                found = self.words[token]
                concepts |= found
                if token not in found:
                    evidence.append(f"{token}->{'+'.join(sorted(found))}")
            elif token not in self.stopwords and token not in self.markers and not token.isdigit():
                unknown.append(token)
            index += 1
        core = frozenset(c for c in concepts if c not in self.qualifiers)
        return Analysis(core or frozenset(concepts), evidence, tuple(unknown), typo, core)


def load_glossary(extra: Path | None = None) -> Glossary:
    """The shipped glossary, merged with ``extra`` when given (read with the bounded loader)."""
    text = resources.files("pdn.data").joinpath("migrate/glossary.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = safeload.yaml_text(text, "glossary.yaml (shipped)")
    if extra is not None:
        more = safeload.load_yaml(extra) or {}
        if not isinstance(more, dict):
            raise InputError(f"glossary {extra} must be a mapping like the shipped glossary.yaml")
        data = deep_merged(data, more)
    return Glossary(data)
