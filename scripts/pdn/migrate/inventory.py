"""Read ``inventory`` and ``datacenters`` from CSV, JSON or YAML, collecting every problem.

Each problem names the file, the line (CSV line or YAML line; JSON records are named by index)
and the field. :func:`load` raises :class:`InventoryError` when anything is wrong, so no later
stage ever runs on invalid input.

Inventories are untrusted: files are read through :mod:`pdn.safeload` (regular files only, at
most ``DATA_LIMIT`` bytes, UTF-8 with or without a byte-order mark, bounded YAML and JSON), and
every value is checked against what it may hold (:mod:`pdn.migrate.schema`): identifiers match
:data:`pdn.naming.IDENTIFIER`, and no two apps may share a bucket or an output folder.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pdn import naming, safeload
from pdn.errors import InputError
from pdn.migrate.schema import (
    AGENCY_MIN,
    APP_COLUMNS,
    APP_OPTIONAL,
    DC_COLUMNS,
    DC_OPTIONAL,
    DESCRIPTION_MAX,
    NOT_MULTI_LINE,
    NOT_ONE_LINE,
    NUMBER_MAX,
    ONE_LINE_MAX,
    AgencyType,
    App,
    Classification,
    Criticality,
    Datacenter,
    Runtime,
    Status,
)
from pdn.migrate.workspace import csv_value

SUFFIXES = (".csv", ".json", ".yaml", ".yml")
EXTRA_MAX = 131_072  # an extra column's value: the csv module's own field limit
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
    """``path`` itself unless it is a folder (a FIFO or device is refused when read), else
    ``path/<stem>.{csv,json,yaml,yml}``."""
    if path.exists() and not path.is_dir():
        return path
    for suffix in SUFFIXES:
        candidate = path / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise InputError(
        f"no {stem}.csv/.json/.yaml in {safeload.shown(path)}",
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


def _csv_records(name: str, text: str) -> tuple[list[str], list[RawRecord], list[Problem]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[RawRecord] = []
    problems: list[Problem] = []
    header: list[str] = []
    try:
        first_row = next(reader, None)
        if first_row is None:
            return [], [], [Problem(name, 1, "", "file is empty (a header row is required)")]
        header = [csv_value(column.strip()) for column in first_row]
        first: dict[str, int] = {}
        for index, column in enumerate(header, 1):
            if column and column in first:
                problems.append(Problem(name, 1, column, f"duplicate column (columns {first[column]} and {index})"))
            first.setdefault(column, index)
        if problems:
            return header, [], problems
        start = reader.line_num + 1
        for row in reader:
            if len(row) != len(header) and any(cell.strip() for cell in row):
                problems.append(Problem(name, start, "", f"row has {len(row)} cells, header has {len(header)}"))
            elif any(cell.strip() for cell in row):
                values = dict(zip(header, row, strict=True))
                if any(cell[:1] == "'" for cell in row):  # a spreadsheet text marker csv_cell wrote
                    values = {column: csv_value(cell) for column, cell in values.items()}
                records.append(RawRecord(values, start, ""))
            start = reader.line_num + 1
    except csv.Error as error:
        problems.append(Problem(name, reader.line_num, "", f"CSV error: {error}"))
    return header, records, problems


def read_records(path: Path) -> tuple[list[str], list[RawRecord], list[Problem]]:
    """Header and string records of a CSV, JSON or YAML file (a list of objects)."""
    name = safeload.shown(path)
    try:
        text = safeload.read_text(path, safeload.DATA_LIMIT)
        if path.suffix == ".csv":
            return _csv_records(name, text)
        if path.suffix == ".json":
            data = safeload.json_text(text, name)
            lines: list[int] = []
        else:
            data, node = safeload.compose_yaml(text, name, max_nodes=safeload.DATA_NODES)
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if isinstance(v, yaml.SequenceNode)), None)
            lines = [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []
    except safeload.LoadError as error:
        return [], [], [Problem(name, error.line, "", error.reason)]
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        return [], [], [Problem(name, 0, "", "expected a list of records (or a mapping holding one)")]
    header_seen: dict[str, None] = {}
    records: list[RawRecord] = []
    problems: list[Problem] = []
    for index, item in enumerate(data):
        line = lines[index] if index < len(lines) else 0
        if not isinstance(item, dict):
            problems.append(Problem(name, line, f"[{index}]", "record is not a mapping"))
            continue
        for key in item:
            header_seen.setdefault(str(key), None)
        records.append(RawRecord({str(k): _stringify(v) for k, v in item.items()}, line, f"[{index}]"))
    return list(header_seen), records, problems


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


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

    def text(self, column: str, optional: frozenset[str], limit: int = ONE_LINE_MAX, minimum: int = 1) -> str:
        """One line of text: no control or bidirectional characters, at most ``limit`` long."""
        value = self.record.values.get(column, "").strip()
        if not value:
            if column not in optional:
                self.fail(column, "is empty")
            return value
        if (bad := NOT_ONE_LINE.search(value)) is not None:
            self.fail(column, f"holds the control character U+{ord(bad.group()):04X} (one line of text expected)")
        elif len(value) > limit:
            self.fail(column, f"has {len(value):,} characters; at most {limit:,} are allowed")
        elif len(value) < minimum:
            self.fail(column, f"{value!r} is too short (at least {minimum} characters)")
        return value

    def long_text(self, column: str, limit: int = DESCRIPTION_MAX) -> str:
        """Text that may span lines (a description)."""
        value = self.record.values.get(column, "").strip()
        if (bad := NOT_MULTI_LINE.search(value)) is not None:
            self.fail(column, f"holds the control character U+{ord(bad.group()):04X}")
        elif len(value) > limit:
            self.fail(column, f"has {len(value):,} characters; at most {limit:,} are allowed")
        return value

    def identifier(self, column: str) -> str:
        """A value that becomes a file name, label or bucket: :data:`pdn.naming.IDENTIFIER`."""
        value = self.record.values.get(column, "").strip()
        if not value:
            self.fail(column, "is empty")
        elif (problem := naming.identifier_problem(value)) is not None:
            self.fail(column, problem)
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
        if value > NUMBER_MAX.get(column, float("inf")):
            self.fail(column, f"{raw!r} is larger than {NUMBER_MAX[column]:g}")
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

    def items(self, column: str, identifiers: bool = False) -> tuple[str, ...]:
        """The ``;``-separated items of ``column``: identifiers, or one-line text each."""
        raw = self.record.values.get(column, "")
        parts = tuple(part.strip() for part in raw.split(";") if part.strip())
        for part in parts:
            if identifiers and (problem := naming.identifier_problem(part)) is not None:
                self.fail(column, problem)
                break
            if not identifiers and ((bad := NOT_ONE_LINE.search(part)) is not None or len(part) > ONE_LINE_MAX):
                why = f"the control character U+{ord(bad.group()):04X}" if bad else f"over {ONE_LINE_MAX} characters"
                self.fail(column, f"item {_shown(part)} holds {why}")
                break
        return parts


def _header_problems(file: str, header: list[str], required: Sequence[str]) -> list[Problem]:
    missing = [column for column in required if column not in header]
    return [Problem(file, 1, column, "required column is missing") for column in missing]


def parse_apps(path: Path) -> tuple[list[App], tuple[str, ...], list[Problem]]:
    header, records, problems = read_records(path)
    file = safeload.shown(path)
    if records or header:
        problems += _header_problems(file, header, APP_COLUMNS)
    if any(p.message == "required column is missing" or p.message.startswith("duplicate column") for p in problems):
        return [], (), problems
    extra_columns = tuple(column for column in header if column not in APP_COLUMNS)
    apps: list[App] = []
    for record in records:
        check = _RowChecker(file, record, problems)
        app = App(
            app_id=check.identifier("app_id"),
            name=check.text("name", APP_OPTIONAL),
            description=check.long_text("description"),
            agency=check.text("agency", APP_OPTIONAL, minimum=AGENCY_MIN),
            agency_type=check.enum("agency_type", AgencyType),
            province=check.text("province", APP_OPTIONAL),
            legacy_dc=check.identifier("legacy_dc"),
            tech_stack=tuple(item.lower() for item in check.items("tech_stack")),
            runtime=check.enum("runtime", Runtime),
            data_gb=float(check.number("data_gb", float)),
            monthly_users=int(check.number("monthly_users", int)),
            classification=check.enum("classification", Classification),
            criticality=check.enum("criticality", Criticality),
            depends_on=check.items("depends_on", identifiers=True),
            status=check.enum("status", Status),
            last_release=check.date("last_release"),
            line=record.line,
            extra={column: check.long_text(column, EXTRA_MAX) for column in extra_columns},
        )
        if check.ok:
            apps.append(app)
    return apps, extra_columns, problems


def parse_datacenters(path: Path) -> tuple[list[Datacenter], list[Problem]]:
    header, records, problems = read_records(path)
    file = safeload.shown(path)
    if records or header:
        problems += _header_problems(file, header, DC_COLUMNS)
    if any(p.message == "required column is missing" or p.message.startswith("duplicate column") for p in problems):
        return [], problems
    extra_columns = [column for column in header if column not in DC_COLUMNS]
    dcs: list[Datacenter] = []
    for record in records:
        check = _RowChecker(file, record, problems)
        dc = Datacenter(
            dc_id=check.identifier("dc_id"),
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
    """Duplicate ids, shared buckets and folders, unknown data centres, unknown and self dependencies."""
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
    yield from shared_names(apps, app_file)
    for app in apps:
        if dcs and app.legacy_dc not in dc_ids:
            yield Problem(app_file, app.line, "legacy_dc", f"unknown data centre {app.legacy_dc!r}")
        for dep in app.depends_on:
            if dep == app.app_id:
                yield Problem(app_file, app.line, "depends_on", "application depends on itself")
            elif dep not in app_ids:
                yield Problem(app_file, app.line, "depends_on", f"unknown application {dep!r}")


def shared_names(apps: Sequence[App], app_file: str) -> Iterator[Problem]:
    """Apps whose data would share a bucket, or whose outputs would share a folder (app ids that
    differ only in case, or in ``-``, ``_`` and ``.``): two agencies' data must never mix."""
    owners: dict[tuple[str, str], App] = {}
    for app in apps:
        for kind, name in (("bucket", naming.bucket_name(app.app_id)), ("folder", naming.folder_key(app.app_id))):
            first = owners.setdefault((kind, name), app)
            if first.app_id != app.app_id:
                shown = name if kind == "bucket" else naming.app_folder(app.app_id)
                yield Problem(
                    app_file,
                    app.line,
                    "app_id",
                    f"{app.app_id!r} and {first.app_id!r} (line {first.line}) would share the {kind} {shown}",
                )
                break


def check(inventory_path: Path, datacenters_path: Path | None = None) -> tuple[Inventory | None, list[Problem]]:
    """Load and check both files; the inventory is ``None`` when there is any problem."""
    app_file = find_file(inventory_path, "inventory")
    dc_file = find_file(
        datacenters_path or (app_file.parent if not inventory_path.is_dir() else inventory_path), "datacenters"
    )
    apps, extra, problems = parse_apps(app_file)
    dcs, dc_problems = parse_datacenters(dc_file)
    problems += dc_problems
    app_name, dc_name = safeload.shown(app_file), safeload.shown(dc_file)
    if not apps and not any(p.file == app_name for p in problems):
        problems.append(Problem(app_name, 0, "", "no applications in the inventory"))
    problems += referential_problems(apps, dcs, app_name, dc_name)
    if problems:
        return None, sorted(problems)
    return Inventory(apps, dcs, app_file, dc_file, extra), []


def load(inventory_path: Path, datacenters_path: Path | None = None) -> Inventory:
    """The valid inventory, or :class:`InventoryError` listing every problem."""
    inventory, problems = check(inventory_path, datacenters_path)
    if inventory is None:
        raise InventoryError(problems)
    return inventory
