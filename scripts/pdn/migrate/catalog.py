"""The super-app catalog: which shared apps the duplicates fold into, and why.

A typed model (pydantic) of ``pdn/data/migrate/superapps.yaml`` or a ministry's own copy:

* ``sources``: the policy documents the catalog rests on, each with what it says;
* ``priority_services``: the national SPBE priority services (Perpres 82/2023 names nine), each
  pointing at the super app that carries it, or saying why none does;
* ``building_blocks``: the shared components the super apps are built from (GovStack's names);
* ``superapps``: id, name, glossary concepts, host site, the sources and priority services it
  answers to, the building blocks it relies on, and its canonical datasets (owner agency and
  the concepts whose legacy data merges into each).

Every reference is checked (a source, block, priority service or site that does not exist; a
dataset concept the super app does not cover; a concept no dataset takes) and every error
names the file, the line and the field.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pdn import safeload
from pdn.errors import InputError
from pdn.sites.model import SiteModel

ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
BuildingBlock = Literal[
    "identity",
    "payments",
    "messaging",
    "registration",
    "workflow",
    "information-mediation",
    "digital-registries",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    id: str = Field(pattern=ID)
    title: str = Field(min_length=3)
    publisher: str = Field(min_length=2)
    year: int = Field(ge=1945, le=2100)
    says: str = Field(min_length=10, description="what the catalog takes from it")


class PriorityService(_Strict):
    id: str = Field(pattern=ID)
    name: str = Field(min_length=3)
    source: str
    superapp: str | None = None
    note: str = Field(min_length=10, description="how it is carried, or why no super app carries it")


class Dataset(_Strict):
    id: str = Field(pattern=ID)
    title: str = Field(min_length=3)
    owner: str = Field(min_length=2, description="the agency accountable for the data (Satu Data: walidata/produsen)")
    concepts: list[str] = Field(min_length=1)
    description: str = ""


class SuperApp(_Strict):
    id: str = Field(pattern=ID)
    name: str
    description: str = ""
    concepts: list[str] = Field(min_length=1)
    site: str
    min_users: int = Field(default=100, ge=0)
    sources: list[str] = Field(min_length=1)
    priority_services: list[str] = Field(default_factory=list)
    building_blocks: list[BuildingBlock] = Field(min_length=1)
    datasets: list[Dataset] = Field(min_length=1)


class Catalog(_Strict):
    sources: list[Source] = Field(min_length=1)
    priority_services: list[PriorityService] = Field(default_factory=list)
    superapps: list[SuperApp] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Catalog:
        problems: list[str] = []
        sources = _unique("sources", [s.id for s in self.sources], problems)
        services = _unique("priority_services", [p.id for p in self.priority_services], problems)
        apps = _unique("superapps", [a.id for a in self.superapps], problems)
        for i, service in enumerate(self.priority_services):
            if service.source not in sources:
                problems.append(f"priority_services[{i}].source: unknown source {service.source!r}")
            if service.superapp is not None and service.superapp not in apps:
                problems.append(f"priority_services[{i}].superapp: unknown super app {service.superapp!r}")
        datasets: set[str] = set()
        for i, app in enumerate(self.superapps):
            for j, source in enumerate(app.sources):
                if source not in sources:
                    problems.append(f"superapps[{i}].sources[{j}]: unknown source {source!r}")
            for j, carried in enumerate(app.priority_services):
                if carried not in services:
                    problems.append(f"superapps[{i}].priority_services[{j}]: unknown priority service {carried!r}")
            covered: set[str] = set()
            for j, dataset in enumerate(app.datasets):
                if dataset.id in datasets:
                    problems.append(f"superapps[{i}].datasets[{j}].id: duplicate dataset id {dataset.id!r}")
                datasets.add(dataset.id)
                for k, concept in enumerate(dataset.concepts):
                    if concept not in app.concepts:
                        problems.append(
                            f"superapps[{i}].datasets[{j}].concepts[{k}]: {concept!r} is not a concept of {app.id}"
                        )
                covered |= set(dataset.concepts)
            missing = [c for c in app.concepts if c not in covered]
            if missing:
                problems.append(
                    f"superapps[{i}].datasets: no dataset takes the data of concept(s) {', '.join(missing)}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def superapp(self, superapp_id: str) -> SuperApp:
        return next(app for app in self.superapps if app.id == superapp_id)


def _unique(field: str, ids: list[str], problems: list[str]) -> set[str]:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            problems.append(f"{field}[{i}].id: duplicate id {item!r}")
        seen.add(item)
    return seen


def _line(node: Any, location: tuple[int | str, ...]) -> int:
    """The line of the YAML node at a pydantic error location (the nearest existing parent)."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else 0
    for step in location:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            child = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            child = node.value[step]
        else:
            child = None
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _location(text: str) -> tuple[int | str, ...]:
    """``superapps[2].datasets[0]`` -> ("superapps", 2, "datasets", 0)."""
    import re

    parts: list[int | str] = []
    for name, index in re.findall(r"([a-z_]+)(?:\[(\d+)\])?", text.split(":")[0]):
        parts.append(name)
        if index:
            parts.append(int(index))
    return tuple(parts)


def _messages(error: ValidationError, node: Any, name: str) -> list[str]:
    lines = []
    for item in error.errors():
        location = tuple(item["loc"])
        if not location and item["type"] == "value_error":  # the reference checks: one message, many problems
            for problem in str(item["msg"]).removeprefix("Value error, ").split("; "):
                lines.append(f"{name}:{_line(node, _location(problem))}: {problem}")
            continue
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in location).replace(".[", "[")
        lines.append(f"{name}:{_line(node, location)}: {field or 'catalog'}: {item['msg']}")
    return lines


def load_catalog(path: Path | None, sites: SiteModel) -> tuple[Catalog, str]:
    """The catalog (shipped default or ``path``), checked against the site model; and its text."""
    if path is None:
        text = resources.files("pdn.data").joinpath("migrate/superapps.yaml").read_text(encoding="utf-8")
        name = "superapps.yaml (shipped)"
    else:
        text = safeload.read_text(path)
        name = safeload.shown(path)
    data, node = safeload.compose_yaml(text, name)
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as error:
        problems = _messages(error, node, name)
        raise InputError(
            f"catalog {name} is invalid ({len(problems)} problems):\n  " + "\n  ".join(problems),
            hint="compare with the shipped superapps.yaml; docs/migration.md explains every field",
        ) from None
    for i, app in enumerate(catalog.superapps):
        if app.site not in sites.ids:
            raise InputError(
                f"{name}:{_line(node, ('superapps', i, 'site'))}: superapps[{i}].site: "
                f"super app {app.id} on unknown site {app.site!r}",
                hint=f"known sites: {', '.join(sites.ids)}",
            )
    return catalog, text
