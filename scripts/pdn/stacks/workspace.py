"""Where a stack runs: the repository itself, or a lab copy with the lab's endpoints.

Outside the lab, the Automation API works in the repository: ``Pulumi.yaml`` at the root and the
stack files in ``stacks/`` (credentials set there as Pulumi secrets). In the lab the stack config
must point at lab clusters and lab object stores; writing that into ``stacks/`` would dirty the
repository, so the lab gets its own project folder under ``.lab/stacks/`` whose ``Pulumi.yaml``
runs the same ``infra/`` program and whose stack files are the repository's plus lab overrides.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pdn import paths, safeload
from pdn.errors import InputError, PdnError


def stack_sites() -> list[str]:
    """One stack per site of the site model (``stacks/sites.yaml``), in build order."""
    from pdn.sites import load_sites

    return [site.id for site in sorted(load_sites().sites, key=lambda site: site.order)]


def stack_file(site: str) -> Path:
    """The repository's stack file of ``site`` (``stacks/Pulumi.<site>.yaml``)."""
    return paths.repo_root() / "stacks" / f"Pulumi.{site}.yaml"


@dataclass(frozen=True)
class Workspace:
    work_dir: Path
    env: dict[str, str]
    policy_pack: Path
    policy_config: Path | None
    lab: bool


def plugin_dir() -> Path:
    """Shims for the Python dynamic-provider and policy-analyzer plugins (this interpreter)."""
    folder = paths.cache_dir() / "stacks" / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    shims = {
        "pulumi-resource-pulumi-python": "pulumi.dynamic",
        "pulumi-analyzer-policy-python": "pulumi.policy",
    }
    for name, module in shims.items():
        path = folder / name
        text = f'#!/bin/sh\nexec "{sys.executable}" -u -m {module} "$@"\n'
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            path.chmod(0o755)
    return folder


def _pulumi_bin_dirs() -> list[str]:
    try:
        from pdn.toolchain import bin_path

        return [str(p) for p in bin_path()]
    except Exception:  # toolchain not set up: rely on PATH
        return []


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key.startswith(("PULUMI_", "PATH", "HOME"))}
    if "PDN_SITES" in os.environ:  # the program and the policy pack read the same site model as this process
        env["PDN_SITES"] = str(Path(os.environ["PDN_SITES"]).resolve())  # the program runs in its own folder
    env.update(extra or {})
    path = [str(plugin_dir()), *_pulumi_bin_dirs(), str(Path(sys.executable).parent), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(p for p in path if p)
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    env.setdefault("PULUMI_DIY_BACKEND_NO_LEGACY_WARNING", "true")
    env.setdefault("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "true")
    return env


def repo_workspace(backend: str | None) -> Workspace:
    env = base_env()
    if backend:
        env["PULUMI_BACKEND_URL"] = backend
    if not env.get("PULUMI_BACKEND_URL"):
        raise PdnError(
            "no Pulumi backend: set PULUMI_BACKEND_URL (e.g. file:///srv/pdn/state) or pass --backend",
            hint="pdn stacks never logs in to a Pulumi service; use a file:// or s3:// backend",
        )
    if not (env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise PdnError("no secrets passphrase: set PULUMI_CONFIG_PASSPHRASE_FILE to a file outside the repository")
    return Workspace(paths.repo_root(), env, paths.repo_root() / "infra" / "policy", None, lab=False)


#: Workers of the first pool the lab's Cluster API may make (a machine is a real node: ~0.5 GiB).
LAB_WORKER_CAP = 2


def _release_images(versions: list[str]) -> dict[str, str]:
    """The node image of every release the site's machines may run, and the control-plane images
    (with kube-proxy) of every release but the site model's, which ``pdn lab capi up`` builds."""
    from pdn.capi import images
    from pdn.nodes.kubenode import ensure_kube_image, release

    for version in versions:
        if version != release():
            images.ensure_control_plane_images(version)
    return {version: ensure_kube_image(version) for version in versions}


def capi_overrides(site: str) -> dict[str, Any]:
    """Lab values for the site whose Cluster the lab's Cluster API reconciles (``pdn lab capi up
    --for SITE``): the Cluster API objects go to the management site's cluster, the machines are
    Docker provider containers of our node image (the site model's replicas, capped at what this
    machine holds: one control-plane machine and two workers of the first pool), and the tenants
    and backups go to the cluster they make."""
    from pdn.capi import state

    managing = state.management_site()
    if managing is None or state.workload_site() != site:
        return {}
    from pdn.capi import images, management
    from pdn.lab import endpoints
    from pdn.nodes.podimages import images_dir
    from pdn.sites import load_sites

    kubernetes = load_sites().site(site).kubernetes
    first_pool = kubernetes.worker_pools[0].name
    docker = {
        "nodeImages": _release_images(kubernetes.versions),
        "loadBalancerImageRepository": images.LB_REPOSITORY,
        "loadBalancerImageTag": images.ensure_lb_image().rsplit(":", 1)[1],
        "imagesDir": str(images_dir()),
        "networkSubnet": management.ensure_kind_network(),
        "controlPlaneReplicas": 1,
        "workerReplicas": {first_pool: LAB_WORKER_CAP},
    }
    return {
        "kubeconfig": str(endpoints.kubeconfig_path(managing)),
        "clusterIdentifier": f"pdn-lab-{managing}",
        "infrastructure": {"kind": "docker", "docker": docker},
        "workloadCluster": "cluster-api",
    }


def lab_overrides(site: str, crd_dir: Path) -> dict[str, Any]:
    """Lab values of the ``pdn:`` config for ``site``: cluster, object stores, CRDs (and, for the
    site the lab's Cluster API reconciles, :func:`capi_overrides`)."""
    from pdn.lab import endpoints

    sites = stack_sites()
    return {
        "s3Regions": {s: endpoints.s3_region(s) for s in sites},
        "kubeconfig": str(endpoints.kubeconfig_path(site)),
        "clusterIdentifier": f"pdn-lab-{site}",
        "s3Endpoints": {s: endpoints.s3_endpoint(s) for s in sites},
        "s3ClusterEndpoints": endpoints.cluster_s3_endpoints(site),
        "installCrds": True,
        "crdDir": str(crd_dir),
        "backup": {"forceDestroy": True, "retentionDays": 1},
        **capi_overrides(site),
    }


def lab_credentials() -> dict[str, dict[str, str]]:
    from pdn.lab import endpoints

    result = {}
    for site in stack_sites():
        access, secret = endpoints.s3_credentials(site)
        result[site] = {"accessKey": access, "secretKey": secret}
    return result


LAB_TENANTS = "onboarded-tenants.yaml"


def tenant_key(entry: Any) -> str:
    return str(entry.get("name", "")).strip().lower() if isinstance(entry, dict) else ""


def read_tenants_file(path: Path) -> dict[str, list[dict[str, Any]]]:
    """``site -> [tenant]`` from a ``tenants.yaml`` (``pdn migrate render`` writes one); errors name the file."""
    data = safeload.load_yaml(path) or {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of site id to a list of tenants")
    sites = stack_sites()
    for site, entries in data.items():
        if site not in sites:
            raise InputError(f"{path}: unknown site {site!r}", hint=f"sites: {', '.join(sites)}")
        if not isinstance(entries, list) or not all(tenant_key(entry) for entry in entries):
            raise InputError(f"{path}: {site}: expected a list of tenants, each with a name")
    return data


def onboard_lab_tenants(path: Path) -> None:
    """Add the tenants of ``path`` to the lab's onboarded tenants (kept across runs, gone with --purge)."""
    incoming = read_tenants_file(path)
    target = paths.lab_dir() / "stacks" / LAB_TENANTS
    known = read_tenants_file(target) if target.exists() else {}
    for site, entries in incoming.items():
        have = {tenant_key(entry) for entry in known.get(site, [])}
        known.setdefault(site, []).extend(entry for entry in entries if tenant_key(entry) not in have)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(yaml.safe_dump(known, sort_keys=True, allow_unicode=True), encoding="utf-8")
    temporary.replace(target)


def _merge_tenants(config: dict[str, Any], onboarded: list[dict[str, Any]]) -> None:
    """The stack's own tenants first; onboarded ones whose name the stack does not have yet after them."""
    own = list(config.get("pdn:tenants") or [])
    names = {tenant_key(entry) for entry in own}
    extra = [entry for entry in onboarded if tenant_key(entry) not in names]
    if extra:
        config["pdn:tenants"] = own + extra


def lab_workspace(sites: list[str], crd_dir: Path) -> Workspace:
    """Write ``.lab/stacks/`` (project + stack files) and return a workspace running there."""
    from pdn.lab import endpoints

    work = paths.lab_dir() / "stacks"
    work.mkdir(parents=True, exist_ok=True)
    onboarded = read_tenants_file(work / LAB_TENANTS) if (work / LAB_TENANTS).exists() else {}
    repo = paths.repo_root()
    project = safeload.load_yaml(repo / "Pulumi.yaml")
    project["main"] = os.path.relpath(repo / "infra", work)
    project.pop("stackConfigDir", None)
    options = project.setdefault("runtime", {}).setdefault("options", {})
    options["virtualenv"] = str(repo / ".venv")
    (work / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    for site in sites:
        source = safeload.load_yaml(stack_file(site))
        config = dict(source.get("config") or {})
        for key, value in lab_overrides(site, crd_dir).items():
            config[f"pdn:{key}"] = value
        _merge_tenants(config, onboarded.get(site, []))
        target = work / f"Pulumi.{site}.yaml"
        previous = safeload.load_yaml(target) if target.exists() else {}
        keep = {k: v for k, v in (previous or {}).items() if k != "config"}  # encryptionsalt
        keep_config = {k: v for k, v in ((previous or {}).get("config") or {}).items() if k == "pdn:s3Credentials"}
        target.write_text(
            yaml.safe_dump({**keep, "config": {**config, **keep_config}}, sort_keys=False), encoding="utf-8"
        )
    env = base_env(dict(endpoints.pulumi_env()))
    policy_pack = lab_policy_pack(work / "policy", repo / "infra" / "policy")
    policy_config = work / "policy-config.json"
    lab_endpoints = {endpoints.s3_endpoint(s).rstrip("/"): s for s in stack_sites()}
    lab_endpoints.update(
        {url.rstrip("/"): s for site in stack_sites() for s, url in endpoints.bridge_s3_endpoints(site).items()}
    )
    policy_config.write_text(json.dumps({"data-residency": {"labEndpoints": lab_endpoints}}, indent=2))
    return Workspace(work, env, policy_pack, policy_config, lab=True)


def lab_policy_pack(target: Path, source: Path) -> Path:
    """The policy pack as an executable analyzer plugin (the lab's language host has no RunPlugin).

    The Pulumi CLI launches a ``--policy-pack`` that is an executable file directly, as a binary
    analyzer; this one runs the very same ``infra/policy/__main__.py`` with this interpreter.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "PulumiPolicy.yaml", target / "PulumiPolicy.yaml")
    launcher = target / "pdn-policy"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -u "{source / "__main__.py"}" "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    return launcher
