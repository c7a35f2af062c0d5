"""The toolchain lock file (``toolchain.lock``): which tool is built from which pinned source."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from pdn import safeload
from pdn.errors import InputError

LOCK_FILE = Path(__file__).with_name("toolchain.lock")
MODULES_DIR = Path(__file__).with_name("modules")


class Plugin(BaseModel):
    """How a built binary is installed as a Pulumi plugin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: str
    version: str = Field(description="Version the Python SDK asks for; the plugin is installed under it.")
    sdk_package: str = Field(description="Python distribution whose version must equal `version`.")


LATER_FIELDS = ("tags", "static", "data_dirs")


class Unit(BaseModel):
    """One Go wrapper module and the commands one ``go build`` of it produces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    module: str = Field(description="Folder under modules/ holding go.mod and go.sum.")
    source: str = Field(description="The upstream Go module the commands come from.")
    version: str
    packages: dict[str, str] = Field(min_length=1, description="tool name -> Go package to build")
    ldflags: list[str] = Field(default_factory=list)
    version_args: list[str] = Field(default_factory=list, description="Arguments that print the version.")
    version_match: str | None = Field(default=None, description="Text that proves the pinned version.")
    prepare: str | None = Field(default=None, description="Named step run in the build folder first.")
    plugin: Plugin | None = None
    data: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Files assembled from the pinned module into the tool's folder: name -> module paths.",
    )
    optional: bool = Field(default=False, description="Not needed by the lab itself.")
    notes: str = ""
    tags: list[str] = Field(default_factory=list, description="Go build tags.")
    static: bool = Field(
        default=False, description="Build with CGO_ENABLED=0: the binary goes into a FROM-scratch image or a node."
    )
    data_dirs: dict[str, str] = Field(
        default_factory=dict, description="Folders copied from the pinned module into the tool's folder: name -> path."
    )

    @property
    def tools(self) -> list[str]:
        return list(self.packages)

    @property
    def module_dir(self) -> Path:
        return MODULES_DIR / self.module

    @property
    def expected_version_text(self) -> str:
        """What a ``--version`` output must contain for a binary on PATH to count as pinned."""
        return self.version_match or self.version.removeprefix("v")

    def recipe(self) -> str:
        """Hash of everything that shapes the binaries: the unit's entry and its go.mod/go.sum.

        A finished build whose stamp holds another recipe is rebuilt by ``pdn toolchain build``.
        """
        # Fields added after the first units were built count only when set, so that adding them
        # did not change the recipe (and force a rebuild) of every unit that does not use them.
        unset = {
            name
            for name in LATER_FIELDS
            if getattr(self, name) == type(self).model_fields[name].get_default(call_default_factory=True)
        }
        digest = hashlib.sha256(self.model_dump_json(exclude=unset).encode())
        for name in ("go.mod", "go.sum"):
            path = self.module_dir / name
            digest.update(path.read_bytes() if path.is_file() else b"")
        return digest.hexdigest()[:16]

    def rendered_ldflags(self) -> str:
        """``-s -w`` plus the unit's ``-X`` flags with ``{version}``, ``{major}``, ``{minor}`` filled in."""
        parts = self.version.removeprefix("v").split(".")
        values = {"version": self.version, "major": parts[0], "minor": parts[1] if len(parts) > 1 else "0"}
        return " ".join(["-s", "-w", *(flag.format(**values) for flag in self.ldflags)])


class Lock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(ge=1, le=1)
    go: str
    units: dict[str, Unit]

    def unit_of(self, tool: str) -> Unit:
        """The unit that builds ``tool``; ``InputError`` naming the known tools otherwise."""
        for unit in self.units.values():
            if tool in unit.packages:
                return unit
        raise InputError(f"unknown tool {tool!r}; known tools: {', '.join(self.tools)}")

    @property
    def tools(self) -> list[str]:
        return [tool for unit in self.units.values() for tool in unit.packages]

    def tool_at(self, tool: str, version: str) -> str:
        """The tool that is ``tool`` built at ``version``: ``tool`` itself when its unit pins that
        version, else the tool of another unit at ``version`` that builds the same Go package,
        static or not as ``tool`` is (``kubelet`` at the previous release is ``kubelet-previous``).
        ``InputError`` naming the versions there are when none does."""
        unit = self.unit_of(tool)
        if unit.version == version:
            return tool
        package = unit.packages[tool]
        for other in self.units.values():
            if other.version != version or other.static != unit.static:
                continue
            for name, built in other.packages.items():
                if built == package:
                    return name
        kind = "static" if unit.static else "with cgo"
        pinned = sorted(
            {u.version for u in self.units.values() if package in u.packages.values() and u.static == unit.static}
        )
        raise InputError(
            f"no unit of toolchain.lock builds {package} ({kind}) at {version}; pinned: {', '.join(pinned)}"
        )


def parse_lock(text: str) -> Lock:
    raw = safeload.yaml_text(text, "toolchain.lock")
    for name, unit in (raw.get("units") or {}).items():
        unit["name"] = name
    return Lock.model_validate(raw)


@cache
def load_lock(path: Path = LOCK_FILE) -> Lock:
    """The lock file, parsed once per process."""
    try:
        return parse_lock(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, ValueError) as error:
        raise InputError(f"cannot read the toolchain lock {path}: {error}") from None
