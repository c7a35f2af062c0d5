"""Dedup quality per split: seen families vs long-tail families nobody tuned on.

Usage:
  .venv/bin/python bench/migrate/dedup_splits.py --split heldout --apps 3000 --seed 5
  .venv/bin/python bench/migrate/dedup_splits.py --split heldout --apps 24400 --seed 42
  .venv/bin/python bench/migrate/dedup_splits.py --split tuning ...   # the split tuning may use

Generates the inventory (``pdn migrate generate --split ...``, not timed) into a temporary
folder (or ``--keep DIR``), runs dedup once and prints pairwise precision, recall and F1 for
all apps, the seen families and the split's long-tail families. Held-out precision counts
every predicted pair with a held-out app in it, so a held-out app merged into a seen family
costs held-out precision.
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from pathlib import Path

from pdn.migrate import dedup, inventory
from pdn.migrate.generate import generate
from pdn.migrate.glossary import load_glossary
from pdn.migrate.metrics import by_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--split",
        choices=("seen", "tuning", "heldout", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6"),
        default="heldout",
    )
    parser.add_argument("--apps", type=int, default=24_400)
    parser.add_argument("--datacenters", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the inventory (and clusters.csv) here.")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="pdn-dedup-"))
    datacenters = args.datacenters or max(50, args.apps * 2_700 // 24_400)
    if not (folder / "labels.csv").is_file():
        generate(folder, apps=args.apps, datacenters=datacenters, seed=args.seed, split=args.split)
    apps = inventory.load(folder).apps
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    truth = {row["app_id"]: row["function"] for row in rows}
    splits = {row["app_id"]: row.get("split") or "seen" for row in rows}
    start = time.perf_counter()
    assignments = dedup.assign(apps, load_glossary())
    seconds = time.perf_counter() - start
    predicted = dedup.cluster_ids(assignments)
    if args.keep:
        dedup.run(apps, folder)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(apps)} apps, split {args.split}, seed {args.seed}: dedup {seconds:.1f} s, peak RSS {rss:.0f} MiB")
    print(f"{'apps':8} {'functions':>9} {'precision':>9} {'recall':>7} {'F1':>7}")
    for name, scores in by_split(predicted, truth, splits).items():
        members = [app for app, split in splits.items() if name in ("all", split)]
        functions = len({truth[app] for app in members})
        print(f"{name:8} {functions:9d} {scores.precision:9.4f} {scores.recall:7.4f} {scores.f1:7.4f}")


if __name__ == "__main__":
    main()
