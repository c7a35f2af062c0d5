"""Clustering of names by weighted shared meaning, in time linear in the number of apps.

Every distinct name analysis is one *node* (thousands, however many apps share it): a tuple
of *terms* (a word's root, or a glossary concept) with weights, each term carrying the
features it may share with others (its translations and WordNet senses).

* Weights: inverse document frequency over the inventory, so a word in five agencies' names
  ("ternak") outweighs one in five hundred ("desa", "daerah"); two words that always stand
  together ("panti asuhan") share one word's weight.
* Term similarity: 1 for the same root, ``TRANSLATION`` when one is a translation of the
  other, ``SENSE`` when they share a sense, ``SYNONYM`` for the Indonesian thesaurus,
  ``BRIDGED`` when a thesaurus synonym of one translates the other, ``SPELLING`` for long
  roots with a long common beginning (loanwords: "verifikasi" / "verification") and for two
  spellings one edit apart (two for long words) of which at most one is a dictionary word
  ("ketinting" / "katinting"; never "pantai" / "pantau", two words of the language);
  ``TWO_HOP`` for the only two equivalents of a third word, one of them learned from the
  inventory's descriptions ("gilding" ~ "plating" ~ "sepuh").
* Name similarity: every term finds its best partner in the other name; the weighted share
  of what is matched, averaged over both directions, less ``CONFLICT`` times the smaller of
  the two unmatched shares. A name with an extra word ("Survei Hotel Cepat" / "Survei Hotel")
  leaves nothing of the other unmatched and pays nothing; two names that each keep a word of
  their own conflict: the same object with different actions ("Booking Panti Asuhan" /
  "Antrean Panti Asuhan") scores well below half, however rare the object.
* Blocking: only nodes sharing a rare feature are compared (a sparse product over features
  present in at most ``block_limit`` nodes): generic words never create a candidate pair.
* Average linkage over the sparse graph of candidate pairs (pairs never compared count as 0),
  weighted by the apps behind each node, merging while the average similarity >= ``cut``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from pdn.migrate.glossary import deletions, edit_distance

TRANSLATION = 0.9
LEARNED = 0.8
SUBSTITUTE = 0.75
TWO_HOP = 0.7  # the only two equivalents of one third word, at least one learned from descriptions
SENSE = 0.7
OTHER_SENSE = 0.6  # a shared sense that is not the most frequent one of both words
SYNONYM = 0.7  # listed as synonyms by the Indonesian thesaurus
SPELLING = 0.7
CONFLICT = 0.5  # name similarity lost per unmatched share that both names have (see the module doc)
BRIDGED = 0.6  # a thesaurus synonym of one word translates the other


@dataclass(frozen=True)
class Node:
    """One distinct name analysis: its terms, their weights, and how many apps share it."""

    terms: tuple[str, ...]
    weights: tuple[float, ...]
    apps: int


def idf_weights(document_frequency: Mapping[str, int], documents: int) -> dict[str, float]:
    """log(N / df): 0 for a term in every document."""
    return {term: math.log(documents / df) for term, df in document_frequency.items() if df > 0}


def _spelling(a: str, b: str) -> bool:
    shorter = min(len(a), len(b))
    if shorter < 6:
        return False
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return common >= 5 and common >= 0.6 * shorter


def variant(a: str, b: str) -> bool:
    """Two spellings of one word: one edit apart, two when both are long, same first letter."""
    shorter = min(len(a), len(b))
    if shorter < 5 or a[0] != b[0] or abs(len(a) - len(b)) > 2:
        return False
    return edit_distance(a, b) <= (2 if shorter >= 8 else 1)


def _bridged(fa: frozenset[str], fb: frozenset[str]) -> bool:
    """A thesaurus synonym of one word is a translation of the other: "permohonan" lists
    "permintaan" (root "minta"), which the dictionary gives for "request"."""
    return any(f[:2] == "u:" and "w:" + f[2:] in fb for f in fa)


def term_similarity(
    a: str, b: str, features: Callable[[str], frozenset[str]], word: Callable[[str], bool] | None = None
) -> float:
    """How alike two terms are; ``word`` tells a dictionary word (for spelling variants)."""
    if a == b:
        return 1.0
    if a[:2] != "w:" or b[:2] != "w:":
        return 0.0  # glossary concepts match only themselves
    fa, fb = features(a), features(b)
    if a in fb or b in fa:
        return TRANSLATION
    thesaurus = "u:" + b[2:] in fa or "u:" + a[2:] in fb
    if fa & fb:
        shared = fa & fb
        if any(f.startswith("w:") for f in shared):
            return TRANSLATION
        if any(f.startswith("s:") for f in shared):
            return SENSE
        if not thesaurus and any(f.startswith("a:") for f in shared):
            return OTHER_SENSE
    if thesaurus:
        return SYNONYM
    if _bridged(fa, fb) or _bridged(fb, fa):
        return BRIDGED
    if _spelling(a[2:], b[2:]):
        return SPELLING
    if word is not None and not (word(a) and word(b)) and variant(a[2:], b[2:]):
        return SPELLING
    return 0.0


def reason(
    a: str,
    b: str,
    features: Callable[[str], frozenset[str]],
    score: float,
    hops: frozenset[tuple[str, str]] = frozenset(),
) -> str:
    """Why two different terms match, in words, for the evidence column."""
    if score == LEARNED:
        return "learned from descriptions"
    if score == SUBSTITUTE:
        return "interchangeable in other names"
    if a[:2] != "w:" or b[:2] != "w:":
        return "concept"
    fa, fb = features(a), features(b)
    if a in fb or b in fa or any(f.startswith("w:") for f in fa & fb):
        return "translation"
    if any(f.startswith("s:") for f in fa & fb):
        return "synonym"
    if "u:" + b[2:] in fa or "u:" + a[2:] in fb:
        return "synonym (thesaurus)"
    if any(f.startswith("a:") for f in fa & fb):
        return "synonym in a less common sense"
    if _bridged(fa, fb) or _bridged(fb, fa):
        return "a synonym's translation"
    if score == TWO_HOP and (min(a, b), max(a, b)) in hops:
        return "both equivalents of one word"
    return "spelling"


def learn_links(
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
    features: Callable[[str], frozenset[str]],
    rounds: int = 3,
    minimum: float = 2.0,
    widest: int = 2,
    action: Callable[[str], bool] | None = None,
) -> dict[tuple[str, str], float]:
    """Word equivalences the inventory itself teaches, from names and their descriptions.

    A description often says the name again in other words ("Canteen Storage App" /
    "Aplikasi untuk penyimpanan kantin"). Words in both, and pairs already linked (by the
    lexicon: canteen ~ kantin, or by an earlier round), are set aside; the words left on each
    side (at most ``widest``) are counted as candidate equivalents, each pair with weight
    1 / (left x right). A pair is kept when its weight over all apps reaches ``minimum`` and it
    is the best or nearly the best pair of both its words (competitive linking).
    With ``action`` (is a word an action: "penyegelan", "padlocking"), two words left on each
    side of which one is an action pair action with action and object with object, half a
    count each ("Padlocking of Footwear" / "menyegel sepatu"): otherwise the four pairs tie
    and all four would be kept.
    """
    links: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        counts: dict[tuple[str, str], float] = {}
        for name, description in pairs:
            left = [t for t in dict.fromkeys(name) if t not in description]
            right = [t for t in dict.fromkeys(description) if t not in name]
            for t in list(left):
                match = next(
                    (u for u in right if (min(t, u), max(t, u)) in links or term_similarity(t, u, features) > 0),
                    None,
                )
                if match is not None:
                    left.remove(t)
                    right.remove(match)
            if not (left and right and len(left) <= widest and len(right) <= widest):
                continue
            for t, u, share in _candidates(left, right, action):
                key = (min(t, u), max(t, u))
                counts[key] = counts.get(key, 0.0) + share
        best: dict[str, float] = {}
        for (t, u), n in counts.items():
            best[t] = max(best.get(t, 0.0), n)
            best[u] = max(best.get(u, 0.0), n)
        fresh = {
            key: n for key, n in counts.items() if n >= minimum and n >= 0.5 * best[key[0]] and n >= 0.5 * best[key[1]]
        }
        if not fresh.keys() - links.keys():
            break
        links.update(fresh)
    return links


def _candidates(
    left: Sequence[str], right: Sequence[str], action: Callable[[str], bool] | None
) -> list[tuple[str, str, float]]:
    """Candidate equivalents among the words left on each side, each with its share of one count."""
    if action is not None and len(left) == 2 and len(right) == 2:
        acts = [[action(t) for t in side] for side in (left, right)]
        if acts[0][0] != acts[0][1] and acts[1][0] != acts[1][1]:
            by_kind = [dict(zip(flags, side, strict=True)) for flags, side in zip(acts, (left, right), strict=True)]
            return [(by_kind[0][kind], by_kind[1][kind], 0.5) for kind in (True, False)]
    share = 1.0 / (len(left) * len(right))
    return [(t, u, share) for t in left for u in right]


def _hops(links: Mapping[tuple[str, str], float], translated: Mapping[str, set[str]]) -> frozenset[tuple[str, str]]:
    """Pairs of words equivalent through a third word that has exactly these two equivalents,
    one of them learned from descriptions: "gilding" ~ "plating" and "plating" ~ "sepuh"
    learned, or "jerigen" ~ "jeriken" learned and "jeriken" a translation of "jerrycan". A word
    with more equivalents is generic or has two senses; two translations alone chain senses."""
    ends: dict[str, set[str]] = {}  # every word with a learned equivalent, and all its equivalents
    for a, b in links:
        ends.setdefault(a, set()).add(b)
        ends.setdefault(b, set()).add(a)
    for middle, found in ends.items():
        found |= translated.get(middle, set())
    return frozenset((min(found), max(found)) for found in ends.values() if len(found) == 2)


class Scorer:
    """Name similarity with a cache of term similarities (terms repeat across thousands of pairs).

    ``links`` are equivalences learned from descriptions (``LEARNED``), ``substitutes`` those
    learned from names that differ in one word only (``SUBSTITUTE``, see ``learn_substitutes``).
    """

    def __init__(
        self,
        features: Callable[[str], frozenset[str]],
        links: Mapping[tuple[str, str], float] | None = None,
        substitutes: Mapping[tuple[str, str], int] | None = None,
        word: Callable[[str], bool] | None = None,
        translated: Mapping[str, set[str]] | None = None,
    ) -> None:
        self.features = features
        self.links = links or {}
        self.substitutes = substitutes or {}
        self.word = word
        self._cache: dict[tuple[str, str], float] = {}
        self.hops = _hops(self.links, translated or {})

    def term(self, a: str, b: str) -> float:
        key = (a, b) if a <= b else (b, a)
        found = self._cache.get(key)
        if found is None:
            found = term_similarity(a, b, self.features, self.word)
            if found < LEARNED and key in self.links:
                found = LEARNED
            if found < SUBSTITUTE and key in self.substitutes:
                found = SUBSTITUTE
            if found < TWO_HOP and key in self.hops:
                found = TWO_HOP
            self._cache[key] = found
        return found

    def _covered(self, x: Node, y: Node) -> float:
        total = sum(x.weights)
        if total <= 0:
            return 0.0
        matched = sum(
            w * max((self.term(t, u) for u in y.terms), default=0.0) for t, w in zip(x.terms, x.weights, strict=True)
        )
        return matched / total

    def name(self, x: Node, y: Node) -> float:
        forward, backward = self._covered(x, y), self._covered(y, x)
        return 0.5 * (forward + backward) - CONFLICT * min(1 - forward, 1 - backward)

    def explain(self, x: Node, y: Node) -> list[tuple[str, str, float]]:
        """(term of x, best partner in y, similarity) for the terms of x that found one."""
        found = []
        for t in x.terms:
            best = max(y.terms, key=lambda u: (self.term(t, u), u), default="")
            score = self.term(t, best) if best else 0.0
            if score > 0:
                found.append((t, best, score))
        return found


def candidate_pairs(
    nodes: Sequence[Node], blocking: Callable[[str], frozenset[str]], block_limit: int
) -> list[tuple[int, int]]:
    """(i, j), i < j, of nodes sharing a blocking feature present in at most ``block_limit`` nodes."""
    index: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, node in enumerate(nodes):
        keys: set[str] = set()
        for term in node.terms:
            keys |= blocking(term)
        for key in keys:
            rows.append(row)
            cols.append(index.setdefault(key, len(index)))
    if not rows:
        return []
    matrix = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(nodes), len(index)))
    node_df = np.asarray(matrix.sum(axis=0)).ravel()
    keep = np.flatnonzero((node_df >= 2) & (node_df <= block_limit))
    blocks = csr_matrix(matrix[:, keep])
    shared = (blocks @ blocks.T).tocoo()
    upper = shared.row < shared.col
    return list(zip(shared.row[upper].tolist(), shared.col[upper].tolist(), strict=True))


def learn_substitutes(
    nodes: Sequence[Node],
    pairs: Sequence[tuple[int, int]],
    scorer: Scorer,
    language: Callable[[str], str],
    minimum: int = 2,
    share: float = 0.6,
    context: float = 0.35,
    linked: frozenset[str] | set[str] = frozenset(),
) -> dict[tuple[str, str], int]:
    """Word equivalences the inventory teaches through names that differ in one word only.

    "Peminjaman Kendaraan" / "Sewa Kendaraan" differ in one word, and so do "Loan Boat" /
    "Borrowing Boat". Two words are counted as interchangeable in a *context* (what the two
    names share, each shared word put as its first feature in sort order, so "kendaraan" and
    its translation "vehicle" are one context) when everything else of both names is matched
    and carries at least ``context`` of each name's weight. Synonyms of one action interchange
    across most of the objects either word comes with; two different actions on one object
    ("lending" and "rental" of boats) interchange only on the few objects that have both.
    So a pair is kept when it interchanges in >= ``minimum`` distinct contexts and in at least
    ``share`` of the contexts the rarer of its words interchanges in at all, and it is the
    best or nearly the best pair of both its words (competitive linking, as ``learn_links``).
    Two words that both have an equivalent learned from descriptions (``linked``: "logbook" ~
    "catat", "pengajuan" ~ "submission") are not learned as one another's: objects that have
    two functions make two actions look interchangeable. Returns (word, word) -> number of contexts.
    """
    together: dict[tuple[str, str], set[frozenset[str]]] = {}
    alone: dict[str, set[frozenset[str]]] = {}

    def canonical(term: str) -> str:
        if not term.startswith("w:"):
            return term
        return min({term} | {f for f in scorer.features(term) if f.startswith("w:")})

    for i, j in pairs:
        x, y = nodes[i], nodes[j]
        left = [(t, w) for t, w in zip(x.terms, x.weights, strict=True) if max(scorer.term(t, u) for u in y.terms) <= 0]
        if len(left) != 1 or not left[0][0].startswith("w:"):
            continue
        right = [
            (u, w) for u, w in zip(y.terms, y.weights, strict=True) if max(scorer.term(t, u) for t in x.terms) <= 0
        ]
        if len(right) != 1 or not right[0][0].startswith("w:"):
            continue
        (t, wt), (u, wu) = left[0], right[0]
        if {language(t), language(u)} != {"id", "en"} or (t in linked and u in linked):
            continue  # a translation, or nothing: two Indonesian words on one object are two functions as often
        if all(v in y.terms for v in x.terms if v != t):
            continue  # the rest must be matched across the languages too ("kendaraan" ~ "vehicle"):
            # "Logbook Guru" / "Simpan Guru" may be two functions of one object
        total_x, total_y = sum(x.weights), sum(y.weights)
        if total_x <= 0 or total_y <= 0 or wt > (1 - context) * total_x or wu > (1 - context) * total_y:
            continue
        shared = frozenset(canonical(v) for v in x.terms if v != t)
        key = (t, u) if t <= u else (u, t)
        together.setdefault(key, set()).add(shared)
        alone.setdefault(t, set()).add(shared)
        alone.setdefault(u, set()).add(shared)
    best: dict[str, int] = {}
    for (t, u), contexts in together.items():
        best[t] = max(best.get(t, 0), len(contexts))
        best[u] = max(best.get(u, 0), len(contexts))
    kept: dict[tuple[str, str], int] = {}
    for (t, u), contexts in together.items():
        n = len(contexts)
        if (
            n >= minimum
            and n >= share * min(len(alone[t]), len(alone[u]))
            and n >= 0.5 * best[t]
            and n >= 0.5 * best[u]
        ):
            kept[t, u] = n
    return kept


def average_linkage(
    count: int, weights: Sequence[float], edges: Mapping[tuple[int, int], float], cut: float
) -> list[int]:
    """Agglomerative average linkage on a sparse similarity graph; a label (member index) per node.

    The similarity of two clusters is the app-weighted mean over all their cross pairs, pairs
    without an edge counting 0. Merges go best first while that mean is >= ``cut``.
    """
    parent = list(range(count))
    size = [float(w) for w in weights]
    links: list[dict[int, float]] = [{} for _ in range(count)]  # cluster -> neighbour -> sum of w_i w_j s_ij
    for (i, j), similarity in edges.items():
        value = weights[i] * weights[j] * similarity
        links[i][j] = links[i].get(j, 0.0) + value
        links[j][i] = links[j].get(i, 0.0) + value
    heap = [(-s / (size[a] * size[b]), a, b) for a in range(count) for b, s in links[a].items() if a < b]
    heapq.heapify(heap)
    alive = [True] * count
    while heap:
        negative, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or b not in links[a]:
            continue
        average = links[a][b] / (size[a] * size[b])
        if abs(average + negative) > 1e-12:
            continue  # stale entry
        if average < cut:
            break
        keep, gone = (a, b) if (size[a], -a) >= (size[b], -b) else (b, a)
        alive[gone] = False
        parent[gone] = keep
        size[keep] += size[gone]
        for neighbour, value in links[gone].items():
            if neighbour == keep:
                continue
            links[neighbour].pop(gone, None)
            links[keep][neighbour] = links[keep].get(neighbour, 0.0) + value
            links[neighbour][keep] = links[keep][neighbour]
        links[keep].pop(gone, None)
        links[gone] = {}
        for neighbour, value in links[keep].items():
            heapq.heappush(heap, (-value / (size[keep] * size[neighbour]), min(keep, neighbour), max(keep, neighbour)))
    labels = []
    for node in range(count):
        root = node
        while parent[root] != root:
            root = parent[root]
        labels.append(root)
    return labels


class TermSpace:
    """Every term of the inventory's names, and the sparse matrix of their pairwise similarities."""

    def __init__(self, nodes: Sequence[Node], scorer: Scorer) -> None:
        terms = sorted({t for node in nodes for t in node.terms})
        self.index = {t: i for i, t in enumerate(terms)}
        rows: list[int] = list(range(len(terms)))
        cols: list[int] = list(range(len(terms)))
        data: list[float] = [1.0] * len(terms)
        # Candidate term pairs: sharing a feature, linked, or sharing a long beginning.
        by_key: dict[str, list[int]] = {}
        for i, t in enumerate(terms):
            keys = set(scorer.features(t)) if t.startswith("w:") else set()
            keys.add(t)
            if t.startswith("w:"):
                keys.add("u:" + t[2:])  # meets every term whose thesaurus entry lists it
                keys |= {"w:" + f[2:] for f in keys if f.startswith("u:")}  # ... or translates a synonym
            if t.startswith("w:") and len(t) >= 8:
                keys.add("prefix:" + t[2:7])
            if t.startswith("w:") and len(t) >= 7 and scorer.word is not None:  # spelling variants
                keys |= {"del:" + v for v in deletions(t[2:]) | {t[2:]}}
            for key in keys:
                by_key.setdefault(key, []).append(i)
        for a, b in [*scorer.links, *scorer.substitutes, *scorer.hops]:
            if a in self.index and b in self.index:
                by_key.setdefault(f"link:{a}|{b}", []).extend([self.index[a], self.index[b]])
        seen: set[tuple[int, int]] = set()
        for members in by_key.values():
            if len(members) < 2 or len(members) > 200:
                continue
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    i, j = sorted((members[x], members[y]))
                    if i == j or (i, j) in seen:
                        continue
                    seen.add((i, j))
                    value = scorer.term(terms[i], terms[j])
                    if value > 0:
                        rows += [i, j]
                        cols += [j, i]
                        data += [value, value]
        self.matrix = csr_matrix((np.asarray(data), (rows, cols)), shape=(len(terms), len(terms)))
        self.matrix.sum_duplicates()

    def weights(self, nodes: Sequence[Node]) -> csr_matrix:
        rows, cols, data = [], [], []
        for r, node in enumerate(nodes):
            for t, w in zip(node.terms, node.weights, strict=True):
                rows.append(r)
                cols.append(self.index[t])
                data.append(w)
        return csr_matrix((np.asarray(data, dtype=float), (rows, cols)), shape=(len(nodes), len(self.index)))


def reach(weights: csr_matrix, space: TermSpace) -> csr_matrix:
    """node x term: how well each node covers each term (capped sum of term similarities)."""
    present = weights.copy()
    present.data[:] = 1.0
    covered = csr_matrix(present @ space.matrix)
    covered.data = np.minimum(covered.data, 1.0)
    return covered


def name_similarities(weights: csr_matrix, covered: csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Name similarity of the node pairs (i, j), vectorised: each term's best partner is taken
    as the capped sum of its similarities to the other name's terms (one partner in practice)."""
    totals = np.asarray(weights.sum(axis=1)).ravel()
    totals[totals == 0] = 1.0
    forward = np.asarray(weights[i].multiply(covered[j]).sum(axis=1)).ravel() / totals[i]
    backward = np.asarray(weights[j].multiply(covered[i]).sum(axis=1)).ravel() / totals[j]
    return np.asarray(0.5 * (forward + backward) - CONFLICT * np.minimum(1 - forward, 1 - backward))


def merge_profiles(
    labels: Sequence[int], nodes: Sequence[Node], weights: csr_matrix, space: TermSpace, cut: float
) -> list[int]:
    """Second pass: merge clusters whose word profiles agree, whatever their spellings.

    Average linkage over spellings stalls when one function has two families of spellings
    (Indonesian names and English ones, or two action synonyms) whose members meet only
    half-way one by one. Each cluster's *profile* is the app-weighted sum of its members'
    term weights; two profiles are compared by soft cosine (the cosine with the term
    similarity matrix in between, so "pesan" meets "reservation" at the similarity the two
    words have), and clusters are merged by average linkage over those while >= ``cut``.
    """
    ids = sorted(set(labels))
    position = {label: k for k, label in enumerate(ids)}
    rows = [position[label] for label in labels]
    member = csr_matrix(
        (np.asarray([float(n.apps) for n in nodes]), (rows, list(range(len(nodes))))), shape=(len(ids), len(nodes))
    )
    profiles = csr_matrix(member @ weights)
    kernel = csr_matrix(profiles @ space.matrix @ profiles.T).tocoo()
    norms = np.sqrt(np.maximum(kernel.diagonal(), 1e-12))
    edges: dict[tuple[int, int], float] = {}
    for i, j, value in zip(kernel.row.tolist(), kernel.col.tolist(), kernel.data.tolist(), strict=True):
        if i < j:
            edges[i, j] = value / (norms[i] * norms[j])
    sizes = np.asarray(member.sum(axis=1)).ravel().tolist()
    merged = average_linkage(len(ids), sizes, edges, cut)
    return [ids[merged[position[label]]] for label in labels]


def cluster(
    nodes: Sequence[Node],
    scorer: Scorer,
    blocking: Callable[[str], frozenset[str]],
    cut: float,
    floor: float = 0.2,
    block_limit: int = 400,
    profile_cut: float | None = None,
) -> tuple[list[int], csr_matrix, csr_matrix]:
    """Cluster labels per node (and the weights and coverage matrices, to explain the result)."""
    space = TermSpace(nodes, scorer)
    weights = space.weights(nodes)
    covered = reach(weights, space)
    pairs = candidate_pairs(nodes, blocking, block_limit)
    edges: dict[tuple[int, int], float] = {}
    if pairs:
        i = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        j = np.fromiter((p[1] for p in pairs), dtype=np.int64, count=len(pairs))
        similarity = name_similarities(weights, covered, i, j)
        keep = similarity >= floor
        edges = dict(zip(zip(i[keep].tolist(), j[keep].tolist(), strict=True), similarity[keep].tolist(), strict=True))
    labels = average_linkage(len(nodes), [float(n.apps) for n in nodes], edges, cut)
    if profile_cut is not None:
        labels = merge_profiles(labels, nodes, weights, space, profile_cut)
    return labels, weights, covered
