"""Bring lab sites up and down, and report their health.

``up`` is convergent: a component that runs and answers is left alone, a dead one (stale pid
file, ``kill -9``) is started again on the same data directory. Sites start in parallel; inside
a site the order is etcd and MinIO, then kube-apiserver, then the rest, then the fake nodes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pdn import kube, paths
from pdn.errors import InputError, PdnError
from pdn.kube import KubeError
from pdn.lab import layout
from pdn.lab.components import COMPONENTS, Component, components, prepare_site
from pdn.lab.fake_nodes import site_nodes
from pdn.lab.nodesync import converge_nodes, ready_nodes
from pdn.lab.processes import ProcessSpec, rss_bytes, running_pid, start, started_at, stop
from pdn.sites import Site, SiteModel, load_sites
from pdn.toolchain import resolve
from pdn.wait import wait_until

TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "minio")
READY_TIMEOUT = 90.0  # seconds a component may take to answer its health check
NODES_TIMEOUT = 60.0

Report = Callable[[str, str], None]  # (site, message)


@dataclass
class SiteResult:
    site: str
    started: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    nodes: tuple[int, int] = (0, 0)
    seconds: float = 0.0


@dataclass(frozen=True)
class ComponentStatus:
    site: str
    name: str
    pid: int | None
    port: int
    healthy: bool
    stale: bool  # a pid file whose process is gone (crashed or killed)
    rss: int
    uptime: float | None

    @property
    def state(self) -> str:
        if self.pid is None:
            return "dead (stale pid)" if self.stale else "stopped"
        return "healthy" if self.healthy else "unhealthy"


def select_sites(model: SiteModel, wanted: Iterable[str] = ()) -> list[Site]:
    """Sites named in ``wanted`` (all when empty), in site-model order."""
    names = list(wanted)
    unknown = [name for name in names if name not in model.ids]
    if unknown:
        raise InputError(f"unknown site(s) {', '.join(unknown)}; known sites: {', '.join(model.ids)}")
    order = layout.site_ids(model)
    return sorted((site for site in model.sites if not names or site.id in names), key=lambda s: order.index(s.id))


def _wait(component: Component, deadline: float, site: str) -> None:
    def healthy() -> bool:
        if component.health():
            return True
        if running_pid(component.spec) is None:
            raise PdnError(f"{site} {component.spec.name} exited while starting", hint=f"see {component.spec.log_file}")
        return False

    wait_until(
        f"{site} {component.spec.name} to answer its health check", healthy,
        timeout=max(0.0, deadline - time.monotonic()), interval=0.1, describe=lambda _: "not healthy",
        hint=f"see {component.spec.log_file}",
    )  # fmt: skip


def _ensure(component: Component, result: SiteResult) -> bool:
    """Start ``component`` unless it already runs; True when it was started now."""
    if running_pid(component.spec) is not None:
        result.kept.append(component.spec.name)
        return False
    start(component.spec)
    result.started.append(component.spec.name)
    return True


def up_site(site: Site, report: Report) -> SiteResult:
    """Converge one site to fully running; returns what was started and what was kept."""
    began = time.monotonic()
    result = SiteResult(site.id)
    prepare_site(site)
    parts = components(site)
    deadline = time.monotonic() + READY_TIMEOUT
    for group in (("etcd", "minio"), ("kube-apiserver",), ("kube-controller-manager", "kube-scheduler", "kwok")):
        for name in group:
            if _ensure(parts[name], result):
                report(site.id, f"started {name}")
        for name in group:
            _wait(parts[name], deadline, site.id)
        if group == ("kube-apiserver",):
            converge_nodes(kube.site(site.id), site_nodes(site))
    result.nodes = wait_until(
        f"{site.id}'s kwok nodes to be Ready", lambda: ready_nodes(kube.site(site.id)),
        lambda counts: counts[0] == counts[1], timeout=NODES_TIMEOUT,
        describe=lambda counts: f"{counts[0]}/{counts[1]} Ready", retry_on=(KubeError,),
        hint=f"see {parts['kwok'].spec.log_file}",
    )  # fmt: skip
    result.seconds = time.monotonic() - began
    report(site.id, f"up in {result.seconds:.1f} s ({result.nodes[0]} nodes Ready)")
    return result


def up(site_ids: Iterable[str] = (), report: Report | None = None) -> list[SiteResult]:
    """Bring the named sites (default: all) up in parallel."""
    sites = select_sites(load_sites(), site_ids)
    say: Report = report or (lambda _site, _message: None)
    for tool in TOOLS:
        resolve(tool)  # one clear "not built" error before anything starts
    with ThreadPoolExecutor(max_workers=len(sites)) as pool:
        futures = [pool.submit(up_site, site, say) for site in sites]
        errors: list[str] = []
        results: list[SiteResult] = []
        for future in futures:
            try:
                results.append(future.result())
            except PdnError as error:
                errors.append(str(error) + (f" ({error.hint})" if error.hint else ""))
    if errors:
        raise PdnError("; ".join(errors))
    return results


def down_site(site: Site, purge: bool, report: Report) -> list[str]:
    """Stop every component of ``site`` (reverse start order); ``purge`` also deletes its state."""
    stopped: list[str] = []
    parts = components(site, strict=False) if layout.site_dir(site.id).exists() else {}
    # Add-ons other areas run against this site (e.g. pdn.backup's Velero server) stop first.
    for pid_file in sorted(layout.run_dir(site.id).glob("*.pid")):
        name = pid_file.stem
        if name not in COMPONENTS:
            addon = ProcessSpec(site.id, name, [], [], layout.run_dir(site.id), layout.log_dir(site.id))
            if stop(addon):
                stopped.append(name)
                report(site.id, f"stopped {name}")
    for name in reversed(COMPONENTS):
        if name in parts and stop(parts[name].spec):
            stopped.append(name)
            report(site.id, f"stopped {name}")
    if purge and layout.site_dir(site.id).exists():
        shutil.rmtree(layout.site_dir(site.id))
        report(site.id, "purged state")
    return stopped


def down(site_ids: Iterable[str] = (), purge: bool = False, report: Report | None = None) -> dict[str, list[str]]:
    """Stop the named sites (default: all); ``purge`` removes their state (and, for all sites, the Pulumi backend)."""
    names = list(site_ids)
    sites = select_sites(load_sites(), names)
    say: Report = report or (lambda _site, _message: None)
    with ThreadPoolExecutor(max_workers=len(sites)) as pool:
        stopped = dict(zip([s.id for s in sites], pool.map(lambda s: down_site(s, purge, say), sites), strict=True))
    if purge and not names:
        from pdn.converge import records_file  # pdn up's step records describe what was just removed

        leftovers = (layout.pulumi_backend_dir(), layout.pulumi_passphrase_file(), paths.lab_dir() / "stacks")
        for leftover in (*leftovers, records_file().parent):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
        if paths.lab_dir().is_dir() and not any(paths.lab_dir().iterdir()):
            paths.lab_dir().rmdir()
    return stopped


def status(site_ids: Iterable[str] = ()) -> list[ComponentStatus]:
    """Health of every component of the named sites (default: all)."""
    rows: list[ComponentStatus] = []
    for site in select_sites(load_sites(), site_ids):
        if not layout.site_dir(site.id).exists():
            rows.extend(
                ComponentStatus(site.id, name, None, layout.port(site.id, name), False, False, 0, None)
                for name in COMPONENTS
            )
            continue
        for name, component in components(site, strict=False).items():
            pid = running_pid(component.spec)
            began = started_at(pid) if pid else None
            rows.append(
                ComponentStatus(
                    site.id,
                    name,
                    pid,
                    component.port,
                    bool(pid) and component.health(),
                    pid is None and component.spec.pid_file.exists(),
                    rss_bytes(pid) if pid else 0,
                    time.time() - began if began else None,
                )
            )
    return rows


def running_components(site_id: str) -> list[str]:
    """Names of the components of ``site_id`` that have a live process."""
    site = load_sites().site(site_id)
    if not layout.site_dir(site_id).exists():
        return []
    return [
        name for name, component in components(site, strict=False).items() if running_pid(component.spec) is not None
    ]
