"""Build the pinned tools from their Go wrapper modules into the shared cache.

One unit (wrapper module) is one ``go build -v`` of all its commands. Go's own build and module
caches (under ``~/.cache/pdn/go``) make an interrupted build resumable and a rebuild cheap; a
``build.json`` stamp next to each binary marks it finished. Units run in parallel when memory
allows (a Kubernetes link step alone needs about 3 GiB).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from pdn import paths
from pdn.console import console
from pdn.errors import PdnError, ToolMissingError
from pdn.progress import PLAIN_PROGRESS_EVERY, StepProgress
from pdn.toolchain import langhost_launcher
from pdn.toolchain.eta import BuildClock, describe_left, record_time
from pdn.toolchain.locate import (
    STAMP,
    cached_binary,
    install_dir,
    on_path_at_pin,
    pulumi_home,
    read_stamp,
)
from pdn.toolchain.lock import Lock, Unit, load_lock

GIB = 1024**3
MEMORY_PER_BUILD = 6 * GIB  # peak of a kube-apiserver build with -p 2, with room to spare


@dataclass
class Outcome:
    """What happened to one unit."""

    unit: str
    status: str  # built | cached | on-path | failed
    seconds: float = 0.0
    detail: str = ""
    tools: list[str] = field(default_factory=list)


def go_binary() -> Path:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if not found:
        raise ToolMissingError("the Go toolchain is missing", hint="install Go 1.26 into /usr/local/go")
    return Path(found)


def go_env() -> dict[str, str]:
    """Environment for every go command: caches outside the clone, no toolchain downloads."""
    cache = paths.cache_dir() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(cache / "mod"),
        GOCACHE=str(cache / "build"),
        GOFLAGS="-trimpath",
        GOTOOLCHAIN="local",
        PATH=f"{go_binary().parent}:{env.get('PATH', '')}",
    )
    return env


def logs_dir() -> Path:
    folder = paths.cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def auto_jobs(units: int) -> int:
    """Parallel builds: one per ``MEMORY_PER_BUILD`` of available memory, at most 2 (2 cores)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        available = MEMORY_PER_BUILD
    return max(1, min(units, 2, available // MEMORY_PER_BUILD))


def unit_env(unit: Unit) -> dict[str, str]:
    """``go_env()`` plus what the unit asks for (static binaries are built without cgo)."""
    env = go_env()
    if unit.static:
        env["CGO_ENABLED"] = "0"
    return env


def _run_go(args: list[str], cwd: Path, log: Path) -> subprocess.CompletedProcess[str]:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ go {' '.join(args)}\n")
        done = subprocess.run(
            [str(go_binary()), *args], cwd=cwd, env=go_env(), capture_output=True, text=True, check=False
        )
        out.write(done.stdout + done.stderr)
    return done


def module_dir_of(module: str, cwd: Path, log: Path) -> Path:
    """Where the module cache holds ``module`` at the version the wrapper pins."""
    done = _run_go(["list", "-m", "-f", "{{.Dir}}", module], cwd, log)
    if done.returncode != 0 or not done.stdout.strip():
        raise PdnError(f"cannot find {module} in the module cache", hint=f"see {log}")
    return Path(done.stdout.strip())


def _prepare_pulumi_kubernetes(unit: Unit, folder: Path, log: Path) -> None:
    """Generate the provider's embedded schema (version stamped) and compact terraform mapping."""
    if _run_go(["mod", "download"], folder, log).returncode != 0:
        raise PdnError(f"go mod download failed for {unit.name}", hint=f"see {log}")
    upstream = module_dir_of(unit.source, folder, log) / "cmd" / "pulumi-resource-kubernetes"
    schema = json.loads((upstream / "schema.json").read_text(encoding="utf-8"))
    schema["version"] = (unit.plugin.version if unit.plugin else unit.version).removeprefix("v")
    (folder / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")), encoding="utf-8")
    mapping = json.loads((upstream / "terraform-mapping.json").read_text(encoding="utf-8"))
    (folder / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")), encoding="utf-8")


PREPARE: dict[str, Callable[[Unit, Path, Path], None]] = {
    "pulumi-kubernetes-embed": _prepare_pulumi_kubernetes,
}


def build_folder(unit: Unit, log: Path) -> Path:
    """The wrapper module itself, or a copy in the cache when a prepare step writes files."""
    if not unit.module_dir.is_dir():
        raise PdnError(f"wrapper module {unit.module_dir} is missing")
    if unit.prepare is None:
        return unit.module_dir
    folder = paths.cache_dir() / "build" / unit.name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(unit.module_dir, folder)
    PREPARE[unit.prepare](unit, folder, log)
    return folder


def count_packages(unit: Unit, folder: Path, log: Path) -> int:
    """How many packages ``go build`` may compile (the progress bar's total)."""
    done = _run_go(["list", "-deps", "-f", "{{.ImportPath}}", *unit.packages.values()], folder, log)
    return max(1, len(done.stdout.split())) if done.returncode == 0 else 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _staged_binary(staged: Path, tool: str, package: str) -> Path:
    """The file ``go build -o DIR/`` wrote for ``package`` (``.../server/v3`` is named ``server``)."""
    elements = package.rstrip("/").split("/")
    if len(elements) > 1 and elements[-1].startswith("v") and elements[-1][1:].isdigit():
        elements = elements[:-1]
    for name in (elements[-1], tool):
        if (staged / name).is_file():
            return staged / name
    raise PdnError(f"go build wrote no binary for {package} in {staged}")


def _install(unit: Unit, staged: Path, seconds: float, go_version: str) -> None:
    """Move each staged binary into its own ``<tool>-<version>/bin`` and write its stamp last."""
    for tool, package in unit.packages.items():
        built = _staged_binary(staged, tool, package)
        target = cached_binary(tool, unit)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{tool}.tmp")
        shutil.copy2(built, tmp)
        tmp.chmod(0o755)
        tmp.replace(target)
        stamp = {
            "tool": tool,
            "version": unit.version,
            "source": f"{unit.source}@{unit.version}",
            "package": package,
            "go": go_version,
            "seconds": round(seconds, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "sha256": _sha256(target),
            "recipe": unit.recipe(),
        }
        (install_dir(tool, unit.version) / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", "utf-8")


def install_data(unit: Unit, folder: Path, log: Path) -> None:
    """Assemble ``unit.data`` files and copy ``unit.data_dirs`` from the pinned upstream module
    next to the first tool."""
    if not unit.data and not unit.data_dirs:
        return
    upstream = module_dir_of(unit.source, folder, log)
    target_dir = install_dir(unit.tools[0], unit.version)
    target_dir.mkdir(parents=True, exist_ok=True)
    for name, sources in unit.data.items():
        parts = [(upstream / source).read_text(encoding="utf-8").strip() for source in sources]
        (target_dir / name).write_text("\n---\n".join(parts) + "\n", encoding="utf-8")
    for name, source in unit.data_dirs.items():
        target = target_dir / name
        if target.exists():
            shutil.rmtree(target)
        # The module cache is read-only; the copy must be writable so that a rebuild can replace it.
        shutil.copytree(upstream / source, target, copy_function=shutil.copyfile)


def is_current(unit: Unit) -> bool:
    """Every tool of ``unit`` has a finished build made from the unit's current recipe."""
    stamps = [read_stamp(tool, unit) for tool in unit.tools]
    return all(stamp is not None and stamp.get("recipe") == unit.recipe() for stamp in stamps)


def build_unit(unit: Unit, on_step: Callable[[int, int, str], None], force: bool = False) -> Outcome:
    """Build one unit; ``on_step(done, total, package)`` reports compile progress."""
    if not force and is_current(unit):
        return Outcome(unit.name, "cached", tools=unit.tools)
    if not force and all(on_path_at_pin(tool, unit) is not None for tool in unit.tools):
        return Outcome(unit.name, "on-path", tools=unit.tools)
    log = logs_dir() / f"build-{unit.name}.log"
    log.write_text(f"# {unit.source}@{unit.version}\n", encoding="utf-8")
    started = time.monotonic()
    folder = build_folder(unit, log)
    total = count_packages(unit, folder, log)
    on_step(0, total, "compiling")
    go_version = _run_go(["env", "GOVERSION"], folder, log).stdout.strip()
    with tempfile.TemporaryDirectory(prefix=f"pdn-{unit.name}-", dir=paths.cache_dir()) as staged:
        packages = list(unit.packages.values())
        command = [str(go_binary()), "build", "-v", "-ldflags", unit.rendered_ldflags(), "-o", staged + "/"]
        if unit.tags:
            command[3:3] = ["-tags", ",".join(unit.tags)]
        with log.open("a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(command + packages)}\n")
            out.flush()
            process = subprocess.Popen(
                command + packages,
                cwd=folder,
                env=unit_env(unit),
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert process.stderr is not None
            for compiled, line in enumerate(process.stderr, start=1):
                out.write(line)
                on_step(min(compiled, total - 1), total, line.strip()[-60:])
            code = process.wait()
        if code != 0:
            tail = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()][-3:]
            raise PdnError(f"building {unit.name} failed: {' | '.join(tail)[:300]}", hint=f"full log: {log}")
        install_data(unit, folder, log)
        seconds = time.monotonic() - started
        _install(unit, Path(staged), seconds, go_version)
    on_step(total, total, "done")
    return Outcome(unit.name, "built", seconds, tools=unit.tools)


def install_plugins(lock: Lock) -> list[str]:
    """Install built provider binaries as Pulumi plugins (needs the pulumi CLI built)."""
    notes: list[str] = []
    pulumi_unit = lock.unit_of("pulumi")
    if read_stamp("pulumi", pulumi_unit) is None:
        return notes
    pulumi = cached_binary("pulumi", pulumi_unit)
    env = dict(os.environ, PULUMI_HOME=str(pulumi_home()), PULUMI_SKIP_UPDATE_CHECK="true")
    for unit in lock.units.values():
        if unit.plugin is None:
            continue
        tool = unit.tools[0]
        if read_stamp(tool, unit) is None:
            continue
        plugin = unit.plugin
        folder = pulumi_home() / "plugins" / f"{plugin.kind}-{plugin.name}-{plugin.version}"
        binary = folder / tool
        if binary.is_file() and _sha256(binary) == _sha256(cached_binary(tool, unit)):
            continue
        done = subprocess.run(
            [str(pulumi), "plugin", "install", plugin.kind, plugin.name, plugin.version, "--file",
             str(cached_binary(tool, unit)), "--reinstall"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise PdnError(f"pulumi plugin install {plugin.name} {plugin.version} failed: {done.stderr.strip()[:300]}")
        notes.append(f"installed Pulumi plugin {plugin.kind} {plugin.name} {plugin.version}")
    return notes


def select_units(lock: Lock, tools: Iterable[str], include_optional: bool) -> list[Unit]:
    """Units needed for ``tools`` (all non-optional units when empty), in lock order."""
    wanted = list(tools)
    if not wanted:
        return [unit for unit in lock.units.values() if include_optional or not unit.optional]
    names = {lock.unit_of(tool).name for tool in wanted if tool != "pulumi-language-python"}
    return [unit for unit in lock.units.values() if unit.name in names]


def build(
    tools: Iterable[str] = (), *, jobs: int | None = None, force: bool = False, include_optional: bool = False
) -> list[Outcome]:
    """Build what ``tools`` need (or the whole non-optional toolchain), with progress bars."""
    tools = list(tools)
    lock = load_lock()
    units = select_units(lock, tools, include_optional)
    workers = jobs or auto_jobs(len(units))
    outcomes: list[Outcome] = []
    lock_guard = threading.Lock()
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[unit]:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("[dim]{task.fields[step]}", justify="left"),
    )
    clock = BuildClock([unit.name for unit in units if force or not is_current(unit)], workers)
    steps: dict[str, str] = {}

    def plain_line() -> str:
        with lock_guard:
            finished = len(outcomes)
            building = ", ".join(f"{name} ({step})" for name, step in sorted(steps.items()))
        return (
            f"toolchain: {finished}/{len(units)} units done; building {building or 'nothing'}; "
            f"{describe_left(clock.seconds_left())}"
        )

    with StepProgress(
        "toolchain", columns=columns, console=console, every=PLAIN_PROGRESS_EVERY, line=plain_line,
        fields={"unit": "toolchain (estimated)", "step": ""},
    ) as overall:  # fmt: skip
        progress = overall.progress
        # The overall bar counts estimated seconds of work: rich shows it, the plain lines say it in words.
        progress.update(overall.task, total=max(clock.total, 1.0))
        tasks: dict[str, TaskID] = {
            unit.name: progress.add_task(unit.name, total=None, unit=unit.name, step="waiting") for unit in units
        }
        stop_ticking = threading.Event()

        def tick() -> None:
            while not stop_ticking.wait(1.0):
                progress.update(overall.task, completed=clock.done(), step=describe_left(clock.seconds_left()))

        def run(unit: Unit) -> Outcome:
            task = tasks[unit.name]
            clock.start(unit.name)

            def step(done: int, total: int, what: str) -> None:
                progress.update(task, completed=done, total=total, step=what)
                with lock_guard:
                    steps[unit.name] = f"{done}/{total} packages"

            try:
                outcome = build_unit(unit, step, force)
            except PdnError as error:
                outcome = Outcome(unit.name, "failed", detail=str(error) + (f" ({error.hint})" if error.hint else ""))
            progress.update(task, completed=1, total=1, step=outcome.status) if outcome.status != "built" else None
            if outcome.status == "built":
                record_time(unit.name, outcome.seconds)
            clock.finish(unit.name)
            with lock_guard:
                outcomes.append(outcome)
                steps.pop(unit.name, None)
            return outcome

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(run, units))
        finally:
            stop_ticking.set()
            ticker.join()
        progress.update(overall.task, completed=clock.total, step="done")
    notes = install_plugins(lock)
    if read_stamp("pulumi", lock.unit_of("pulumi")) is not None:
        notes.append(langhost_launcher.write())
    for note in notes:
        console.print(f"[green]•[/] {note}")
    return sorted(outcomes, key=lambda outcome: list(lock.units).index(outcome.unit))
