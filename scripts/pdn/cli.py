"""The one command-line entry point, ``pdn``.

Each area of the platform contributes a Typer sub-application from its own package; this
module only wires them together and installs the error boundary.

Sub-applications are imported lazily: the areas pull in heavy libraries (Pulumi and gRPC,
the Kubernetes client, ...) that cost about a second of start-up together, which a
``pdn migrate copy`` would pay for nothing. ``main()`` looks at the first word of the command
line; when it names a known sub-command, only that one is imported and registered. Anything
else (``pdn --help``, ``pdn --version``, a typo) gets the full application, so the help lists
every sub-command and a mistyped name gets click's usual "No such command" answer.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

from pdn import __version__
from pdn.console import console, run_guarded

# name -> (module, attribute): Typer sub-applications, in the order ``pdn --help`` lists them
SUB_APPS: dict[str, tuple[str, str]] = {
    "sites": ("pdn.sites.cli", "app"),
    "migrate": ("pdn.migrate.cli", "app"),
    "stacks": ("pdn.stacks.cli", "app"),
    "toolchain": ("pdn.toolchain.cli", "app"),
    "lab": ("pdn.lab.cli", "app"),
    "harden": ("pdn.harden.cli", "app"),
    "backup": ("pdn.backup.cli", "app"),
    "vm": ("pdn.vm.cli", "app"),
}
# name -> (module, attribute): plain commands of the root
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("pdn.doctor", "doctor_command"),
    "test": ("pdn.suite", "test_command"),
    "up": ("pdn.up", "up_command"),
    "down": ("pdn.up", "down_command"),
}

HELP = (
    "Automation for Indonesia's national data centres (Pusat Data Nasional): "
    "site model, local lab, Pulumi stacks, node hardening and legacy migration."
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"pdn {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Automation for the PDN sovereign cloud."""


def _load(module: str, attribute: str) -> object:
    return getattr(importlib.import_module(module), attribute)


def build(only: str | None = None) -> typer.Typer:
    """The ``pdn`` application with every sub-command, or with only ``only`` (a key of
    ``SUB_APPS`` or ``COMMANDS``) when the command line is known to need nothing else."""
    root = typer.Typer(
        name="pdn",
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.callback()(_root)
    for name, (module, attribute) in SUB_APPS.items():
        if only is None or only == name:
            sub = _load(module, attribute)
            assert isinstance(sub, typer.Typer), f"{module}.{attribute} is not a Typer application"
            root.add_typer(sub, name=name)
    for name, (module, attribute) in COMMANDS.items():
        if only is None or only == name:
            command = _load(module, attribute)
            assert callable(command), f"{module}.{attribute} is not callable"
            root.command(name)(command)
    return root


def wanted(argv: Sequence[str]) -> str | None:
    """The sub-command the arguments start with, if it is a known one.

    Only the first word counts: the root's own options (``--help``, ``--version``) come before
    the sub-command and need the full application (``pdn --help migrate`` prints the root help).
    """
    if argv and (argv[0] in SUB_APPS or argv[0] in COMMANDS):
        return argv[0]
    return None


_full: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """``pdn.cli.app``: the full application (tests, ``pdn up``), built on first use."""
    global _full
    if name == "app":
        if _full is None:
            _full = build()
        return _full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: run the CLI inside the error boundary."""
    run_guarded(lambda: build(wanted(sys.argv[1:]))(standalone_mode=True))
