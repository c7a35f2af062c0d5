"""Shared fixtures of the lab tier: the ``lab`` session fixture every lab test builds on.

``lab`` makes sure the lab runs for the sites the session needs (``PDN_LAB_SITES``, comma
separated; default every site in the model), starting only what is missing and reusing a lab a
user or an earlier session left running. At the end it stops only the processes it started
itself (``PDN_LAB_KEEP=1`` keeps them for the next run). More sites can be added mid-session with
``lab.ensure("ikn")``.

The toolchain must be built first (``pdn toolchain build``); a missing tool fails the session with
the build command rather than skipping silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pdn.errors import PdnError
from pdn.lab import endpoints, layout, runtime
from pdn.lab.components import components
from pdn.lab.processes import ProcessSpec, stop
from pdn.sites import load_sites
from pdn.toolchain import bin_path


@dataclass
class Lab:
    """The running lab as tests see it: the :mod:`pdn.lab.endpoints` calls plus bookkeeping."""

    sites: list[str] = field(default_factory=list)
    started: dict[str, list[str]] = field(default_factory=dict)  # site -> components this session started
    seconds: float = 0.0

    def ensure(self, *site_ids: str) -> None:
        """Bring these sites up too (no-op for sites already running)."""
        try:
            results = runtime.up(site_ids)
        except PdnError as error:
            pytest.fail(f"lab up failed: {error}" + (f" ({error.hint})" if error.hint else ""), pytrace=False)
        for result in results:
            self.started.setdefault(result.site, []).extend(result.started)
            self.seconds += result.seconds
            if result.site not in self.sites:
                self.sites.append(result.site)

    def kubeconfig_path(self, site_id: str) -> Path:
        return endpoints.kubeconfig_path(site_id)

    def s3_endpoint(self, site_id: str) -> str:
        return endpoints.s3_endpoint(site_id)

    def s3_credentials(self, site_id: str) -> tuple[str, str]:
        return endpoints.s3_credentials(site_id)

    def s3_region(self, site_id: str) -> str:
        return endpoints.s3_region(site_id)

    def pulumi_env(self) -> dict[str, str]:
        return endpoints.pulumi_env()

    def site_env(self, site_id: str) -> dict[str, str]:
        return endpoints.site_env(site_id)

    def teardown(self) -> None:
        """Stop what this session started, newest first; leave everything else running."""
        model = load_sites()
        for site_id, names in self.started.items():
            parts = components(model.site(site_id), strict=False)
            # Add-ons the tests started against this site's lab (its Velero server, for one) go
            # first: left running they would hold the site's ports for the next lab on this base.
            for pid_file in sorted(layout.run_dir(site_id).glob("*.pid")):
                if pid_file.stem not in parts:
                    stop(ProcessSpec(site_id, pid_file.stem, [], [], layout.run_dir(site_id), layout.log_dir(site_id)))
            for name in reversed(names):
                stop(parts[name].spec)


def wanted_sites() -> list[str]:
    raw = os.environ.get("PDN_LAB_SITES", "")
    return [name.strip() for name in raw.split(",") if name.strip()] or layout.site_ids()


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The lab, up for ``PDN_LAB_SITES`` (default: all sites).

    For the session, PATH also starts with the toolchain (``kubectl``, ``pulumi``, ``etcd``...).
    """
    state = Lab()
    state.ensure(*wanted_sites())
    saved_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([*(str(folder) for folder in bin_path()), saved_path])
    yield state
    os.environ["PATH"] = saved_path
    if os.environ.get("PDN_LAB_KEEP") != "1":
        state.teardown()
