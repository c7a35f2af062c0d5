"""How ``ansible-playbook`` runs its modules on the nodes: Ansible's own way, or through Mitogen.

Ansible's own way starts a fresh Python on the node for every task, unpacks the module and
compiles Ansible's ``module_utils`` from source again, then exits. On a container node that is a
fraction of a second. Under software emulation (the qemu VM of the ``vm`` tier) the same call
costs 10–20 s, so the playbook's ~130 module calls take half an hour. Mitogen (a PyPI package,
``mitogen``) keeps one Python interpreter per host alive over the same SSH connection and sends
each module to it, with the imports already done: about 2 s per call there
(docs/benchmarks.md). The playbooks and what they change are identical; only the strategy
plugin differs, so the engine is a per-run choice, not part of the playbooks.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pdn.errors import InputError, ToolMissingError

Engine = Literal["ansible", "mitogen"]
ENGINES: tuple[Engine, ...] = ("ansible", "mitogen")

#: Seconds Ansible waits for a connection. Mitogen's first connection copies its bootstrap to the
#: node and starts the interpreter there, which takes about a minute under emulation.
MITOGEN_CONNECT_TIMEOUT = 300


def mitogen_strategy_dir() -> Path:
    """Folder of Mitogen's Ansible strategy plugins inside the installed ``ansible_mitogen``."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        raise ToolMissingError("Mitogen is not installed", hint="pip install -e '.[dev]' (it brings mitogen)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    if not (folder / "mitogen_linear.py").exists():
        raise ToolMissingError(f"this Mitogen has no mitogen_linear strategy in {folder}")
    return folder


def engine_env(engine: str) -> dict[str, str]:
    """Environment variables that make ``ansible-playbook`` use ``engine``."""
    if engine == "ansible":
        return {}
    if engine == "mitogen":
        return {
            "ANSIBLE_STRATEGY_PLUGINS": str(mitogen_strategy_dir()),
            "ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_TIMEOUT": str(MITOGEN_CONNECT_TIMEOUT),
        }
    raise InputError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
