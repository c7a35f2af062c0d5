"""The one command-line entry point, ``pdn``.

Each area of the platform contributes a Typer sub-application from its own package; this
module only wires them together and installs the error boundary.
"""

from __future__ import annotations

import typer

from pdn import __version__
from pdn.backup.cli import app as backup_app
from pdn.console import console, run_guarded
from pdn.doctor import doctor_command
from pdn.harden.cli import app as harden_app
from pdn.lab.cli import app as lab_app
from pdn.migrate.cli import app as migrate_app
from pdn.sites.cli import app as sites_app
from pdn.stacks.cli import app as stacks_app
from pdn.suite import test_command
from pdn.toolchain.cli import app as toolchain_app
from pdn.up import down_command, up_command

app = typer.Typer(
    name="pdn",
    help=(
        "Automation for Indonesia's national data centres (Pusat Data Nasional): "
        "site model, local lab, Pulumi stacks, node hardening and legacy migration."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(sites_app, name="sites")
app.add_typer(migrate_app, name="migrate")
app.add_typer(stacks_app, name="stacks")
app.add_typer(toolchain_app, name="toolchain")
app.add_typer(lab_app, name="lab")
app.add_typer(harden_app, name="harden")
app.add_typer(backup_app, name="backup")
app.command("doctor")(doctor_command)
app.command("test")(test_command)
app.command("up")(up_command)
app.command("down")(down_command)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"pdn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Automation for the PDN sovereign cloud."""


def main() -> None:
    """Console-script entry point: run the CLI inside the error boundary."""
    run_guarded(lambda: app(standalone_mode=True))
