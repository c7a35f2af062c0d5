"""``pdn harden``: run the hardening playbooks on the nodes, and judge them (``pdn harden report``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from pdn.console import console
from pdn.errors import InputError, PdnError
from pdn.harden import kubebench
from pdn.harden.engine import Engine, engine_env
from pdn.harden.inventory import write_site_inventory
from pdn.harden.report import NodeReport, earlier_report, judge, kube_bench_cell, write_reports
from pdn.harden.runner import PlaybookRun, run_playbook
from pdn.nodes import list_nodes, write_inventory
from pdn.nodes.inventory import site_group
from pdn.nodes.runtime import Node
from pdn.paths import lab_dir, out_dir
from pdn.progress import StepProgress
from pdn.sites import load_sites

app = typer.Typer(
    help="Harden the Kubernetes nodes (CIS Debian 12 / ANSSI BP-028) and report on them.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _check_site(site: str | None) -> None:
    if site is not None and site not in load_sites().ids:
        raise InputError(f"unknown site {site!r}; known sites: {', '.join(load_sites().ids)}")


def lab_inventory() -> Path:
    """Inventory of the running lab node containers (rewritten on every call)."""
    if not [node for node in list_nodes() if node.state == "running"]:
        raise PdnError("no node container is running", hint="pdn lab up --nodes 4  (or pass --inventory)")
    return write_inventory(lab_dir() / "nodes" / "harden-inventory.yml")


def print_recap(run: PlaybookRun) -> None:
    table = Table("host", "ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored",
                  title="ansible-playbook recap")  # fmt: skip
    for host, recap in sorted(run.recap.items()):
        table.add_row(host, *(str(n) for n in (recap.ok, recap.changed, recap.failed, recap.unreachable,
                                               recap.skipped, recap.rescued, recap.ignored)))  # fmt: skip
    console.print(table)
    for failure in run.failures:
        line = f"[red]{escape(failure.host)}[/]: {escape(failure.task)}: {escape(failure.message)}"
        console.print(line, highlight=False)
    console.print(f"{run.seconds:.0f} s, log: {run.log}, stats: {run.stats_file}")


@app.callback()
def harden(
    ctx: typer.Context,
    site: str | None = typer.Option(None, "--site", "-s", help="Only the nodes of this site."),
    check: bool = typer.Option(False, "--check", help="Dry run: report what would change, change nothing."),
    diff: bool = typer.Option(False, "--diff", help="Show file differences."),
    tags: list[str] = typer.Option([], "--tags", "-t", help="Only these tags (areas such as ssh, sysctl, or cis_5.1)."),
    skip_tags: list[str] = typer.Option([], "--skip-tags", help="Skip these tags."),
    inventory: Path | None = typer.Option(None, "--inventory", "-i", help="Inventory (default: the lab nodes)."),
    extra_vars: list[str] = typer.Option([], "--extra-vars", "-e", help="Extra variables, as for ansible-playbook."),
    playbook: str = typer.Option("harden.yml", "--playbook", help="harden.yml, verify.yml or site.yml."),
    limit: str | None = typer.Option(None, "--limit", "-l", help="Ansible host pattern (overrides --site)."),
    engine: Engine = typer.Option(
        "ansible", "--engine", help="ansible (a fresh Python per task) or mitogen (one per host: slow hosts, VMs)."
    ),
) -> None:
    """Harden the nodes (default: every running lab node) with playbooks/harden.yml."""
    if ctx.invoked_subcommand is not None:
        return
    _check_site(site)
    if playbook not in {"harden.yml", "verify.yml", "site.yml"}:
        raise InputError(f"unknown playbook {playbook!r}; use harden.yml, verify.yml or site.yml")
    engine_env(engine)  # an unknown engine or a missing Mitogen fails before anything runs
    path = inventory if inventory is not None else lab_inventory()
    run = run_playbook(
        path, playbook, check=check, diff=diff, tags=tags, skip_tags=skip_tags,
        limit=limit or (site_group(site) if site else None), extra_vars=extra_vars, engine=engine,
    )  # fmt: skip
    print_recap(run)
    if not run.ok:
        first = f": {run.failures[0].host}: {run.failures[0].task}: {run.failures[0].message}" if run.failures else ""
        raise PdnError(f"ansible-playbook failed (exit {run.returncode}){first}", hint=f"see {run.log}")


@app.command("report")
def report_command(
    site: str | None = typer.Option(None, "--site", "-s", help="Only the nodes of this site."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the reports (default: out/harden/report)."),
    only: list[str] = typer.Option(
        [],
        "--node",
        "-n",
        help="Judge only this node (repeatable); the other running nodes keep their report from the folder.",
    ),
) -> None:
    """Run Lynis and ssh-audit against every lab node (kube-bench too on real Kubernetes nodes);
    write Markdown, HTML and JSON per node. Fails when a kube-bench node check neither passes nor is
    waived in playbooks/vars/kube-bench-waivers.yml."""
    _check_site(site)
    running = [node for node in list_nodes(site) if node.state == "running"]
    if not running:
        raise PdnError("no node container is running", hint="pdn lab up --nodes 4")
    unknown = sorted(set(only) - {node.name for node in running})
    if unknown:
        raise InputError(f"no running node {', '.join(unknown)}", hint=f"running: {', '.join(n.name for n in running)}")
    folder = out or out_dir() / "harden" / "report"
    kept = {node.name: earlier_report(folder, node.name) for node in running if only and node.name not in only}
    nodes = [node for node in running if kept.get(node.name) is None]  # a node without a report is judged too
    with (
        StepProgress(
            f"Lynis, ssh-audit and kube-bench on {len(nodes)} node(s) (a minute or two each)",
            total=len(nodes),
            unit="nodes",
        ) as step,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):

        def judge_one(node: Node) -> NodeReport:
            report = judge(node)
            step.advance()
            return report

        judged = {report.node: report for report in pool.map(judge_one, nodes)}
    reports = [report for node in running if (report := judged.get(node.name) or kept.get(node.name))]
    written = write_reports(reports, folder)
    table = Table(
        "node", "role", "Lynis index", "ssh-audit fail", "ssh-audit warn", "kube-bench", title="hardening report"
    )
    for r in reports:
        index = "n/a" if r.lynis.hardening_index is None else str(r.lynis.hardening_index)
        failures, warnings = str(len(r.ssh_audit.failures)), str(len(r.ssh_audit.warnings))
        table.add_row(r.node, r.role, index, failures, warnings, kube_bench_cell(r))
    console.print(table)
    kept_now = len(reports) - len(judged)
    console.print(f"{len(written)} files in {folder} ({len(judged)} node(s) judged now, {kept_now} kept)")
    failing = [(r.node, r.kube_bench) for r in reports if r.kube_bench is not None and not r.kube_bench["ok"]]
    if failing:
        details = "; ".join(f"{node}: {', '.join(bench['not_passed']) or bench['error']}" for node, bench in failing)
        waivers = kubebench.waivers_path()
        raise PdnError(f"kube-bench: {details}", hint=f"fix the node, or waive the check with its reason in {waivers}")


@app.command("inventory")
def inventory_command(
    site: str = typer.Option(..., "--site", "-s", help="Site whose planned nodes to list."),
    out: Path | None = typer.Option(None, "--out", help="Where to write (default: out/harden/inventories/<site>.yml)."),
) -> None:
    """Write the inventory of a site's planned nodes, from the site model (groups by site and role)."""
    _check_site(site)
    path = write_site_inventory(load_sites().site(site), out or out_dir() / "harden" / "inventories" / f"{site}.yml")
    console.print(f"inventory of {site}: {path}")
