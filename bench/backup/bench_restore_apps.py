"""RTO to "app answers" of the restore drill with running apps, side by side with a hand-run restore.

For each case (apps, files per volume, MB per volume) on SOURCE → PARTNER, in one run, against the
running lab with real nodes on both sites (Velero servers and node agents up):

1. ``pdn backup drill`` (Python API, ``keep=True``, no immutability check: it is not part of the
   RTO): apps with a PVC each in a fresh drill namespace, backed up with their volumes (Kopia), and
   restored on the partner. RTO = restore start until the last app answered its smoke check
   through its Service from a probe pod, every file's SHA-256 compared;
2. the same backup restored by hand, as an operator would without pdn: ``velero restore create …
   --namespace-mappings SRC:hand-SRC --exclude-resources <derived kinds> --wait``, ``kubectl wait
   --for=condition=Available deployment --all``, then per app ``kubectl exec deploy/APP -- python3
   -m pdn.backup.volfiles manifest --dir /data`` and its digest compared with the same command on
   the source app (run before the restore, like the drill's smoke on the source). Hand RTO =
   ``velero restore create`` start until the last digest compared;
3. clean-up: both restored namespaces on the partner (the drill's is deleted before step 2, so both
   restores run on the same idle node), the drill namespace on the source. Backups stay (locked).

Usage (from the repository root, lab with real nodes and stacks up):

    .venv/bin/python bench/backup/bench_restore_apps.py --out out/bench-restore-apps.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdn.backup import drill, drill_plan, drillapps, kube
from pdn.errors import PdnError
from pdn.lab import endpoints
from pdn.toolchain import resolve

#: (apps, files per volume, MB per volume), in the order they run.
CASES = "1x300x10,5x300x10,20x300x10,1x1000x100,1x1000x1000"
GONE_TIMEOUT = 600.0
FINAL_PHASES = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
WAIT_TIMEOUT = "600s"


@dataclass(frozen=True)
class Case:
    apps: int
    files: int
    megabytes: int

    @property
    def label(self) -> str:
        size = f"{self.megabytes / 1000:g} GB" if self.megabytes >= 1000 else f"{self.megabytes} MB"
        return f"{self.apps} app(s) × {self.files} files × {size}"

    @property
    def volume_bytes(self) -> int:
        return self.megabytes * 1_000_000


def parse_cases(text: str) -> list[Case]:
    cases = []
    for item in text.split(","):
        apps, files, megabytes = (int(part) for part in item.strip().split("x"))
        cases.append(Case(apps, files, megabytes))
    return cases


def _run(command: list[str], timeout: float = 1800.0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:9])}… exit {done.returncode}: {done.stderr.strip()[:600]}")
    return done


def _kubectl(site: str, *args: str) -> list[str]:
    return [str(resolve("kubectl")), "--kubeconfig", str(endpoints.kubeconfig_path(site)), *args]


def _velero(site: str, *args: str) -> list[str]:
    return [str(resolve("velero")), "--kubeconfig", str(endpoints.kubeconfig_path(site)), "-n", "velero", *args]


def manifest_digest(site: str, namespace: str, app: str) -> dict[str, Any]:
    """What ``volfiles manifest`` prints in the app's own container: files, bytes, digest."""
    command = _kubectl(site, "exec", "-n", namespace, f"deploy/{app}", "-c", "app", "--",
                       "python3", "-m", "pdn.backup.volfiles", "manifest", "--dir", "/data")  # fmt: skip
    shown = json.loads(_run(command, timeout=600).stdout)
    return {"files": shown.get("files"), "bytes": shown.get("bytes"), "digest": shown.get("digest")}


def restore_settled(site: str, name: str, timeout: float = 900.0) -> bool:
    """Wait until the Velero restore has a final phase. A restored namespace deleted while its restore
    is still InProgress or Finalizing holds Velero's restore finalizer (one worker) in a retry that
    outlives the namespace, and every later restore on the site waits behind it."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        found = kube.velero_get(site, "restores", name)
        if found is None or found.get("status", {}).get("phase") in FINAL_PHASES:
            return True
        time.sleep(5)
    return False


def wait_gone(site: str, namespaces: list[str]) -> float:
    """Delete the namespaces and wait until they are gone (their volumes freed); returns seconds."""
    started = time.monotonic()
    for name in namespaces:
        kube.delete_namespace(site, name)
    while any(kube.namespace(site, name) is not None for name in namespaces):
        if time.monotonic() - started > GONE_TIMEOUT:
            raise RuntimeError(f"{site}: namespaces {', '.join(namespaces)} still there after {GONE_TIMEOUT:.0f} s")
        time.sleep(2)
    return round(time.monotonic() - started, 1)


def by_hand(backup: str, source: str, source_ns: str, partner: str, apps: list[str]) -> dict[str, Any]:
    """The operator's restore: velero CLI, kubectl wait, one manifest per app compared with the source's."""
    target = f"hand-{source_ns}"[:63].rstrip("-")
    name = f"hand-{backup}"[:63].rstrip("-")
    row: dict[str, Any] = {"namespace": target, "restore": name}
    src_started = time.monotonic()
    source_digests = {app: manifest_digest(source, source_ns, app) for app in apps}
    row["source_manifests_seconds"] = round(time.monotonic() - src_started, 2)
    started = time.monotonic()
    try:
        restore = _run(_velero(partner, "restore", "create", name, "--from-backup", backup, "--namespace-mappings",
                               f"{source_ns}:{target}", "--exclude-resources",
                               ",".join(drill_plan.DERIVED_RESOURCES), "--wait"))  # fmt: skip
        restored = time.monotonic()
        row["restore_seconds"] = round(restored - started, 2)
        row["velero_says"] = restore.stdout.strip().splitlines()[-1:] or [""]
        phase = _run(_velero(partner, "restore", "get", name, "-o", "json")).stdout
        row["restore_phase"] = json.loads(phase).get("status", {}).get("phase")
        _run(_kubectl(partner, "wait", "--for=condition=Available", "deployment", "--all", "-n", target,
                      f"--timeout={WAIT_TIMEOUT}"), timeout=900)  # fmt: skip
        available = time.monotonic()
        row["available_seconds"] = round(available - restored, 2)
        unequal = []
        for app in apps:
            mine = manifest_digest(partner, target, app)
            if mine != source_digests[app]:
                unequal.append({"app": app, "source": source_digests[app], "restored": mine})
        finished = time.monotonic()
        row["manifests_seconds"] = round(finished - available, 2)
        row["rto_seconds"] = round(finished - started, 2)
        row["digests_equal"] = len(apps) - len(unequal)
        row["unequal"] = unequal
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        row["failed"] = f"after {time.monotonic() - started:.0f} s: {error}"
    return row


def bench(case: Case, source: str, partner: str, out: Path) -> dict[str, Any]:
    folder = out.parent / f"bench-restore-apps-{case.apps}x{case.files}x{case.megabytes}"
    row: dict[str, Any] = {"case": case.label, "apps": case.apps, "files": case.files, "mb_per_app": case.megabytes}
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        print(line, flush=True)

    options = drill_plan.DrillOptions(source=source, partner=partner, keep=True, report_dir=folder, immutability=False,
                                      apps=case.apps, files=case.files, volume_bytes=case.volume_bytes)  # fmt: skip
    started = time.monotonic()
    source_ns = restored_ns = ""
    try:
        result = drill.run(options, say=say)
    except (PdnError, RuntimeError) as error:  # a resource limit or a timeout is a finding: record it
        row["pdn"] = {"failed": f"after {time.monotonic() - started:.0f} s: {error}"}
        # The drill's first line names its namespace: "drill S → P: namespaces drill-<run id>; …".
        found = next((m for line in said if (m := re.search(r"namespaces (drill-(\d+));", line))), None)
        if found is not None:
            source_ns = found.group(1)
            restored_ns = drill_plan.drill_namespace(source_ns, found.group(2))
    else:
        source_ns, restored_ns = next(iter(result.namespaces.items()))
        phases = {phase.name: round(phase.seconds, 2) for phase in result.phases}
        volumes = [answer["volume"] for answer in result.source_answers.values()]
        row["backup"] = result.backup_name
        row["pdn"] = {
            "passed": result.passed,
            "rto_seconds": round(result.rto_seconds, 2),
            "restore_seconds": phases.get("restore"),
            "apps_answer_seconds": phases.get("apps answer on partner"),
            "apps_equal": result.apps_equal,
            "apps": len(result.source_answers),
            "volume_bytes": sum(int(v.get("bytes") or 0) for v in volumes),
            "volume_files": sum(int(v.get("files") or 0) for v in volumes),
            "objects_equal": f"{result.comparison.equal}/{result.comparison.compared}",
            "app_problems": result.app_problems,
            "phases": phases,
        }
    if "backup" in row:
        row["cleanup_pdn_restore_seconds"] = wait_gone(partner, [restored_ns])
        apps = [app.name for app in drillapps.find_apps(source, source_ns)]
        row["hand"] = by_hand(row["backup"], source, source_ns, partner, apps)
        if restore_settled(partner, row["hand"]["restore"]):
            row["cleanup_hand_seconds"] = wait_gone(partner, [row["hand"]["namespace"]])
            kube.velero_delete(partner, "restores", row["hand"]["restore"])
        else:
            row["left_for_inspection"] = f"{partner}: {row['hand']['namespace']} (its restore never finished)"
        hand_rto, pdn_rto = row["hand"].get("rto_seconds"), row["pdn"]["rto_seconds"]
        row["ratio_pdn_vs_hand"] = round(pdn_rto / hand_rto, 2) if hand_rto else None
        if kube.velero_get(partner, "restores", row["backup"]) is not None:
            kube.velero_delete(partner, "restores", row["backup"])
    elif restored_ns:
        restore = f"drill-{source}-{source_ns.removeprefix('drill-')}"
        if restore_settled(partner, restore):
            row["cleanup_pdn_restore_seconds"] = wait_gone(partner, [restored_ns])
        else:
            row["left_for_inspection"] = f"{partner}: {restored_ns} (restore {restore} never reached a final phase)"
    if source_ns:
        row["cleanup_source_seconds"] = wait_gone(source, [source_ns])
    print(json.dumps(row, indent=2), flush=True)
    return row


def _cell(value: Any, fmt: Callable[[Any], str] = lambda v: f"{v:.1f}") -> str:
    return "-" if value is None else fmt(value)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | pdn RTO (s) | of which restore / apps answer (s) | apps equal | hand RTO (s) | of which "
        "restore / wait / manifests (s) | digests equal | pdn / hand |",
        "| --- | ---: | --- | --- | ---: | --- | --- | ---: |",
    ]
    for row in rows:
        pdn, hand = row.get("pdn", {}), row.get("hand", {})
        if "failed" in pdn:
            lines.append(f"| {row['case']} | failed: {pdn['failed'][:200]} | | | | | | |")
            continue
        split = f"{_cell(pdn.get('restore_seconds'))} / {_cell(pdn.get('apps_answer_seconds'))}"
        if "failed" in hand:
            hand_cells = f"failed: {hand['failed'][:200]} | | | -"
        else:
            hand_split = " / ".join(_cell(hand.get(k)) for k in ("restore_seconds", "available_seconds",
                                                                 "manifests_seconds"))  # fmt: skip
            ratio = _cell(row.get("ratio_pdn_vs_hand"), lambda v: f"{v:.2f}")
            equal = f"{hand.get('digests_equal')}/{row['apps']}"
            hand_cells = f"{_cell(hand.get('rto_seconds'))} | {hand_split} | {equal} | {ratio}"
        lines.append(f"| {row['case']} | {_cell(pdn.get('rto_seconds'))} | {split} | {pdn.get('apps_equal')}/"
                     f"{pdn.get('apps')} | {hand_cells} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", default=CASES, help="comma-separated APPSxFILESxMB (MB per app volume)")
    parser.add_argument("--source", default="cikarang")
    parser.add_argument("--partner", default="batam")
    parser.add_argument("--out", type=Path, default=Path("out/bench-restore-apps.json"))
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"load_average_at_start": list(os.getloadavg()), "cases": []}
    print(f"load average at start: {document['load_average_at_start']}", flush=True)
    for case in parse_cases(args.cases):
        try:
            document["cases"].append(bench(case, args.source, args.partner, args.out))
        except Exception as error:  # one broken case must not lose the others' numbers
            traceback.print_exc()
            document["cases"].append({"case": case.label, "apps": case.apps, "pdn": {"failed": repr(error)}})
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    document["load_average_at_end"] = list(os.getloadavg())
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(table(document["cases"]))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
