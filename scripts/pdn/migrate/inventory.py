"""Read ``inventory`` and ``datacenters`` from CSV, JSON or YAML, collecting every problem.

Each problem names the file, the line (CSV line or YAML line; JSON records are named by index)
and the field. :func:`load` raises :class:`InventoryError` when anything is wrong, so no later
stage ever runs on invalid input.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pdn.errors import InputError
from pdn.migrate.schema import (
    APP_COLUMNS,
    APP_OPTIONAL,
    DC_COLUMNS,
    DC_OPTIONAL,
    AgencyType,
    App,
    Classification,
    Criticality,
    Datacenter,
    Runtime,
    Status,
)

SUFFIXES = (".csv", ".json", ".yaml", ".yml")
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InventoryError(InputError):
    """The inventory cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem], shown: int = 20) -> None:
        self.problems = sorted(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems[:shown])
        more = f"\n  ... and {count - shown} more" if count > shown else ""
        super().__init__(
            f"inventory is invalid ({count} problem{'s' if count != 1 else ''}):\n{lines}{more}",
            hint="fix the rows named above (`pdn migrate validate` writes them all to problems.csv)",
        )


@dataclass(frozen=True)
class Inventory:
    """A loaded, valid inventory."""

    apps: list[App]
    datacenters: list[Datacenter]
    app_file: Path
    dc_file: Path
    extra_columns: tuple[str, ...] = ()

    def by_id(self) -> dict[str, App]:
        return {app.app_id: app for app in self.apps}


@dataclass
class RawRecord:
    """One record as strings, with the line it starts on (0 when unknown)."""

    values: dict[str, str]
    line: int
    label: str  # "line 12" style location used when line is 0 (JSON)


def find_file(path: Path, stem: str) -> Path:
    """``path`` itself when it is a file, else ``path/<stem>.{csv,json,yaml,yml}``."""
    if path.is_file():
        return path
    for suffix in SUFFIXES:
        candidate = path / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise InputError(
        f"no {stem}.csv/.json/.yaml in {path}",
        hint="point --inventory at a folder made by `pdn migrate generate` or at the file itself",
    )


def _stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(_stringify(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def read_records(path: Path) -> tuple[list[str], list[RawRecord], list[Problem]]:
    """Header and string records of a CSV, JSON or YAML file (a list of objects)."""
    name = str(path)
    if path.suffix == ".csv":
        try:
            handle = path.open(newline="", encoding="utf-8")
            with handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    return [], [], [Problem(name, 1, "", "file is empty (a header row is required)")]
                header = [column.strip() for column in header]
                records: list[RawRecord] = []
                problems: list[Problem] = []
                start = reader.line_num + 1
                for row in reader:
                    if len(row) != len(header) and any(cell.strip() for cell in row):
                        problems.append(Problem(name, start, "", f"row has {len(row)} cells, header has {len(header)}"))
                    elif any(cell.strip() for cell in row):
                        records.append(RawRecord(dict(zip(header, row, strict=True)), start, ""))
                    start = reader.line_num + 1
                return header, records, problems
        except UnicodeDecodeError as error:
            return [], [], [Problem(name, 0, "", f"not UTF-8: {error.reason} at byte {error.start}")]
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
            lines: list[int] = []
        else:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if isinstance(v, yaml.SequenceNode)), None)
            lines = [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        return [], [], [Problem(name, 0, "", f"cannot parse: {error}")]
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        return [], [], [Problem(name, 0, "", "expected a list of records (or a mapping holding one)")]
    header_seen: dict[str, None] = {}
    records = []
    problems = []
    for index, item in enumerate(data):
        line = lines[index] if index < len(lines) else 0
        if not isinstance(item, dict):
            problems.append(Problem(name, line, f"[{index}]", "record is not a mapping"))
            continue
        for key in item:
            header_seen.setdefault(str(key), None)
        records.append(RawRecord({str(k): _stringify(v) for k, v in item.items()}, line, f"[{index}]"))
    return list(header_seen), records, problems


class _RowChecker:
    """Turns one raw record into typed values, remembering problems by column."""

    def __init__(self, file: str, record: RawRecord, problems: list[Problem]) -> None:
        self.file = file
        self.record = record
        self.problems = problems
        self.ok = True

    def fail(self, column: str, message: str) -> None:
        self.ok = False
        prefix = f"{self.record.label}." if self.record.label else ""
        self.problems.append(Problem(self.file, self.record.line, prefix + column, message))

    def text(self, column: str, optional: frozenset[str]) -> str:
        value = self.record.values.get(column, "").strip()
        if not value and column not in optional:
            self.fail(column, "is empty")
        return value

    def enum(self, column: str, kind: type[E]) -> E:
        raw = self.record.values.get(column, "").strip()
        try:
            return kind(raw.lower())
        except ValueError:
            allowed = "|".join(member.value for member in kind)
            self.fail(column, f"{raw!r} is not one of {allowed}")
            return next(iter(kind))

    def number(self, column: str, convert: Callable[[str], float | int]) -> Any:
        raw = self.record.values.get(column, "").strip()
        try:
            value = convert(raw)
        except ValueError:
            kind = "an integer" if convert is int else "a number"
            self.fail(column, f"{raw!r} is not {kind}")
            return 0
        if value != value or value < 0 or value in (float("inf"),):
            self.fail(column, f"{raw!r} must be a finite number >= 0")
            return 0
        return value

    def date(self, column: str) -> dt.date:
        raw = self.record.values.get(column, "").strip()
        try:
            value = dt.date.fromisoformat(raw)
        except ValueError:
            self.fail(column, f"{raw!r} is not an ISO date (YYYY-MM-DD)")
            return dt.date(1970, 1, 1)
        if value > dt.date.today() + dt.timedelta(days=1):
            self.fail(column, f"{raw} is in the future")
        return value

    def items(self, column: str) -> tuple[str, ...]:
        raw = self.record.values.get(column, "")
        return tuple(part.strip() for part in raw.split(";") if part.strip())


def _header_problems(file: str, header: list[str], required: Sequence[str]) -> list[Problem]:
    missing = [column for column in required if column not in header]
    return [Problem(file, 1, column, "required column is missing") for column in missing]


def parse_apps(path: Path) -> tuple[list[App], tuple[str, ...], list[Problem]]:
    header, records, problems = read_records(path)
    file = str(path)
    if records or header:
        problems += _header_problems(file, header, APP_COLUMNS)
    if any(p.message == "required column is missing" for p in problems):
        return [], (), problems
    extra_columns = tuple(column for column in header if column not in APP_COLUMNS)
    apps: list[App] = []
    for record in records:
        check = _RowChecker(file, record, problems)
        app = App(
            app_id=check.text("app_id", APP_OPTIONAL),
            name=check.text("name", APP_OPTIONAL),
            description=check.text("description", APP_OPTIONAL),
            agency=check.text("agency", APP_OPTIONAL),
            agency_type=check.enum("agency_type", AgencyType),
            province=check.text("province", APP_OPTIONAL),
            legacy_dc=check.text("legacy_dc", APP_OPTIONAL),
            tech_stack=tuple(item.lower() for item in check.items("tech_stack")),
            runtime=check.enum("runtime", Runtime),
            data_gb=float(check.number("data_gb", float)),
            monthly_users=int(check.number("monthly_users", int)),
            classification=check.enum("classification", Classification),
            criticality=check.enum("criticality", Criticality),
            depends_on=check.items("depends_on"),
            status=check.enum("status", Status),
            last_release=check.date("last_release"),
            line=record.line,
            extra={column: record.values.get(column, "") for column in extra_columns},
        )
        if check.ok:
            apps.append(app)
    return apps, extra_columns, problems


def parse_datacenters(path: Path) -> tuple[list[Datacenter], list[Problem]]:
    header, records, problems = read_records(path)
    file = str(path)
    if records or header:
        problems += _header_problems(file, header, DC_COLUMNS)
    if any(p.message == "required column is missing" for p in problems):
        return [], problems
    extra_columns = [column for column in header if column not in DC_COLUMNS]
    dcs: list[Datacenter] = []
    for record in records:
        check = _RowChecker(file, record, problems)
        dc = Datacenter(
            dc_id=check.text("dc_id", DC_OPTIONAL),
            name=check.text("name", DC_OPTIONAL),
            agency=check.text("agency", DC_OPTIONAL),
            province=check.text("province", DC_OPTIONAL),
            cloud=check.text("cloud", DC_OPTIONAL),
            racks=int(check.number("racks", int)),
            power_kw=float(check.number("power_kw", float)),
            line=record.line,
            extra={column: record.values.get(column, "") for column in extra_columns},
        )
        if check.ok:
            dcs.append(dc)
    return dcs, problems


def referential_problems(
    apps: Sequence[App], dcs: Sequence[Datacenter], app_file: str, dc_file: str
) -> Iterator[Problem]:
    """Duplicate ids, unknown data centres, unknown and self dependencies."""
    dc_ids: set[str] = set()
    for dc in dcs:
        if dc.dc_id in dc_ids:
            yield Problem(dc_file, dc.line, "dc_id", f"duplicate dc_id {dc.dc_id!r}")
        dc_ids.add(dc.dc_id)
    app_ids: dict[str, int] = {}
    for app in apps:
        if app.app_id in app_ids:
            yield Problem(
                app_file,
                app.line,
                "app_id",
                f"duplicate app_id {app.app_id!r} (first on line {app_ids[app.app_id]})",
            )
        else:
            app_ids[app.app_id] = app.line
    for app in apps:
        if dcs and app.legacy_dc not in dc_ids:
            yield Problem(app_file, app.line, "legacy_dc", f"unknown data centre {app.legacy_dc!r}")
        for dep in app.depends_on:
            if dep == app.app_id:
                yield Problem(app_file, app.line, "depends_on", "application depends on itself")
            elif dep not in app_ids:
                yield Problem(app_file, app.line, "depends_on", f"unknown application {dep!r}")


def check(inventory_path: Path, datacenters_path: Path | None = None) -> tuple[Inventory | None, list[Problem]]:
    """Load and check both files; the inventory is ``None`` when there is any problem."""
    app_file = find_file(inventory_path, "inventory")
    dc_file = find_file(
        datacenters_path or (app_file.parent if inventory_path.is_file() else inventory_path), "datacenters"
    )
    apps, extra, problems = parse_apps(app_file)
    dcs, dc_problems = parse_datacenters(dc_file)
    problems += dc_problems
    if not apps and not any(p.file == str(app_file) for p in problems):
        problems.append(Problem(str(app_file), 0, "", "no applications in the inventory"))
    problems += referential_problems(apps, dcs, str(app_file), str(dc_file))
    if problems:
        return None, sorted(problems)
    return Inventory(apps, dcs, app_file, dc_file, extra), []


def load(inventory_path: Path, datacenters_path: Path | None = None) -> Inventory:
    """The valid inventory, or :class:`InventoryError` listing every problem."""
    inventory, problems = check(inventory_path, datacenters_path)
    if inventory is None:
        raise InventoryError(problems)
    return inventory
