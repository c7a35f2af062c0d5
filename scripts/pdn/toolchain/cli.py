"""``pdn toolchain``: build and list the pinned lab tools."""

from __future__ import annotations

import typer
from rich.table import Table

from pdn.console import console
from pdn.errors import PdnError
from pdn.toolchain.build import build
from pdn.toolchain.locate import LANGHOST, find, read_stamp
from pdn.toolchain.lock import load_lock

app = typer.Typer(help="Pinned lab tools built from Go modules: build, list.", no_args_is_help=True)


@app.command("build")
def build_command(
    tools: list[str] = typer.Argument(None, help="Tools to build (default: every tool the lab needs)."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel builds (default: by free memory, at most 2)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when a finished build is cached."),
    all_tools: bool = typer.Option(False, "--all", help="Also build units marked optional in toolchain.lock."),
) -> None:
    """Build pinned tools into ~/.cache/pdn/toolchain (resumable: re-run after an interruption)."""
    outcomes = build(tools or (), jobs=jobs or None, force=force, include_optional=all_tools)
    table = Table(title="toolchain build")
    for column in ("unit", "status", "seconds", "tools / detail"):
        table.add_column(column, overflow="fold")
    colours = {"built": "green", "cached": "green", "on-path": "cyan", "failed": "red"}
    for outcome in outcomes:
        table.add_row(
            outcome.unit,
            f"[{colours[outcome.status]}]{outcome.status}[/]",
            f"{outcome.seconds:.0f}" if outcome.seconds else "-",
            outcome.detail or ", ".join(outcome.tools),
        )
    console.print(table)
    failed = [outcome for outcome in outcomes if outcome.status == "failed"]
    if failed:
        first = failed[0]
        raise PdnError(f"{len(failed)} build(s) failed, first: {first.detail}")


@app.command("list")
def list_command() -> None:
    """Show every pinned tool, its source and whether it is built (and where)."""
    lock = load_lock()
    table = Table(title=f"toolchain (go {lock.go})")
    for column in ("tool", "version", "source", "state", "where"):
        table.add_column(column, overflow="fold")
    for unit in lock.units.values():
        for tool in unit.tools:
            found = find(tool)
            stamp = read_stamp(tool, unit)
            state = "missing" if found is None else found.how
            if stamp is not None:
                state = f"built ({stamp.get('seconds', '?')} s)"
            colour = "red" if found is None and not unit.optional else "yellow" if found is None else "green"
            label = unit.version if unit.plugin is None else f"{unit.version} (plugin {unit.plugin.version})"
            table.add_row(tool, label, unit.source, f"[{colour}]{state}[/]", str(found.path) if found else "-")
    langhost = find(LANGHOST)
    table.add_row(
        LANGHOST,
        "pdn",
        "pdn.toolchain.langhost (Pulumi Python SDK server)",
        "[green]written[/]" if langhost else "[red]missing[/]",
        str(langhost.path) if langhost else "-",
    )
    console.print(table)
