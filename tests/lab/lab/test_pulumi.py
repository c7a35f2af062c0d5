"""``pulumi`` runs offline against one lab site: file backend, passphrase secrets, the
Kubernetes provider from the toolchain and pdn's Python language host."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config

from pdn.lab import layout
from pdn.toolchain import resolve

PROGRAM = """
import pulumi
import pulumi_kubernetes as k8s

settings = pulumi.Config()
provider = k8s.Provider("lab", kubeconfig=settings.require("kubeconfig"))
cm = k8s.core.v1.ConfigMap(
    "smoke",
    metadata={"name": settings.require("name"), "namespace": "default"},
    data={"site": settings.require("site")},
    opts=pulumi.ResourceOptions(provider=provider),
)
pulumi.export("name", cm.metadata["name"])
pulumi.export("token", settings.require_secret("token"))
"""


def _pulumi(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(resolve("pulumi")), *args, "--non-interactive", "--cwd", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def _state(stack: str) -> dict[str, Any]:
    """The stack's checkpoint in the lab's file backend (exactly one file must hold it)."""
    files = list(layout.pulumi_backend_dir().rglob(f"{stack}.json"))
    assert len(files) == 1, f"state files of {stack}: {files}"
    data: dict[str, Any] = json.loads(files[0].read_text(encoding="utf-8"))
    return data


def test_pulumi_up_and_destroy_a_trivial_program(lab: Any, tmp_path: Path) -> None:
    site = lab.sites[0]
    project = tmp_path / "smoke"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: pdn-lab-smoke\nruntime: python\n")
    (project / "__main__.py").write_text(PROGRAM)
    env = {**os.environ, **lab.pulumi_env()}
    stack = f"smoke-{uuid.uuid4().hex[:6]}"
    name = f"pulumi-{stack}"
    _pulumi(project, env, "stack", "init", stack)
    try:
        _pulumi(project, env, "config", "set", "kubeconfig", str(lab.kubeconfig_path(site)))
        _pulumi(project, env, "config", "set", "name", name)
        _pulumi(project, env, "config", "set", "site", site)
        _pulumi(project, env, "config", "set", "--secret", "token", "s3cr3t-value-for-test")
        _pulumi(project, env, "up", "--yes", "--skip-preview")

        api = config.new_client_from_config(config_file=str(lab.kubeconfig_path(site)))
        assert client.CoreV1Api(api).read_namespaced_config_map(name, "default").data == {"site": site}
        outputs = json.loads(_pulumi(project, env, "stack", "output", "--json").stdout)
        assert outputs["name"] == name and outputs["token"] == "[secret]"
        state = _state(stack)  # the file backend holds the stack ...
        resources = {item["type"]: item for item in state["checkpoint"]["latest"]["resources"]}
        assert resources["kubernetes:core/v1:ConfigMap"]["outputs"]["metadata"]["name"] == name
        assert resources["pulumi:pulumi:Stack"]["urn"].endswith(f"pdn-lab-smoke-{stack}")
        raw = json.dumps(state)
        assert "s3cr3t-value-for-test" not in raw  # ... with the secret encrypted
        assert resources["pulumi:pulumi:Stack"]["outputs"]["token"]["ciphertext"]
        preview = _pulumi(project, env, "preview", "--expect-no-changes")
        assert "error" not in preview.stderr.lower()

        _pulumi(project, env, "destroy", "--yes", "--skip-preview")
        core = client.CoreV1Api(api)
        assert name not in {item.metadata.name for item in core.list_namespaced_config_map("default").items}
        assert not _state(stack)["checkpoint"]["latest"].get("resources")  # and the state knows it
    finally:
        subprocess.run(
            [str(resolve("pulumi")), "stack", "rm", "--yes", "--force", stack, "--cwd", str(project)],
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )
