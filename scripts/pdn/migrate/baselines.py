"""The standard near-duplicate approaches dedup is measured against (bench/migrate/dedup_quality.py).

Both work on the plain lower-cased name (punctuation removed), without the glossary, and link
records whose similarity passes a threshold, then take connected components:

* ``tfidf_clusters``: character-trigram TF-IDF, cosine similarity (sparse product, in chunks).
* ``minhash_clusters``: MinHash signatures of character trigrams, LSH banding for candidates,
  estimated Jaccard to confirm.

Identical names are merged first (any method would), so the work is on distinct names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

PLAIN = re.compile(r"[^a-z0-9]+")


def _plain(name: str) -> str:
    return " " + PLAIN.sub(" ", name.lower()).strip() + " "


def _grams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(max(1, len(text) - 2))}


def _distinct(names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    texts = [_plain(n) for n in names]
    unique: dict[str, int] = {}
    owner = np.array([unique.setdefault(t, len(unique)) for t in texts])
    return list(unique), owner


def _components(count: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(count, count))
    return np.asarray(connected_components(graph, directed=False)[1])


def tfidf_edges(
    names: Sequence[str], floor: float = 0.4, chunk: int = 2000
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i, j, cosine >= floor) between distinct names; returns (n, owner, i, j, sim)."""
    from scipy.sparse import csr_matrix

    texts, owner = _distinct(names)
    vocab: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    for text in texts:
        for gram in _grams(text):
            indices.append(vocab.setdefault(gram, len(vocab)))
        indptr.append(len(indices))
    matrix = csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(texts), len(vocab)))
    df = np.bincount(matrix.indices, minlength=len(vocab))
    idf = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
    matrix = csr_matrix(matrix.multiply(idf.reshape(1, -1)))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    matrix = csr_matrix(matrix.multiply((1 / np.maximum(norms, 1e-9)).reshape(-1, 1)))
    transposed = matrix.T.tocsc()
    all_i, all_j, all_s = [], [], []
    for start in range(0, len(texts), chunk):
        block = (matrix[start : start + chunk] @ transposed).tocoo()
        keep = (block.data >= floor) & (block.row + start < block.col)
        all_i.append(block.row[keep] + start)
        all_j.append(block.col[keep])
        all_s.append(block.data[keep])
    return len(texts), owner, np.concatenate(all_i), np.concatenate(all_j), np.concatenate(all_s)


def clusters_from_edges(
    n: int, owner: np.ndarray, i: np.ndarray, j: np.ndarray, s: np.ndarray, threshold: float
) -> list[int]:
    keep = s >= threshold
    labels = _components(n, i[keep], j[keep])
    return [int(labels[o]) for o in owner]


def minhash_edges(
    names: Sequence[str], permutations: int = 128, bands: int = 32, seed: int = 1
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs from LSH banding with their estimated Jaccard similarity."""
    import zlib

    texts, owner = _distinct(names)
    rng = np.random.default_rng(seed)
    prime = np.uint64((1 << 61) - 1)
    a = rng.integers(1, 1 << 40, size=permutations, dtype=np.uint64)
    b = rng.integers(0, 1 << 40, size=permutations, dtype=np.uint64)
    signatures = np.empty((len(texts), permutations), dtype=np.uint64)
    for row, text in enumerate(texts):
        hashes = np.array([zlib.crc32(g.encode()) for g in _grams(text)], dtype=np.uint64)
        signatures[row] = ((np.outer(hashes, a) + b) % prime).min(axis=0)
    per_band = permutations // bands
    pairs: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        part = signatures[:, band * per_band : (band + 1) * per_band]
        for row in range(len(texts)):
            buckets.setdefault(part[row].tobytes(), []).append(row)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add((members[x], members[y]))
    if not pairs:
        empty = np.array([], dtype=np.int64)
        return len(texts), owner, empty, empty, np.array([], dtype=np.float32)
    arr = np.array(sorted(pairs), dtype=np.int64)
    similarity = (signatures[arr[:, 0]] == signatures[arr[:, 1]]).mean(axis=1).astype(np.float32)
    return len(texts), owner, arr[:, 0], arr[:, 1], similarity
