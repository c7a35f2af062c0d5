"""RTO of the drill for several sizes, side by side with what an operator would otherwise run.

For each size N (seeded objects) on SOURCE → PARTNER, against the running lab with the stacks up:

1. ``pdn backup drill`` (Python API, ``keep=True``): RTO = Velero restore + structured verification;
2. the same backup restored by hand: ``velero restore create --from-backup … --namespace-mappings …
   --exclude-resources … --wait``, then ``kubectl get … -o yaml`` on both sides and ``diff`` (which
   prints every uid, resourceVersion and timestamp, so it verifies nothing by itself);
3. a plain copy, no backup at all: ``kubectl get … -o json`` on the source, server fields stripped,
   ``kubectl apply --server-side`` on the partner (no off-site copy, no immutability, no check).

Usage (from the repository root, lab and stacks up):

    .venv/bin/python bench/backup/bench_backup.py --sizes 100,1000,5000 --out out/bench-backup.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pdn.backup import drill, drill_plan, kube
from pdn.lab import endpoints
from pdn.toolchain import resolve

KINDS = "configmaps,secrets,services,serviceaccounts,deployments,roles,rolebindings,networkpolicies"
DROP_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences")


def _run(command: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # diff exits 1 when files differ
        raise SystemExit(f"{' '.join(command[:4])}… failed: {done.stderr.strip()[:400]}")
    return done


def _kubectl(site: str, *args: str) -> list[str]:
    return [str(resolve("kubectl")), "--kubeconfig", str(endpoints.kubeconfig_path(site)), *args]


def velero_cli(result: Any, source_ns: str, partner: str, source: str, workdir: Path) -> dict[str, Any]:
    """Restore the drill's backup with the velero CLI, then dump both sides and diff them."""
    target = f"cli-{source_ns}"[:63]
    name = f"bench-cli-{int(time.time())}"
    started = time.monotonic()
    _run(
        [
            str(resolve("velero")),
            "--kubeconfig",
            str(endpoints.kubeconfig_path(partner)),
            "-n",
            "velero",
            "restore",
            "create",
            name,
            "--from-backup",
            result.backup_name,
            "--namespace-mappings",
            f"{source_ns}:{target}",
            "--exclude-resources",
            ",".join(drill_plan.DERIVED_RESOURCES),
            "--wait",
        ]
    )
    restored = time.monotonic()
    left = _run(_kubectl(source, "get", KINDS, "-n", source_ns, "-o", "yaml")).stdout
    right = _run(_kubectl(partner, "get", KINDS, "-n", target, "-o", "yaml")).stdout
    (workdir / "source.yaml").write_text(left)
    (workdir / "restored.yaml").write_text(right)
    diff = _run(["diff", str(workdir / "source.yaml"), str(workdir / "restored.yaml")]).stdout
    finished = time.monotonic()
    kube.delete_namespace(partner, target)
    kube.velero_delete(partner, "restores", name)
    return {
        "restore_seconds": round(restored - started, 2),
        "total_seconds": round(finished - started, 2),
        "diff_lines": len(diff.splitlines()),
    }


def kubectl_copy(source_ns: str, partner: str, source: str) -> dict[str, Any]:
    """Copy the namespace's objects with kubectl (what a hurried operator does without Velero)."""
    target = f"cp-{source_ns}"[:63]
    started = time.monotonic()
    listing = json.loads(_run(_kubectl(source, "get", KINDS, "-n", source_ns, "-o", "json")).stdout)
    items = []
    for item in listing["items"]:
        meta = item["metadata"]
        if (item["kind"], meta["name"]) in kube.CLUSTER_OWNED:
            continue
        for key in DROP_META:
            meta.pop(key, None)
        meta["namespace"] = target
        item.pop("status", None)
        if item["kind"] == "Service":
            item["spec"].pop("clusterIP", None)
            item["spec"].pop("clusterIPs", None)
        items.append(item)
    _run(_kubectl(partner, "create", "namespace", target))
    manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    _run(_kubectl(partner, "apply", "--server-side", "-f", "-"), stdin=manifest)
    finished = time.monotonic()
    kube.delete_namespace(partner, target)
    return {"total_seconds": round(finished - started, 2), "objects": len(items)}


def bench(size: int, source: str, partner: str, out: Path) -> dict[str, Any]:
    folder = out.parent / f"bench-backup-{size}"
    result = drill.run(
        drill_plan.DrillOptions(source=source, partner=partner, seed=size, keep=True, report_dir=folder), say=print
    )
    phases = {phase.name: round(phase.seconds, 2) for phase in result.phases}
    source_ns = next(iter(result.namespaces))
    row: dict[str, Any] = {
        "size": size,
        "passed": result.passed,
        "objects_compared": result.comparison.compared,
        "objects_equal": result.comparison.equal,
        "restored_items": result.restored_items,
        "rto_seconds": round(result.rto_seconds, 2),
        "phases": phases,
    }
    row["velero_cli"] = velero_cli(result, source_ns, partner, source, folder)
    row["kubectl_copy"] = kubectl_copy(source_ns, partner, source)
    row["ratio_vs_velero_cli"] = round(row["rto_seconds"] / row["velero_cli"]["total_seconds"], 2)
    row["ratio_vs_kubectl_copy"] = round(row["rto_seconds"] / row["kubectl_copy"]["total_seconds"], 2)
    for restored in result.namespaces.values():
        kube.delete_namespace(partner, restored)
    kube.velero_delete(partner, "restores", result.backup_name)
    kube.delete_namespace(source, source_ns)
    print(json.dumps(row, indent=2), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--source", default="cikarang")
    parser.add_argument("--partner", default="batam")
    parser.add_argument("--out", type=Path, default=Path("out/bench-backup.json"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = [bench(int(size), args.source, args.partner, args.out) for size in args.sizes.split(",")]
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
