"""The execution engine of ansible-playbook: Ansible's own, or Mitogen's strategy for slow hosts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pdn.errors import InputError
from pdn.harden.engine import Engine, engine_env, mitogen_strategy_dir
from pdn.harden.runner import HostRecap, TaskFailure, run_playbook

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


RESULTS_PLAYBOOK = """\
- hosts: all
  connection: local
  gather_facts: false
  tasks:
    - name: A change
      ansible.builtin.command: /bin/true
    - name: An ignored failure
      ansible.builtin.command: /bin/false
      ignore_errors: true
    - name: A rescued failure
      block:
        - name: Fails
          ansible.builtin.fail:
            msg: rescued below
      rescue:
        - name: Rescue
          ansible.builtin.debug:
            msg: rescued
    - name: A skipped task
      ansible.builtin.debug:
        msg: never
      when: false
    - name: What the run's environment holds
      ansible.builtin.debug:
        msg: >-
          secret=[{{ lookup('env', 'PDN_TEST_SECRET') }}]
          hostkeys=[{{ lookup('env', 'ANSIBLE_HOST_KEY_CHECKING') }}]
- hosts: broken
  connection: local
  gather_facts: false
  tasks:
    - name: A real failure
      ansible.builtin.fail:
        msg: this host fails
"""


@pytest.mark.parametrize("engine", ["ansible", "mitogen"])
def test_run_playbook_reads_ansibles_stats_through_each_engine(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts (rescued and ignored too) and failures come from Ansible's events, through both engines;
    credentials in our environment reach neither the play nor any file the run leaves."""
    monkeypatch.setenv("PDN_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("PDN_TEST_SECRET", "do-not-pass")
    playbook = tmp_path / "play.yml"
    playbook.write_text(RESULTS_PLAYBOOK)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "hosts": {"good": None},
        "children": {"broken": {"hosts": {"bad": None}}},
        "vars": {"ansible_python_interpreter": sys.executable},
    }}))  # fmt: skip
    run = run_playbook(inventory, playbook, label=f"test-{engine}", quiet=True, engine=engine)
    assert run.recap["good"] == HostRecap(ok=4, changed=2, skipped=1, rescued=1, ignored=1)
    assert run.recap["bad"] == HostRecap(ok=4, changed=2, skipped=1, rescued=1, ignored=1, failed=1)
    assert not run.ok and run.returncode != 0
    assert run.failures == [TaskFailure("bad", "A real failure", "this host fails")]
    saved = json.loads(run.stats_file.read_text())
    assert saved["hosts"]["bad"]["failed"] == 1 and saved["hosts"]["good"]["rescued"] == 1 and not saved["ok"]
    log = run.log.read_text()
    assert "secret=[] hostkeys=[True]" in log, log[-3000:]
    assert "PLAY RECAP" in log  # the readable log is still Ansible's own output
    left = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert sorted(p.suffix for p in left) == [".json", ".log"]
    assert not any("do-not-pass" in p.read_text() for p in left)
