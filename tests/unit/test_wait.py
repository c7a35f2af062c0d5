"""pdn.wait.wait_until, the one wait helper: success returns the value; a timeout is one clear line."""

from __future__ import annotations

import itertools

import pytest

from pdn.errors import PdnError
from pdn.wait import WaitTimeout, wait_until


def test_success_returns_the_value_that_was_accepted() -> None:
    counter = itertools.count(1)
    assert wait_until("the counter to reach 3", lambda: next(counter), lambda n: n >= 3, timeout=5, interval=0) == 3


def test_a_timeout_is_one_line_naming_the_wait_and_the_last_state() -> None:
    states = iter(["Pending", "InProgress", "InProgress\nwith detail"] + ["InProgress"] * 10_000)
    with pytest.raises(WaitTimeout) as caught:
        wait_until("backup b1 to finish", lambda: next(states), lambda s: s == "Completed", timeout=0.3,
                   interval=0.05, describe=lambda s: f"phase {s}", hint="see velero.log")  # fmt: skip
    error = caught.value
    assert isinstance(error, PdnError) and error.hint == "see velero.log"
    assert str(error) == "timed out after 0.3 s waiting for backup b1 to finish (last seen: phase InProgress)"
    assert "\n" not in str(error) and error.what == "backup b1 to finish" and error.last == "phase InProgress"


def test_a_probe_that_knows_it_cannot_succeed_ends_the_wait_at_once() -> None:
    calls = []

    def probe() -> bool:
        calls.append(1)
        raise PdnError("velero exited while starting")

    with pytest.raises(PdnError, match="exited while starting"):
        wait_until("velero", probe, timeout=30)
    assert len(calls) == 1


def test_listed_errors_mean_not_yet_and_show_as_the_last_state() -> None:
    attempts = iter([ConnectionError("refused"), ConnectionError("refused"), "up"])

    def probe() -> str:
        item = next(attempts)
        if isinstance(item, Exception):
            raise item
        return item

    assert wait_until("the server", probe, timeout=5, interval=0, retry_on=(ConnectionError,)) == "up"
    with pytest.raises(WaitTimeout, match=r"last seen: ConnectionError: refused\)"):
        wait_until("the server", lambda: probe_fail(), timeout=0.1, interval=0.02, retry_on=(ConnectionError,))
    with pytest.raises(ConnectionError):  # errors not listed are not swallowed
        wait_until("the server", lambda: probe_fail(), timeout=5)


def probe_fail() -> str:
    raise ConnectionError("refused")


def test_the_probe_runs_once_even_with_no_time_and_describe_only_at_the_end() -> None:
    described: list[int] = []

    def describe(value: int) -> str:
        described.append(value)
        return str(value)

    counter = itertools.count()
    with pytest.raises(WaitTimeout, match=r"last seen: \d+"):
        wait_until("nothing", lambda: next(counter), lambda _: False, timeout=0.1, interval=0.01, describe=describe)
    assert len(described) == 1 and next(counter) > 2
    assert wait_until("at once", lambda: 7, timeout=0) == 7
