"""The roles are one collection, pdn.hardening: installable from the repository, used by FQCN, honest
about their dependencies, and preflight only checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdn.harden.runner import collection_dir, playbooks_dir, roles_dir

ROLES = sorted(path.name for path in roles_dir().iterdir() if path.is_dir())
#: Modules that only read or assert; a preflight task may use nothing else.
READ_ONLY = {"ansible.builtin.assert", "ansible.builtin.debug", "ansible.builtin.set_fact"}
COMMANDS = {"ansible.builtin.shell", "ansible.builtin.command"}


def tasks(role: str) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted((roles_dir() / role / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            found.append((path, task))
    return found


def module_of(task: dict[str, Any]) -> str:
    return next(key for key in task if key.startswith("ansible.builtin."))


def facts_set_by(role: str) -> set[str]:
    names: set[str] = set()
    for _, task in tasks(role):
        names |= set(task.get("ansible.builtin.set_fact", {}) or {})
        if "register" in task:
            names.add(task["register"])
    return names


def dependencies(role: str) -> set[str]:
    meta = yaml.safe_load((roles_dir() / role / "meta" / "main.yml").read_text())
    return {dep["role"] if isinstance(dep, dict) else dep for dep in meta.get("dependencies") or []}


def test_collection_installs_from_the_repository(tmp_path: Path) -> None:
    galaxy = Path(sys.executable).with_name("ansible-galaxy")
    target = tmp_path / "collections"
    done = subprocess.run(
        [str(galaxy), "collection", "install", "--offline", "-p", str(target), str(collection_dir())],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
        env={"PATH": f"{galaxy.parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    installed = target / "ansible_collections" / "pdn" / "hardening"
    manifest = yaml.safe_load((installed / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["namespace"] == "pdn" and manifest["collection_info"]["name"] == "hardening"
    assert sorted(p.name for p in (installed / "roles").iterdir()) == ROLES
    assert all((installed / "roles" / role / "tasks" / "main.yml").is_file() for role in ROLES)


def test_playbooks_use_the_roles_by_fqcn() -> None:
    plays = yaml.safe_load((playbooks_dir() / "harden.yml").read_text())
    used = [entry["role"] for play in plays for entry in play.get("roles", [])]
    assert used and all(name.startswith("pdn.hardening.") for name in used), used
    assert sorted(name.removeprefix("pdn.hardening.") for name in used) == ROLES
    assert not (playbooks_dir() / "roles").exists()


@pytest.mark.parametrize("role", ROLES)
def test_a_role_that_reads_another_roles_facts_declares_it(role: str) -> None:
    text = "\n".join(p.read_text() for p in (roles_dir() / role).rglob("*") if p.is_file() and p.suffix != ".md")
    for other in ROLES:
        if other == role:
            continue
        read = {name for name in facts_set_by(other) if re.search(rf"\b{re.escape(name)}\b", text)}
        if read:
            assert f"pdn.hardening.{other}" in dependencies(role), f"{role} reads {sorted(read)} of {other}"


def test_preflight_only_checks() -> None:
    for path, task in tasks("pdn_preflight"):
        module = module_of(task)
        where = f"{path.name}: {task['name']}"
        assert module in READ_ONLY | COMMANDS, f"{where} uses {module}, which can change the node"
        if module in COMMANDS:
            assert task.get("changed_when") is False, where
            assert task.get("check_mode") is False, where  # runs (read-only) in check mode too


@pytest.mark.parametrize("role", ROLES)
def test_no_shell_task_fakes_check_mode(role: str) -> None:
    """A command that changes things and skips itself on ``ansible_check_mode`` lies in check mode; such
    fixes go through a module with real check mode, after a read-only probe."""
    for path, task in tasks(role):
        if module_of(task) in COMMANDS:
            body = yaml.safe_dump(task)
            assert "ansible_check_mode" not in body, f"{path.name}: {task['name']}"
