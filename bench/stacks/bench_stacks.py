"""Time ``pulumi up`` and a no-change ``preview`` per site against the lab, and the floor.

The floor is the same Kubernetes objects applied with server-side apply through the kube client
(what ``kubectl apply --server-side`` does, without building kubectl): the objects are read back
from the stack's state, so both sides apply exactly the same set. Buckets (boto3) are counted
by Pulumi but not by the floor.

    .venv/bin/python bench/stacks/bench_stacks.py [--sites cikarang,batam] [--out out/bench-stacks.json]

Needs the lab (pdn lab up). Results go to docs/benchmarks.md under "Stacks".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, dynamic

from pdn.stacks import crds
from pdn.stacks.runner import pulumi_command, run
from pdn.stacks.workspace import lab_workspace, stack_sites

SECRET_SIG = "4dabf18193072939515e22adb298388d"


def unwrap(value: Any) -> Any:
    """Replace Pulumi's exported secret envelopes (``--show-secrets``) by their plaintext."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270" and "plaintext" in value:
            return unwrap(json.loads(value["plaintext"]))
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def state_objects(work_dir: Path, env: dict[str, str], site: str) -> list[dict[str, Any]]:
    binary = pulumi_command(env).command
    text = subprocess.run(
        [binary, "stack", "export", "--stack", site, "--show-secrets"],
        cwd=work_dir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    objects = []
    for resource in json.loads(text)["deployment"].get("resources", []):
        if (
            resource["type"].startswith("kubernetes:")
            and resource.get("custom")
            and "providers" not in resource["type"]
        ):
            inputs = unwrap(dict(resource.get("inputs") or {}))
            inputs.pop("__inputs", None)
            if "apiVersion" in inputs and "kind" in inputs:
                objects.append(inputs)
    return objects


def server_side_apply(site: str, objects: list[dict[str, Any]]) -> float:
    from pdn.lab import endpoints

    kube = config.new_client_from_config(config_file=str(endpoints.kubeconfig_path(site)))  # type: ignore[no-untyped-call]
    api = dynamic.DynamicClient(kube)  # type: ignore[no-untyped-call]
    start = time.monotonic()
    for obj in objects:
        resource = api.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        namespace = (obj.get("metadata") or {}).get("namespace")
        resource.server_side_apply(body=obj, namespace=namespace, field_manager="bench-floor", force_conflicts=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", default=",".join(stack_sites()))
    parser.add_argument("--out", default="out/bench-stacks.json")
    args = parser.parse_args()
    sites = args.sites.split(",")
    ws = lab_workspace(sites, crds.fetch())
    rows = []
    for site in sites:
        (up,) = run(ws, [site], "up")
        (preview,) = run(ws, [site], "preview")
        objects = state_objects(ws.work_dir, ws.env, site)
        floor = server_side_apply(site, objects)
        rows.append(
            {
                "site": site,
                "up_s": round(up.seconds, 2),
                "preview_s": round(preview.seconds, 2),
                "resources": sum(preview.changes.values()),
                "k8s_objects": len(objects),
                "ssa_floor_s": round(floor, 2),
                "up_over_floor": round(up.seconds / max(floor, 0.01), 1),
                "preview_over_floor": round(preview.seconds / max(floor, 0.01), 1),
            }
        )
        print(json.dumps(rows[-1]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    _ = client  # kube client configured above


if __name__ == "__main__":
    main()
