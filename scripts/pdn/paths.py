"""Where things live: the repository, the shared build cache and the lab state.

Every path can be overridden by an environment variable so that CI, tests and users can
point at other places without editing code.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def repo_root() -> Path:
    """The checkout this package runs from (the folder holding ``Pulumi.yaml``)."""
    return Path(os.environ.get("PDN_REPO", REPO_ROOT))


def sites_file() -> Path:
    """The national site model, the single source of truth for every part."""
    return Path(os.environ.get("PDN_SITES", repo_root() / "stacks" / "sites.yaml"))


def cache_dir() -> Path:
    """Build cache shared by every clone and by CI (outside the clone on purpose)."""
    base = os.environ.get("PDN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "pdn"
    )
    return Path(base)


def toolchain_dir() -> Path:
    """Built tools, one folder per ``<tool>-<version>``."""
    return cache_dir() / "toolchain"


def lab_dir() -> Path:
    """State of the local lab: clusters, object stores, nodes, Pulumi backend (gitignored)."""
    return Path(os.environ.get("PDN_LAB_DIR", repo_root() / ".lab"))


def out_dir() -> Path:
    """Generated reports, pictures and plans (gitignored)."""
    return Path(os.environ.get("PDN_OUT", repo_root() / "out"))
