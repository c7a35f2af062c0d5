"""``pdn vm``: the Debian 12 VM of the ``vm`` test tier (build, boot, stop, harden, scan)."""

from __future__ import annotations

import typer
from rich.table import Table

from pdn.console import console
from pdn.errors import PdnError
from pdn.paths import out_dir
from pdn.vm import image as vm_image
from pdn.vm.inventory import write_inventory
from pdn.vm.machine import run_dir, start_vm, status, stop_vm, vm_name

app = typer.Typer(help="One Debian 12 VM under qemu (software emulation, SSH on 127.0.0.1 only).", no_args_is_help=True)


@app.command("build")
def build() -> None:
    """Build the VM image (debootstrap with a kernel, several minutes) or reuse the cached one."""
    cached = vm_image.cached_image() is not None
    image = vm_image.ensure_image()
    console.print(f"{'cached' if cached else 'built'}: {image.path}")


@app.command("up")
def up(
    port: int | None = typer.Option(None, "--port", help="SSH port on 127.0.0.1 (default: node port base + 990)."),
    memory: int = typer.Option(2048, "--memory", help="Memory in MiB."),
    cpus: int = typer.Option(2, "--cpus", help="Virtual CPUs."),
) -> None:
    """Boot the VM on fresh overlays of the cached image and write its Ansible inventory."""
    vm = start_vm(port=port, memory_mb=memory, cpus=cpus)
    inventory = write_inventory(vm)
    console.print(
        f"{vm.name} is up on 127.0.0.1:{vm.port}" + (f" (booted in {vm.boot_seconds:.0f} s)" if vm.boot_seconds else "")
    )
    console.print(f"harden it: pdn harden -i {inventory} --engine mitogen")
    console.print(f"ssh: ssh -i {vm.key_path} -p {vm.port} -o UserKnownHostsFile={vm.known_hosts} {vm.user}@127.0.0.1")


@app.command("down")
def down() -> None:
    """Power the VM off and throw its overlays away (the cached image stays)."""
    console.print(f"{vm_name()} {'stopped' if stop_vm() else 'was not running'}")


@app.command("status")
def show_status() -> None:
    """Is the VM running, where, and is its image cached?"""
    table = Table("what", "value")
    vm = status()
    table.add_row("vm", f"{vm_name()}: {'running, pid ' + str(vm.pid) if vm else 'not running'}")
    if vm:
        table.add_row("ssh", f"127.0.0.1:{vm.port}")
        table.add_row("overlays", str(run_dir(vm.name)))
    cached = vm_image.cached_image()
    table.add_row("image", str(cached.path) if cached else f"not built (recipe {vm_image.recipe_hash()})")
    console.print(table)


@app.command("scan")
def scan() -> None:
    """Evaluate the ANSSI BP-028 intermediary profile (OpenSCAP) in the running VM; minutes."""
    from pdn.vm.oscap import evaluate, load_waivers

    vm = status()
    if vm is None:
        raise PdnError(f"{vm_name()} is not running", hint="pdn vm up")
    with console.status("oscap xccdf eval in the VM (several minutes under emulation)"):
        result = evaluate(vm, out_dir() / "vm")
    waivers = load_waivers()
    console.print(f"{result.profile}: {result.counts} in {result.seconds:.0f} s; results: {result.results_file}")
    for rule in result.failed:
        console.print(f"  fail {rule}: {waivers.reasons.get(rule, '[bold red]not waived[/]')}")
