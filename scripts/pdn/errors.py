"""Errors that reach the user as one clear line instead of a traceback."""

from __future__ import annotations


class PdnError(Exception):
    """An expected failure: bad input, a missing tool, a failed step.

    The CLI prints ``str(error)`` (and ``hint`` when given) and exits with ``exit_code``.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(PdnError):
    """A file or argument the user gave is invalid (exit code 2)."""

    exit_code = 2


class ToolMissingError(PdnError):
    """A required external tool is not installed or not built (exit code 3)."""

    exit_code = 3
