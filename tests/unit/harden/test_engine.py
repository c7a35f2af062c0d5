"""The execution engine of ansible-playbook: Ansible's own, or Mitogen's strategy for slow hosts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pdn.errors import InputError
from pdn.harden.engine import engine_env, mitogen_strategy_dir

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A module runs through the engine
      ansible.builtin.command: /bin/echo engine-ok
      register: out
      changed_when: false
    - name: Its output comes back
      ansible.builtin.assert:
        that: out.stdout == "engine-ok"
"""


def test_ansible_engine_changes_nothing() -> None:
    assert engine_env("ansible") == {}


def test_mitogen_engine_points_ansible_at_its_strategy() -> None:
    env = engine_env("mitogen")
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert Path(env["ANSIBLE_STRATEGY_PLUGINS"]) == mitogen_strategy_dir()
    assert (mitogen_strategy_dir() / "mitogen_linear.py").is_file()
    assert int(env["ANSIBLE_TIMEOUT"]) >= 60


def test_unknown_engine_is_refused_with_the_choices() -> None:
    with pytest.raises(InputError, match="ansible, mitogen"):
        engine_env("turbo")


@pytest.mark.parametrize("engine", ["ansible", "mitogen"])
def test_each_engine_runs_a_real_playbook(engine: str, tmp_path: Path) -> None:
    """The installed Mitogen works with the installed ansible-core (a version bump can break it)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    binary = Path(sys.executable).with_name("ansible-playbook")
    env = {"PATH": f"{binary.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "t"),
           **engine_env(engine)}  # fmt: skip
    done = subprocess.run([str(binary), "-i", "localhost,", str(playbook)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ok=2" in done.stdout and "failed=0" in done.stdout
