"""``pdn migrate dedup``: group applications that serve the same function, whatever the agency.

1. Normalise every name with the glossary: drop owner parts ("Kab. Bogor", the agency's own place
   name), versions and years, repair typos, expand acronyms and phrases, map Indonesian and
   English synonyms to one concept. The function key is the set of core concepts.
2. Learn acronyms the glossary lacks from names that spell them out ("SIMPONI (Sistem Informasi
   Perizinan)"): a token that consistently co-occurs with one key takes that key elsewhere.
3. Names with no known concept fall back to the description, then to their leftover words;
   leftover-word keys that differ only by typos are merged with a sparse character-trigram
   TF-IDF (cosine on the few thousand distinct keys, never on all app pairs).

Apps with the same key form a cluster. Cost is linear in the number of apps.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pdn.migrate.glossary import Glossary, load_glossary
from pdn.migrate.schema import App
from pdn.migrate.workspace import CLUSTERS, write_csv

GOVERNMENT_PREFIX = re.compile(r"^pemerintah\s+(provinsi|kabupaten|kota)\s+", re.IGNORECASE)
SPELLED_OUT = re.compile(r"^\s*([^()]+?)\s*\(([^()]+)\)")
HEADER = ("app_id", "cluster_id", "cluster_size", "confidence", "method", "evidence", "name", "agency")


@dataclass(slots=True)
class Assignment:
    app_id: str
    key: str
    confidence: float
    method: str
    evidence: str


def owner_words(agency: str) -> frozenset[str]:
    """Place words of a regional government ("Pemerintah Kabupaten Tanah Laut" -> tanah, laut)."""
    match = GOVERNMENT_PREFIX.match(agency)
    if not match:
        return frozenset()
    return frozenset(re.findall(r"[a-z0-9]+", agency[match.end() :].lower()))


def _key(concepts: frozenset[str]) -> str:
    return "fn-" + "-".join(sorted(concepts))


def _merge_leftover_keys(keys: Sequence[str], threshold: float = 0.8) -> dict[str, str]:
    """Map each leftover-words key to a representative, merging typo variants (char-3gram TF-IDF)."""
    if len(keys) < 2:
        return {key: key for key in keys}
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, key in enumerate(keys):
        text = f" {key[3:]} "
        grams = Counter(text[i : i + 3] for i in range(len(text) - 2))
        for gram in grams:
            rows.append(row)
            cols.append(vocab.setdefault(gram, len(vocab)))
    data = np.ones(len(rows), dtype=np.float32)
    matrix = csr_matrix((data, (rows, cols)), shape=(len(keys), len(vocab)))
    df = np.asarray((matrix > 0).sum(axis=0)).ravel()
    idf = np.log((1 + len(keys)) / (1 + df)) + 1.0
    matrix = matrix.multiply(idf.reshape(1, -1)).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    matrix = csr_matrix(matrix.multiply(1.0 / norms.reshape(-1, 1)))
    similar = matrix @ matrix.T
    similar.data[similar.data < threshold] = 0
    similar.eliminate_zeros()
    _, component = connected_components(similar, directed=False)
    representative: dict[int, str] = {}
    for index, key in enumerate(keys):
        representative.setdefault(int(component[index]), key)
    return {key: representative[int(component[index])] for index, key in enumerate(keys)}


def assign(apps: Sequence[App], glossary: Glossary) -> list[Assignment]:
    """The function key of every app (same key = same cluster)."""
    analyses = []
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for app in apps:
        owners = owner_words(app.agency)
        agency_words = frozenset(re.findall(r"[a-z0-9]+", app.agency.lower()))
        analysis = glossary.analyse(app.name, owners, agency_words)
        analyses.append((analysis, owners, agency_words))
        # Learn acronyms from names that spell them out: "SIMPONI (Sistem Informasi Perizinan)".
        spelled = SPELLED_OUT.match(app.name)
        if spelled:
            head = glossary.analyse(spelled.group(1), owners, agency_words)
            if not head.concepts and len(head.unknown) == 1:
                inside = glossary.analyse(spelled.group(2), owners, agency_words)
                if inside.concepts:
                    seen[head.unknown[0]][_key(inside.concepts)] += 1
    learned: dict[str, str] = {}
    for token, counts in seen.items():
        key, count = counts.most_common(1)[0]
        if count >= 2 and count >= 0.8 * sum(counts.values()):
            learned[token] = key
    result: list[Assignment] = []
    leftovers: list[int] = []
    for app, (analysis, owners, agency_words) in zip(apps, analyses, strict=True):
        evidence = "; ".join(analysis.evidence)
        if analysis.concepts:
            confidence = 0.85 if analysis.typo_fixed else 0.95
            result.append(Assignment(app.app_id, _key(analysis.concepts), confidence, "glossary", evidence))
            continue
        tokens = [token for token in analysis.unknown if token in learned]
        if tokens and len({learned[token] for token in tokens}) == 1:
            result.append(
                Assignment(
                    app.app_id,
                    learned[tokens[0]],
                    0.8,
                    "learned-acronym",
                    f"{tokens[0]} spelled out elsewhere as {learned[tokens[0]][3:]}",
                )
            )
            continue
        described = glossary.analyse(app.description, owners, agency_words) if app.description else None
        if described is not None and described.concepts:
            result.append(
                Assignment(
                    app.app_id,
                    _key(described.concepts),
                    0.7,
                    "description",
                    "from description: " + "; ".join(described.evidence),
                )
            )
            continue
        if analysis.unknown:
            key = "nm-" + "-".join(sorted(set(analysis.unknown)))
            result.append(Assignment(app.app_id, key, 0.6, "name-words", "no glossary term; same leftover words"))
            leftovers.append(len(result) - 1)
            continue
        result.append(Assignment(app.app_id, "app-" + app.app_id.lower(), 1.0, "singleton", "nothing to compare"))
    merged = _merge_leftover_keys(sorted({result[i].key for i in leftovers}))
    for index in leftovers:
        item = result[index]
        if merged[item.key] != item.key:
            item.evidence += f"; spelling close to {merged[item.key][3:]}"
            item.confidence = 0.5
            item.key = merged[item.key]
    return result


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
