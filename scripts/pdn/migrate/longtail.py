"""Long-tail functions for the generator: an action done to an object, named in many ways.

A national inventory holds hundreds of small functions that exist in five to ten agencies each
(a vehicle loan desk, a cemetery register, a boat inspection). Their names vary in every way an
agency can vary them: action synonyms, Indonesian or English, word order, affixes (pe-/-an,
me-, -kan), generic qualifier words, typos. This module builds such names from a vocabulary of
actions and objects; the vocabularies themselves live apart:

* ``vocab_tuning``: the split the dedup method may be tuned on;
* ``vocab_heldout``: the split it is scored on and never tuned on.

Both are disjoint from the glossary and from each other (a unit test checks it), so a score on
the held-out split measures what the method does with words nobody here taught it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """An action or an object: its Indonesian forms (with affixes) and English forms."""

    id: str
    indonesian: tuple[str, ...]
    english: tuple[str, ...]


def term(id: str, indonesian: str, english: str) -> Term:
    def split(text: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in text.split("|") if part.strip())

    return Term(id, split(indonesian), split(english))


@dataclass(frozen=True)
class Vocabulary:
    """One split: actions, objects, generic objects, and the functions they may form."""

    name: str
    actions: tuple[Term, ...]
    objects: tuple[Term, ...]
    generic_objects: tuple[Term, ...]  # "desa", "warga": shared by many different functions
    generic_actions: tuple[str, ...]  # action ids that combine with the generic objects


@dataclass(frozen=True)
class Function:
    """One long-tail function: its label and the terms its names are made of."""

    label: str
    action: Term
    object: Term


# Generic qualifier words any name may carry; they say where or how, not what.
QUALIFIERS_ID = ("Desa", "Kelurahan", "Kecamatan", "Daerah", "Publik", "Warga", "Terpadu", "Mandiri", "Cepat")
QUALIFIERS_EN = ("Village", "Community", "Regional", "Public", "Integrated", "Citizen", "Smart")
PREFIXES_ID = ("", "", "Sistem Informasi ", "Aplikasi ", "Layanan ", "SI ", "e-", "Sistem ", "Portal ")
SUFFIXES_EN = ("", "", " System", " Information System", " App", " Portal", " Service", " Management")


def functions(vocabulary: Vocabulary, rng: random.Random, wanted: int, per_object: int = 4) -> list[Function]:
    """Up to ``wanted`` distinct (action, object) functions, at most ``per_object`` per object."""
    pairs = [(a, o) for o in vocabulary.objects for a in vocabulary.actions]
    pairs += [
        (a, o) for o in vocabulary.generic_objects for a in vocabulary.actions if a.id in vocabulary.generic_actions
    ]
    rng.shuffle(pairs)
    used: dict[str, int] = {}
    chosen: list[Function] = []
    for action, obj in pairs:
        if len(chosen) >= wanted:
            break
        if used.get(obj.id, 0) >= per_object:
            continue
        used[obj.id] = used.get(obj.id, 0) + 1
        chosen.append(Function(f"{vocabulary.name}:{action.id}-{obj.id}", action, obj))
    return chosen


def typo(rng: random.Random, word: str) -> str:
    """One deletion, doubling, swap or substitution inside ``word`` (words under five letters stay)."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + rng.choice("aeiounrst") + word[i + 1 :]


def name(rng: random.Random, function: Function) -> str:
    """One name for an app of ``function`` (before the owner/version suffixes the generator adds)."""
    action, obj = function.action, function.object
    roll = rng.random()
    qualifier = rng.random() < 0.3
    if roll < 0.62:  # Indonesian, head first ("Peminjaman Kendaraan"), sometimes the other way round
        words = [rng.choice(action.indonesian).title(), rng.choice(obj.indonesian).title()]
        if rng.random() < 0.2:
            words.reverse()
        if qualifier:
            words.insert(rng.choice((1, 2)), rng.choice(QUALIFIERS_ID))
        prefix = rng.choice(PREFIXES_ID)
        text = prefix + " ".join(words) if prefix != "e-" else "e-" + "".join(words[:1]) + " " + " ".join(words[1:])
    elif roll < 0.85:  # English, modifier first ("Vehicle Loan"), or "Loan of Vehicle"
        act, thing = rng.choice(action.english).title(), rng.choice(obj.english).title()
        if qualifier:
            thing = f"{rng.choice(QUALIFIERS_EN)} {thing}"
        text = f"{thing} {act}" if rng.random() < 0.7 else f"{act} of {thing}"
        text += rng.choice(SUFFIXES_EN)
    else:  # mixed: an English action word with the Indonesian object ("Booking Kendaraan")
        text = f"{rng.choice(action.english).title()} {rng.choice(obj.indonesian).title()}"
        if qualifier:
            text += " " + rng.choice(QUALIFIERS_ID)
    if rng.random() < 0.12:
        parts = text.split(" ")
        index = rng.randrange(len(parts))
        parts[index] = typo(rng, parts[index])
        text = " ".join(parts)
    return text


def description(rng: random.Random, function: Function) -> str:
    """A description naming the function in other words than the name (or nothing useful)."""
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(("", "", "aplikasi internal", "-", "Sistem informasi", "TBD"))
    if roll < 0.8:
        return f"Aplikasi untuk {rng.choice(function.action.indonesian)} {rng.choice(function.object.indonesian)}"
    return f"Handles {rng.choice(function.object.english)} {rng.choice(function.action.english)}"
