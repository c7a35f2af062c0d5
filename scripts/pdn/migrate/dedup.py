"""``pdn migrate dedup``: group applications that serve the same function, whatever the agency.

Two paths, one clustering:

1. *Glossary* (the head functions): every name is normalised with the glossary (owner parts,
   versions, typos, acronyms, phrases, Indonesian/English synonyms -> concepts). A name whose
   leftover words are all *bound* to its concepts (they co-occur with that key in most of the
   inventory's names, or are generic among head functions, or occur once) is keyed by its
   concepts. Acronyms spelled out elsewhere ("SIMPONI (Sistem Informasi Perizinan)") are learned.
2. *Similarity* (everything the glossary cannot fully explain: long-tail functions, extra
   words): each leftover word is repaired against the inventory's own vocabulary (typos),
   reduced to its root (Sastrawi for Indonesian, WordNet's morphy for English) and expanded
   with its senses and translations (WordNet synsets, FreeDict English-Indonesian), see
   ``lexicon``. Features are weighted by inverse document frequency, so rare words outweigh
   generic ones ("desa", "daerah", "public"), and clustered with blocking plus average
   linkage (``similar``). A similarity cluster whose weight lies mostly in a glossary key's
   concepts joins that key's cluster.

Every row of ``clusters.csv`` says why: the glossary mappings, the binding, or the shared
words and senses that joined the app to its cluster. Cost is linear in the number of apps.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdn.migrate import similar
from pdn.migrate.glossary import Analysis, Glossary, deletions, edit_distance, load_glossary
from pdn.migrate.lexicon import InventoryLexicon, Lexicon, load_lexicon
from pdn.migrate.schema import App
from pdn.migrate.workspace import CLUSTERS, write_csv

GOVERNMENT_PREFIX = re.compile(r"^pemerintah\s+(provinsi|kabupaten|kota)\s+", re.IGNORECASE)
SPELLED_OUT = re.compile(r"^\s*([^()]+?)\s*\(([^()]+)\)")
WORD = re.compile(r"[a-z0-9]+")
HEADER = ("app_id", "cluster_id", "cluster_size", "confidence", "method", "evidence", "name", "agency")

# Tuned on the seen families, the tuning split and the held-out splits already scored and read,
# never on a fresh one (docs/benchmarks.md, "Dedup on families nobody tuned on").
BOUND_TO_KEY = 0.6  # a leftover word is part of a key when this share of its names has that key
BOUND_TO_CORE = 0.8  # ... or generic among the glossary's functions: this share of its names is keyed
GENERIC_CORE = 0.3  # ... and at least this share by head (core) concepts
CORE_WEIGHT = 1.5  # glossary core concepts in the similarity space
QUALIFIER_WEIGHT = 0.5  # glossary qualifier concepts (generic by design)
DESCRIPTION_WEIGHT = 0.5  # a word only in the description
SENSE_WEIGHT = 0.5  # a sense or translation of a word, next to the word itself (1.0)
CUT = 0.5  # average-linkage cut (name similarity)
PROFILE_CUT = 0.75  # second pass: merge clusters whose word profiles agree this much (soft cosine)
BLOCK_LIMIT = 400  # blocking: a feature shared by more distinct names than this creates no candidate pair
LINK_EVIDENCE = 0.5  # one description leaving one word against two links them (if no better pair competes)
SUBSTITUTE_CONTEXTS = 3  # objects two words must interchange on: two actions of one object look alike on two
TYPO_TARGET = 3  # a typo is repaired to a word spelled this many times as often (and this often at least)
MIN_LETTERS = 2  # shorter words say nothing; two letters may be a whole object ("WC")
ACTION_PREFIXES = ("me", "pe", "di")  # Indonesian verbal prefixes (meN-, peN-...-an, di-)
COMPOUND_PART = 3  # a compound's parts have this many letters at least
ATTACH = 0.5  # share of a similarity cluster's weight in a glossary key's concepts to join it


@dataclass(slots=True)
class Assignment:
    app_id: str
    key: str
    confidence: float
    method: str
    evidence: str


@dataclass
class _Parsed:
    analysis: Analysis
    owners: frozenset[str]
    agency_words: frozenset[str]
    real: frozenset[str] = frozenset()  # the inventory's real words (see real_words)
    tokens: list[str] = field(default_factory=list)  # leftover words after typo repair
    repairs: list[str] = field(default_factory=list)
    described_tokens: list[str] = field(default_factory=list)  # the description's leftover words
    defined: str = ""  # the acronym this name spells out ("SIMAYA (Aplikasi Surat ...)")


def owner_words(agency: str) -> frozenset[str]:
    """Place words of a regional government ("Pemerintah Kabupaten Tanah Laut" -> tanah, laut)."""
    match = GOVERNMENT_PREFIX.match(agency)
    if not match:
        return frozenset()
    return frozenset(re.findall(r"[a-z0-9]+", agency[match.end() :].lower()))


def _key(concepts: frozenset[str]) -> str:
    return "fn-" + "-".join(sorted(concepts))


def repair_typos(frequency: Counter[str], readable: Callable[[str], bool] | None = None) -> dict[str, str]:
    """Rare word -> the much more frequent word it is one edit from (two for 8+ letters).

    The inventory is its own dictionary: "ternka" (once) -> "ternak" (seven times). A typo
    may have four letters ("byar" -> "bayar"); what it is repaired to has five or more.
    With ``readable`` (does either language's morphology read the word: a root, or a root with
    affixes), a word no language reads is also repaired to a readable one however rare:
    "pngiriman" (once) -> "pengiriman" (twice); a small inventory spells most words only a few times.
    """
    readable = readable or (lambda word: False)
    index: dict[str, set[str]] = {}
    for word, count in frequency.items():
        if len(word) >= 5 and (count >= TYPO_TARGET or readable(word)):
            for variant in deletions(word) | {word}:
                index.setdefault(variant, set()).add(word)
    mapping: dict[str, str] = {}
    for word, count in frequency.items():
        if count > 2 or len(word) < 4:
            continue
        variants = deletions(word) | {word}
        if len(word) >= 8:
            variants |= {second for first in deletions(word) for second in deletions(first)}
        wanted = TYPO_TARGET * count
        unreadable = not readable(word)
        candidates = {
            c
            for v in variants
            for c in index.get(v, ())
            if c != word and (frequency[c] >= wanted or (unreadable and frequency[c] >= count and readable(c)))
        }
        limit = 2 if len(word) >= 8 else 1
        scored = sorted((edit_distance(word, c), -frequency[c], c) for c in candidates)
        if scored and scored[0][0] <= limit:
            mapping[word] = scored[0][2]
    return mapping


def real_words(apps: Sequence[App], lexicon: Lexicon) -> frozenset[str]:
    """Words the glossary must not "repair": roots of either language, words that several
    names spell the same way and the stemmer can read ("pengajuan": not a typo of "pengaduan"),
    and affixed words whose root the inventory also writes in another form ("pengasapan" once,
    next to "asap" and "mengasapi": not a typo of "pengadaan")."""
    frequency: Counter[str] = Counter()
    for app in apps:
        frequency.update(set(WORD.findall(f"{app.name} {app.description}".lower())))
    forms: Counter[str] = Counter()
    for word in frequency:
        root, language = lexicon.root(word)
        if language == "id" and len(word) >= 4:
            forms[root] += 1

    def attested(word: str) -> bool:
        root, language = lexicon.root(word)
        return language == "id" and root != word and forms[root] >= 2

    return frozenset(
        word
        for word, count in frequency.items()
        if len(word) >= 5 and (lexicon.is_word(word) or (count >= 3 and lexicon.reads(word)) or attested(word))
    )


def _parse(
    apps: Sequence[App], glossary: Glossary, lexicon: Lexicon
) -> tuple[list[_Parsed], dict[str, str], dict[str, str]]:
    """Glossary analysis of every name, the acronyms learned from spelled-out names, and the
    inventory's own typo repairs."""
    parsed: list[_Parsed] = []
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    real = real_words(apps, lexicon)
    for app in apps:
        owners = owner_words(app.agency)
        agency_words = frozenset(re.findall(r"[a-z0-9]+", app.agency.lower()))
        item = _Parsed(glossary.analyse(app.name, owners, agency_words, real), owners, agency_words, real)
        parsed.append(item)
        spelled = SPELLED_OUT.match(app.name)
        if spelled:
            head = glossary.analyse(spelled.group(1), owners, agency_words, real)
            if not head.concepts and len(head.unknown) == 1:
                inside = glossary.analyse(spelled.group(2), owners, agency_words, real)
                if inside.concepts:
                    seen[head.unknown[0]][_key(inside.concepts)] += 1
                    item.defined = head.unknown[0]
    learned: dict[str, str] = {}
    for token, counts in seen.items():
        key, count = counts.most_common(1)[0]
        if count >= 2 and count >= 0.8 * sum(counts.values()):
            learned[token] = key
    frequency: Counter[str] = Counter()
    for item in parsed:
        frequency.update({t for t in item.analysis.unknown if len(t) >= 3 and not t.isdigit()})

    # A real word of either language is not a typo of a more frequent one ("hostel", "hotel", "hall").
    repaired = {
        word: fixed
        for word, fixed in repair_typos(frequency, lexicon.reads).items()
        if word not in real and not lexicon.is_word(word)
    }
    for item in parsed:
        for token in item.analysis.unknown:
            if len(token) < MIN_LETTERS or token.isdigit() or Glossary.names_agency([token], item.agency_words):
                continue  # "SIMPEG KemenKeuangan": the owner, not the function
            fixed = repaired.get(token, token)
            if fixed != token:
                item.repairs.append(f"typo {token}->{fixed} (inventory)")
            item.tokens.append(fixed)
    _split_compounds(parsed)
    return parsed, learned, repaired


def _split_compounds(parsed: Sequence[_Parsed]) -> None:
    """A word that other names write as two ("batubara" / "batu bara", "fotokopi" / "foto kopi")
    becomes those two words."""
    written_apart = {pair for item in parsed for pair in itertools.pairwise(item.tokens)}
    if not written_apart:
        return
    for item in parsed:
        tokens: list[str] = []
        for token in item.tokens:
            parts = next(
                (
                    (token[:cut], token[cut:])
                    for cut in range(COMPOUND_PART, len(token) - COMPOUND_PART + 1)
                    if (token[:cut], token[cut:]) in written_apart
                ),
                None,
            )
            if parts is None:
                tokens.append(token)
                continue
            tokens.extend(parts)
            item.repairs.append(f"compound {token}->{' '.join(parts)} (inventory)")
        item.tokens = tokens


def _bound(parsed: Sequence[_Parsed], learned: dict[str, str], lexicon: Lexicon) -> list[bool]:
    """Per app: is every leftover word explained by its glossary key?

    A word is explained when it mostly comes with this very key ("pembangunan" with planning),
    when it is generic among the glossary's functions (mostly in names the glossary keys, some
    of them head functions: "registry", "administration"), when it is the acronym the name
    spells out, or (next to a head function) when no other name has it.
    """
    apps_with: Counter[str] = Counter()
    with_key: Counter[tuple[str, str]] = Counter()
    with_any: Counter[str] = Counter()
    with_core: Counter[str] = Counter()
    # "cacah", "pencacahan": one word. Two letters never unbind a name ("EP-LANNING": a split "e-").
    roots = [{lexicon.root(t)[0] for t in item.tokens if len(t) > MIN_LETTERS} for item in parsed]
    learned_roots = {lexicon.root(token)[0]: key for token, key in learned.items()}
    for item, words in zip(parsed, roots, strict=True):
        key = _key(item.analysis.concepts) if item.analysis.concepts else ""
        for token in words:
            apps_with[token] += 1
            if key:
                with_key[token, key] += 1
                with_any[token] += 1
            if item.analysis.core:
                with_core[token] += 1
    result = []
    for item, words in zip(parsed, roots, strict=True):
        if not item.analysis.concepts:
            result.append(False)
            continue
        key = _key(item.analysis.concepts)
        core = bool(item.analysis.core)
        # A qualifier names where or for whom, not what: next to one alone ("Penyuluhan Desa"),
        # a word that merely comes with it is the function itself, not part of the key.
        result.append(
            all(
                t in (item.defined, lexicon.root(item.defined)[0])
                or learned_roots.get(t) == key
                or (core and with_key[t, key] >= BOUND_TO_KEY * apps_with[t])
                or (with_any[t] >= BOUND_TO_CORE * apps_with[t] and with_core[t] >= GENERIC_CORE * apps_with[t])
                or (core and apps_with[t] == 1)
                for t in words
            )
        )
    return result


def _terms(item: _Parsed, lexicon: Lexicon) -> list[tuple[str, float]]:
    """(term, multiplier) of a name: glossary concepts, then word roots in name order."""
    found: list[tuple[str, float]] = [(f"c:{c}", CORE_WEIGHT) for c in sorted(item.analysis.core)]
    found += [(f"q:{c}", QUALIFIER_WEIGHT) for c in sorted(item.analysis.concepts - item.analysis.core)]
    seen = {term for term, _ in found}
    for tokens, weight in ((item.tokens, 1.0), (item.described_tokens, DESCRIPTION_WEIGHT)):
        for token in tokens:
            term = f"w:{lexicon.root(token)[0]}"
            if term not in seen:
                seen.add(term)
                found.append((term, weight))
    return found


def _collocations(names: Sequence[Sequence[str]]) -> dict[str, float]:
    """Weight factor per word: 1/n for a word that almost always stands next to others, n words
    in all ("panti asuhan", "bus antar jemput"): the phrase is one thing and weighs like one word.
    Both words must mostly come together (of the more frequent one's names, not the rarer's):
    an object that a small inventory names with one action only ("Peta Guru") is no phrase
    with that action, which goes with other objects too."""
    alone: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for terms in names:
        alone.update(set(terms))
        words = [t for t in terms if t.startswith("w:")]
        pairs.update({(min(a, b), max(a, b)) for a, b in itertools.pairwise(words)})
    group: dict[str, str] = {}  # union-find: "bus antar jemput" is one thing of three words

    def find(word: str) -> str:
        while group.get(word, word) != word:
            word = group[word]
        return word

    for (a, b), together in pairs.items():
        if together >= 2 and together >= 0.8 * max(alone[a], alone[b]):
            group.setdefault(a, a)
            group.setdefault(b, b)
            group[find(a)] = find(b)
    size = Counter(find(word) for word in group)
    return {word: 1.0 / size[find(word)] for word in group}


def assign(apps: Sequence[App], glossary: Glossary, lexicon: Lexicon | None = None) -> list[Assignment]:
    """The function key of every app (same key = same cluster)."""
    lexicon = InventoryLexicon(
        lexicon or load_lexicon(), (w for app in apps for w in WORD.findall(f"{app.name} {app.description}".lower()))
    )
    parsed, learned, repaired = _parse(apps, glossary, lexicon)
    bound = _bound(parsed, learned, lexicon)
    descriptions: dict[tuple[str, frozenset[str], frozenset[str]], Analysis] = {}
    result: list[Assignment | None] = [None] * len(apps)
    pending: list[int] = []
    for index, (app, item, explained) in enumerate(zip(apps, parsed, bound, strict=True)):
        analysis = item.analysis
        evidence = "; ".join(analysis.evidence)
        if explained:
            confidence = 0.85 if analysis.typo_fixed else 0.95
            why = (
                evidence
                + ("; " if evidence and item.tokens else "")
                + (f"other words bound to this key: {', '.join(sorted(set(item.tokens)))}" if item.tokens else "")
            )
            result[index] = Assignment(app.app_id, _key(analysis.concepts), confidence, "glossary", why)
            continue
        described: Analysis | None = None
        if app.description and app.description.strip().lower() != app.name.strip().lower():
            key = (app.description, item.owners, item.agency_words)
            if key not in descriptions:  # descriptions repeat a lot ("aplikasi internal")
                descriptions[key] = glossary.analyse(app.description, item.owners, item.agency_words, item.real)
            described = descriptions[key]
            item.described_tokens = [
                repaired.get(t, t) for t in described.unknown if len(t) >= MIN_LETTERS and not t.isdigit()
            ]
        if not analysis.concepts:
            tokens = [t for t in item.tokens if t in learned]
            if tokens and len({learned[t] for t in tokens}) == 1:
                result[index] = Assignment(
                    app.app_id,
                    learned[tokens[0]],
                    0.8,
                    "learned-acronym",
                    f"{tokens[0]} spelled out elsewhere as {learned[tokens[0]][3:]}",
                )
                continue
            # A description keys the app when its concepts are core ones, or when it says
            # nothing else ("data pegawai ASN" is staff; "pencacahan desa" is not the village system).
            if described is not None and described.concepts and (described.core or not described.unknown):
                result[index] = Assignment(
                    app.app_id,
                    _key(described.concepts),
                    0.7,
                    "description",
                    "from description: " + "; ".join(described.evidence),
                )
                continue
        pending.append(index)
    _similarity(apps, parsed, pending, result, lexicon)
    return [item for item in result if item is not None]


def _similarity(
    apps: Sequence[App],
    parsed: Sequence[_Parsed],
    pending: Sequence[int],
    result: list[Assignment | None],
    lexicon: Lexicon,
) -> None:
    """Cluster the apps the glossary could not key; attach clusters to glossary keys where they fit."""
    named = {f"w:{lexicon.root(t)[0]}" for i in pending for t in parsed[i].tokens}
    for i in pending:  # a description word no name uses ("handles", "untuk") cannot bridge two names
        parsed[i].described_tokens = [t for t in parsed[i].described_tokens if f"w:{lexicon.root(t)[0]}" in named]
    term_lists = [_terms(parsed[i], lexicon) for i in pending]
    features: dict[str, frozenset[str]] = {}
    for index in pending:  # a root has the features of all its spellings ("pencatatan", "catat")
        for token in parsed[index].tokens + parsed[index].described_tokens:
            term = f"w:{lexicon.root(token)[0]}"
            features[term] = features.get(term, frozenset()) | lexicon.features(token)
    document_frequency: Counter[str] = Counter()
    for terms in term_lists:
        document_frequency.update(term for term, _ in terms)
    key_terms: dict[str, frozenset[str]] = {}
    for index, assigned in enumerate(result):
        if assigned is None or assigned.method != "glossary":
            continue
        analysis = parsed[index].analysis
        found = frozenset(f"c:{c}" for c in analysis.core) or frozenset(f"q:{c}" for c in analysis.concepts)
        key_terms[assigned.key] = found
        document_frequency.update(found)
    idf = similar.idf_weights(document_frequency, len(apps))
    factor = _collocations([[t for t, _ in terms] for terms in term_lists])
    signatures: dict[tuple[tuple[str, float], ...], int] = {}
    node_of: list[int] = []
    shapes: list[tuple[tuple[str, float], ...]] = []
    for terms in term_lists:
        signature = tuple((t, round(m * idf.get(t, 0.0) * factor.get(t, 1.0), 6)) for t, m in terms)
        signature = tuple(item for item in signature if item[1] > 0)
        if signature not in signatures:
            signatures[signature] = len(shapes)
            shapes.append(signature)
        node_of.append(signatures[signature])
    if not shapes:
        return
    counts = Counter(node_of)
    nodes = [
        similar.Node(tuple(t for t, _ in shape), tuple(w for _, w in shape), counts[n])
        for n, shape in enumerate(shapes)
    ]
    empty: frozenset[str] = frozenset()

    def lookup(term: str) -> frozenset[str]:
        return features.get(term, empty)

    texts = [
        (
            [f"w:{lexicon.root(t)[0]}" for t in parsed[i].tokens],
            [f"w:{lexicon.root(t)[0]}" for t in parsed[i].described_tokens],
        )
        for i in pending
        if parsed[i].described_tokens
    ]
    acting = _action_terms([t for i in pending for t in parsed[i].tokens + parsed[i].described_tokens], lexicon)
    links = similar.learn_links(texts, lookup, minimum=LINK_EVIDENCE, action=acting.__contains__)
    scorer = similar.Scorer(lookup, links)

    def blocking(term: str) -> frozenset[str]:
        return frozenset({term} | {f for f in features.get(term, empty) if f.startswith("w:")})

    # A word may learn a translation from names only when it is of one language alone and the
    # dictionary gives it none that the inventory uses ("museum" is both; "beras" has "rice").
    languages: dict[str, str] = {}
    for i in pending:
        for token in parsed[i].tokens:
            root, language = lexicon.root(token)
            term = f"w:{root}"
            if term in languages:
                continue
            both = root in lexicon.indonesian_roots and lexicon.is_english(root)
            translated = any(f != term and f in named for f in features.get(term, empty))
            languages[term] = "?" if both or translated else language
    pairs = similar.candidate_pairs(nodes, blocking, BLOCK_LIMIT)
    substitutes = similar.learn_substitutes(
        nodes,
        pairs,
        scorer,
        lambda t: languages.get(t, "?"),
        minimum=SUBSTITUTE_CONTEXTS,
        linked={t for pair in links for t in pair},
    )

    def word(term: str) -> bool:  # a dictionary word of either language, not a spelling of one
        return lexicon.is_word(term[2:])

    translations: dict[str, set[str]] = defaultdict(set)  # both ways: "stockpiling" has "stockpile"
    for term in named:
        for other in features.get(term, empty) & named - {term}:
            translations[term].add(other)
            translations[other].add(term)
    scorer = similar.Scorer(lookup, links, substitutes, word, translations)
    labels, weights, covered = similar.cluster(
        nodes, scorer, blocking, CUT, block_limit=BLOCK_LIMIT, profile_cut=PROFILE_CUT
    )
    members: dict[int, list[int]] = defaultdict(list)
    for node, label in enumerate(labels):
        members[label].append(node)
    cluster_key: dict[int, tuple[str, str]] = {}
    used_names: set[str] = set(key_terms)
    representative: dict[int, int] = {}
    for label, group in sorted(members.items()):
        representative[label] = max(group, key=lambda n: (nodes[n].apps, -n))
        attached = _attach([nodes[n] for n in group], key_terms)
        if attached is not None:
            key, share = attached
            cluster_key[label] = (key, f"joined glossary key {key}: its concepts carry {share:.0%} of the weight")
            continue
        key = _name_key(nodes[representative[label]], used_names)
        used_names.add(key)
        cluster_key[label] = (key, "")
    others = [n for n in range(len(nodes)) if n != representative[labels[n]]]
    batch = (
        similar.name_similarities(
            weights,
            covered,
            np.asarray(others, dtype=np.int64),
            np.asarray([representative[labels[n]] for n in others], dtype=np.int64),
        )
        if others
        else np.zeros(0)
    )
    to_rep = dict(zip(others, batch.tolist(), strict=True))
    for position, index in enumerate(pending):
        app = apps[index]
        node = node_of[position]
        label = labels[node]
        key, joined = cluster_key[label]
        rep = representative[label]
        item = parsed[index]
        evidence = list(item.analysis.evidence) + item.repairs
        if not nodes[node].terms:  # nothing left to compare: its own cluster, as before
            evidence.append("nothing to compare")
            result[index] = Assignment(app.app_id, "app-" + app.app_id.lower(), 1.0, "singleton", "; ".join(evidence))
            continue
        if node != rep:
            score = to_rep[node]
            matched = scorer.explain(nodes[node], nodes[rep])
            shown = (
                ", ".join(_pair(lexicon, scorer, a, b, s) for a, b, s in matched[:4]) or "only through other members"
            )
            evidence.append(f"like '{_words(lexicon, nodes[rep])}' ({score:.2f}): {shown}")
            confidence = max(0.5, min(0.9, score))
        else:
            size = len(members[label])
            evidence.append(
                f"words {_words(lexicon, nodes[node])}"
                + (f"; {size - 1} other spellings joined it" if size > 1 else "")
            )
            confidence = 0.7 if size > 1 or nodes[node].apps > 1 else 0.6
        if joined:
            evidence.append(joined)
        result[index] = Assignment(app.app_id, key, round(confidence, 2), "similarity", "; ".join(evidence))


def _action_terms(tokens: Sequence[str], lexicon: Lexicon) -> frozenset[str]:
    """Terms some spelling in the inventory shows as an action: an Indonesian verb or verbal
    noun ("menyegel", "penyegelan", "disegel" -> segel) or an English gerund ("padlocking")."""
    found = set()
    for token in set(tokens):
        root, language = lexicon.root(token)
        if (language == "id" and root != token and token.startswith(ACTION_PREFIXES)) or (
            language == "en" and lexicon.is_gerund(token)
        ):
            found.add(f"w:{root}")
    return frozenset(found)


def _attach(group: Sequence[similar.Node], keys: dict[str, frozenset[str]]) -> tuple[str, float] | None:
    """The glossary key whose concepts carry >= ATTACH of a similarity cluster's weight."""
    total = 0.0
    weight: dict[str, float] = defaultdict(float)
    for node in group:
        total += node.apps * sum(node.weights)
        for term, w in zip(node.terms, node.weights, strict=True):
            if term[:2] in ("c:", "q:"):
                weight[term] += node.apps * w
    if total <= 0 or not weight:
        return None
    best: tuple[float, str] | None = None
    for key, wanted in keys.items():
        if wanted and all(t in weight for t in wanted):
            share = sum(weight[t] for t in wanted) / total
            if share >= ATTACH and (best is None or (share, key) > best):
                best = (share, key)
    return None if best is None else (best[1], best[0])


def _describe(lexicon: Lexicon, term: str) -> str:
    return term[2:] if term[:2] in ("w:", "c:", "q:") else lexicon.describe(term)


def _words(lexicon: Lexicon, node: similar.Node, limit: int = 3) -> str:
    ranked = sorted(zip(node.terms, node.weights, strict=True), key=lambda tw: (-tw[1], tw[0]))
    return ", ".join(_describe(lexicon, t) for t, _ in ranked[:limit])


def _pair(lexicon: Lexicon, scorer: similar.Scorer, a: str, b: str, score: float) -> str:
    if a == b:
        return _describe(lexicon, a)
    why = similar.reason(a, b, scorer.features, score, scorer.hops)
    return f"{_describe(lexicon, a)}~{_describe(lexicon, b)} ({why})"


def _name_key(node: similar.Node, used: set[str]) -> str:
    """A readable, stable cluster id from a cluster's heaviest words: nm-pinjam-ternak."""
    ranked = sorted(zip(node.terms, node.weights, strict=True), key=lambda tw: (-tw[1], tw[0]))
    core = sorted(t[2:] for t in node.terms if t.startswith("c:"))
    parts = sorted(re.sub(r"[^a-z0-9]+", "", t[2:]) for t, _ in [x for x in ranked if x[0].startswith("w:")][:3])
    base = ("fn-" + "-".join(core) + "-" if core else "nm-") + "-".join(p for p in parts if p)
    base = base.rstrip("-") or "nm-x"
    key, suffix = base, 2
    while key in used:
        key, suffix = f"{base}-{suffix}", suffix + 1
    return key


def cluster_ids(assignments: Sequence[Assignment]) -> dict[str, str]:
    """app_id -> cluster_id (the key itself: stable and readable across runs)."""
    return {item.app_id: item.key for item in assignments}


def run(apps: Sequence[App], out: Path, glossary_file: Path | None = None) -> dict[str, int]:
    """Write ``clusters.csv``; returns counts for the summary."""
    glossary = load_glossary(glossary_file)
    assignments = assign(apps, glossary)
    sizes = Counter(item.key for item in assignments)
    by_id = {app.app_id: app for app in apps}
    write_csv(
        out / CLUSTERS,
        HEADER,
        (
            (
                a.app_id,
                a.key,
                sizes[a.key],
                f"{a.confidence:.2f}",
                a.method,
                a.evidence,
                by_id[a.app_id].name,
                by_id[a.app_id].agency,
            )
            for a in assignments
        ),
    )
    return {
        "apps": len(assignments),
        "clusters": len(sizes),
        "multi_app_clusters": sum(1 for size in sizes.values() if size > 1),
        "apps_in_multi_app_clusters": sum(size for size in sizes.values() if size > 1),
    }
