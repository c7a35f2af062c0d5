"""One rich console for the whole CLI, and the error boundary that keeps tracebacks away."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console
from rich.markup import escape

from pdn.errors import PdnError

console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")


def _printable(text: str) -> str:
    """``text`` with the undecodable bytes of file names (lone surrogates) shown as ``\\xNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no file-name byte (from a JSON or YAML escape)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def run_guarded(entry: Callable[[], T]) -> T:
    """Run ``entry``; turn expected and unexpected failures into one line and an exit code.

    Set ``PDN_DEBUG=1`` to see the traceback of an unexpected error.
    """
    try:
        return entry()
    except PdnError as error:
        err_console.print(f"[bold red]error:[/] {escape(_printable(str(error)))}", highlight=False, soft_wrap=True)
        if error.hint:
            err_console.print(f"[yellow]hint:[/] {escape(_printable(error.hint))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: re-run the same command to finish the job")
        sys.exit(130)
    except Exception as error:  # the last line of defence: the user never sees a traceback
        if os.environ.get("PDN_DEBUG"):
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(error).__name__}: {escape(_printable(str(error)))}\n"
            "re-run with PDN_DEBUG=1 for the traceback, and please report it",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)
