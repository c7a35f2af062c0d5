"""Proof that the dependency floors in pyproject.toml are true: the lowest version each dependency
allows is installed into a virtualenv of its own, and the project's smoke tests run there.

``pdn floors`` (and ``tests/unit/test_dependency_floors.py``) builds the virtualenv once under
``~/.cache/pdn/floors/<hash>`` - the hash covers the floors and the Python version, so a changed
floor builds a new one and an unchanged one is reused - then installs the project there (editable,
without dependencies) and runs :data:`SMOKE_TESTS` with it. pip installs from PyPI only: the index is named and any
local wheel folder the machine configures (``PIP_FIND_LINKS``) is ignored, so what passes here is
what a user gets from PyPI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pdn import paths
from pdn.errors import PdnError

PYPI = "https://pypi.org/simple"
#: Tests that touch every dependency at its floor: Kubernetes wrapper (kubernetes), waits, the
#: hardening runner on a real playbook through both engines (ansible-core, ansible-runner,
#: mitogen), the collection (ansible-galaxy), the site model (pydantic, pyyaml), the CLI (typer,
#: rich), the summary, the stacks' components and policies (pulumi, pulumi-kubernetes,
#: pulumi-policy, boto3, moto), CRD schemas (jsonschema), ruff and ansible-lint. mypy is left out: what
#: strict mode reports depends on every library's type stubs, so it is checked at the current versions.
SMOKE_TESTS = (
    "tests/unit/kube",
    "tests/unit/test_wait.py",
    "tests/unit/harden",
    "tests/unit/up",
    "tests/unit/sites",
    "tests/unit/stacks",
    "tests/unit/test_cli_lazy.py",
    "tests/unit/test_code_quality.py::test_ruff",
)
#: Imported as well, for the dependencies no smoke test loads (nodes/vm tiers, reports, charts).
IMPORTS = ("testinfra", "ssh_audit", "matplotlib.pyplot", "scipy.cluster.hierarchy", "jinja2", "pulumi_policy")


@dataclass(frozen=True)
class Floor:
    """One dependency: its requirement as pyproject states it, and the pin of its lowest version."""

    requirement: str  # e.g. "moto[server]>=5"
    name: str
    pin: str | None  # e.g. "moto==5", None when pyproject gives no lower bound


def floors(pyproject: Path | None = None) -> list[Floor]:
    """Every dependency of the project (runtime and ``dev``) with the pin of its lowest allowed version."""
    from packaging.requirements import Requirement  # packaging comes with ansible-core

    data = tomllib.loads((pyproject or paths.repo_root() / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    found: list[Floor] = []
    for text in [*project["dependencies"], *project.get("optional-dependencies", {}).get("dev", [])]:
        requirement = Requirement(text)
        lows = [spec.version for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
        if len(lows) > 1:
            raise PdnError(f"pyproject.toml: {text!r} has more than one lower bound")
        found.append(Floor(text, requirement.name, f"{requirement.name}=={lows[0]}" if lows else None))
    return found


def constraints(found: list[Floor]) -> str:
    return "".join(f"{floor.pin}\n" for floor in found if floor.pin)


def venv_dir(found: list[Floor]) -> Path:
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{constraints(found)}".encode()).hexdigest()[:16]
    return paths.cache_dir() / "floors" / key


def pip_env() -> dict[str, str]:
    """pip's environment: no configuration file and no ``PIP_*`` setting of this machine (a local
    wheel folder among them), so that the index named on the command line, PyPI, is the only source."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def pip_args() -> list[str]:
    """``--index-url`` PyPI, and the CA bundle this machine gives pip (a TLS setting, not a source)."""
    cert = os.environ.get("PIP_CERT")
    return ["--index-url", PYPI, *(["--cert", cert] if cert and Path(cert).is_file() else [])]


def ensure_venv(found: list[Floor] | None = None) -> Path:
    """The virtualenv holding every floor (built once, reused while the floors stay the same)."""
    found = found if found is not None else floors()
    folder = venv_dir(found)
    ready = folder / ".ready"
    if ready.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pins = folder / "constraints.txt"
    pins.write_text(constraints(found), encoding="utf-8")
    python = str(folder / "bin" / "python")
    done = subprocess.run(
        [python, "-m", "pip", "install", "-q", *pip_args(), "-c", str(pins), *[floor.requirement for floor in found]],
        env=pip_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise PdnError(f"the dependency floors do not install together: {_tail(done.stderr)}", hint=str(pins))
    ready.write_text(constraints(found), encoding="utf-8")
    for stale in folder.parent.iterdir():  # virtualenvs of earlier floors (about 1 GB each)
        if stale != folder and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return folder


def installed(folder: Path) -> dict[str, str]:
    """name -> version of what the virtualenv holds (``pip list``)."""
    import json

    done = subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
                          env=pip_env(), capture_output=True, text=True, check=True)  # fmt: skip
    return {item["name"].lower().replace("_", "-"): item["version"] for item in json.loads(done.stdout)}


def check(found: list[Floor] | None = None, pytest_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Build (or reuse) the floor virtualenv, check that it holds the floors, run the smoke tests there."""
    from packaging.version import Version

    found = found if found is not None else floors()
    folder = ensure_venv(found)
    versions = installed(folder)
    wrong = []
    for floor in found:
        if floor.pin:
            have = versions.get(floor.name.lower())
            if have is None or Version(have) != Version(floor.pin.split("==")[1]):
                wrong.append(f"{floor.pin} (got {have})")
    if wrong:
        raise PdnError(f"the floor virtualenv does not hold the floors: {', '.join(wrong)}", hint=str(folder))
    python = str(folder / "bin" / "python")
    # The project itself, editable and without dependencies, on every check: the virtualenv is
    # shared by clones (CI's is new each time), so it must point at this one.
    editable = ["--no-deps", "-e", str(paths.repo_root())]
    project = subprocess.run([python, "-m", "pip", "install", "-q", *pip_args(), *editable],
                             env=pip_env(), capture_output=True, text=True, check=False)  # fmt: skip
    if project.returncode != 0:
        raise PdnError(f"installing the project into {folder} failed: {_tail(project.stderr)}")
    env = {**os.environ, "PATH": f"{folder / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    imports = subprocess.run([python, "-c", "; ".join(f"import {name}" for name in IMPORTS)], env=env,
                             capture_output=True, text=True, check=False)  # fmt: skip
    if imports.returncode != 0:
        raise PdnError(f"a dependency at its floor does not import: {_tail(imports.stderr)}")
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args, *SMOKE_TESTS],
        cwd=paths.repo_root(), env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])[-1500:]
