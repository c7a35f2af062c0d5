"""The one way PDN waits for something: poll until it is done or fail with one clear line.

Every wait (a component answering its health check, nodes Ready, a CRD Established, SSH up, a
process gone, a Velero backup finished) is :func:`wait_until`: it calls ``probe`` until ``done``
accepts what it returned, sleeping ``interval`` between calls, and raises :class:`WaitTimeout`
(a :class:`~pdn.errors.PdnError`) naming what it waited for and the last state it saw once
``timeout`` seconds have passed. A probe that sees the wait cannot succeed (the process it waits
for exited) raises its own :class:`~pdn.errors.PdnError`, which ends the wait at once. Exceptions
listed in ``retry_on`` count as "not yet" and become the last state shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pdn.errors import PdnError

T = TypeVar("T")


class WaitTimeout(PdnError):
    """A wait ran out of time: ``what`` it waited for and ``last``, the state it saw last."""

    def __init__(self, what: str, last: str, seconds: float, hint: str | None = None) -> None:
        super().__init__(f"timed out after {round(seconds, 1):g} s waiting for {what} (last seen: {last})", hint=hint)
        self.what = what
        self.last = last


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def wait_until(
    what: str,
    probe: Callable[[], T],
    done: Callable[[T], bool] = bool,
    *,
    timeout: float,
    interval: float = 0.2,
    describe: Callable[[T], str] = repr,
    retry_on: tuple[type[Exception], ...] = (),
    hint: str | None = None,
) -> T:
    """Call ``probe`` until ``done(result)``; return that result, or raise :class:`WaitTimeout`.

    ``probe`` runs at least once, and once more at the deadline when a sleep would pass it.
    ``describe`` turns the last result into the "last seen" text (default ``repr``); it runs only
    when the wait times out.
    """
    deadline = time.monotonic() + timeout
    failure: Exception | None = None
    while True:
        try:
            value = probe()
        except retry_on as error:
            failure = error
        else:
            if done(value):
                return value
            failure, last = None, value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            seen = f"{type(failure).__name__}: {failure}" if failure is not None else describe(last)
            raise WaitTimeout(what, _one_line(seen), timeout, hint)
        time.sleep(min(interval, remaining))
