"""``pdn`` as a child process: a failure is one error naming the command, with its last lines when quiet."""

from __future__ import annotations

import pytest

from pdn.child import run_pdn
from pdn.errors import PdnError


def test_a_command_that_passes_returns_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    run_pdn("sites", "--help", quiet=True)
    assert capfd.readouterr().out == ""


def test_a_failing_command_names_itself_its_exit_code_and_its_last_lines() -> None:
    with pytest.raises(PdnError) as failed:
        run_pdn("no-such-command", quiet=True, hint="try again")
    message = str(failed.value)
    assert message.startswith("`pdn no-such-command` failed (exit 2): ")
    assert "No such command" in message and "\n" not in message
    assert failed.value.hint == "try again"
