"""Dedup quality: pdn's glossary dedup vs plain TF-IDF and MinHash-LSH (connected components).

Usage: .venv/bin/python bench/migrate/dedup_quality.py [INVENTORY_DIR]
Generates the 24,400-app inventory (seed 42) when no folder is given. Baselines get their best
threshold on the same labels (a generous comparison: ours has no threshold tuned on them).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

from pdn.migrate import baselines, dedup, inventory
from pdn.migrate.generate import generate
from pdn.migrate.glossary import load_glossary
from pdn.migrate.metrics import pairwise


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "inventory"
    if not (folder / "labels.csv").is_file():
        generate(folder, seed=42)
    apps = inventory.load(folder).apps
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        truth = {row["app_id"]: row["function"] for row in csv.DictReader(handle)}
    ids = [app.app_id for app in apps]
    names = [app.name for app in apps]
    print(f"{len(apps)} apps, {len(set(truth.values()))} true functions")
    print(f"{'method':34} {'precision':>9} {'recall':>7} {'F1':>7} {'clusters':>8} {'seconds':>8}")

    start = time.perf_counter()
    ours = dedup.cluster_ids(dedup.assign(apps, load_glossary()))
    seconds = time.perf_counter() - start
    s = pairwise(ours, truth)
    print(
        f"{'pdn dedup (glossary + blocking)':34} {s.precision:9.4f} {s.recall:7.4f} {s.f1:7.4f} "
        f"{len(set(ours.values())):8d} {seconds:8.2f}"
    )

    for label, build, grid in (
        ("TF-IDF char-3gram cosine", baselines.tfidf_edges, (0.5, 0.6, 0.7, 0.8, 0.9)),
        ("MinHash-LSH 128x32 Jaccard", baselines.minhash_edges, (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)),
    ):
        start = time.perf_counter()
        n, owner, i, j, sim = build(names)
        built = time.perf_counter() - start
        best = None
        for threshold in grid:
            labels = baselines.clusters_from_edges(n, owner, i, j, sim, threshold)
            predicted = dict(zip(ids, (str(x) for x in labels), strict=True))
            score = pairwise(predicted, truth)
            if best is None or score.f1 > best[0].f1:
                best = (score, threshold, len(set(labels)))
        assert best is not None
        score, threshold, count = best
        print(
            f"{label + f' (best t={threshold})':34} {score.precision:9.4f} {score.recall:7.4f} {score.f1:7.4f} "
            f"{count:8d} {built:8.2f}"
        )


if __name__ == "__main__":
    main()
