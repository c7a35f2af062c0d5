"""Typed records of the legacy inventory: one :class:`App` per application, one :class:`Datacenter`.

Rows are checked by hand rather than through pydantic so that every problem carries the exact
column name and so that 24,400 rows load in well under a second.

What each value may hold (docs/migration.md, *Input*; docs/threat-model.md):

- identifiers (``app_id``, ``dc_id``, ``legacy_dc``, each ``depends_on`` item) match
  :data:`pdn.naming.IDENTIFIER`: they become file names, label values and bucket names;
- one-line text (``name``, ``agency``, ``province``, each ``tech_stack`` item, the data centre's
  ``name``, ``agency``, ``province``, ``cloud``) has no control, line-break or bidirectional
  override characters and at most :data:`ONE_LINE_MAX` characters (``agency`` at least 2: it
  names a tenant);
- ``description`` may span lines, up to :data:`DESCRIPTION_MAX` characters;
- numbers are finite, >= 0 and at most :data:`NUMBER_MAX` of their column.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum

from pdn.sites import vocabulary


class AgencyType(StrEnum):
    MINISTRY = "ministry"
    AGENCY = "agency"
    PROVINCE = "province"
    REGENCY = "regency"
    CITY = "city"


class Runtime(StrEnum):
    VM = "vm"
    BARE_METAL = "bare-metal"
    SHARED_HOSTING = "shared-hosting"
    CONTAINER = "container"


# The national scales (pdn.sites.vocabulary): an app's criticality is the tier its tenant gets.
Classification = vocabulary.Classification
Criticality = vocabulary.Tier


class Status(StrEnum):
    ACTIVE = "active"
    IDLE = "idle"
    DECOMMISSIONED = "decommissioned"


APP_COLUMNS: tuple[str, ...] = (
    "app_id",
    "name",
    "description",
    "agency",
    "agency_type",
    "province",
    "legacy_dc",
    "tech_stack",
    "runtime",
    "data_gb",
    "monthly_users",
    "classification",
    "criticality",
    "depends_on",
    "status",
    "last_release",
)
DC_COLUMNS: tuple[str, ...] = ("dc_id", "name", "agency", "province", "cloud", "racks", "power_kw")

ONE_LINE_MAX = 300
DESCRIPTION_MAX = 10_000
AGENCY_MIN = 2
NUMBER_MAX: dict[str, float] = {
    "data_gb": 1e9,  # 1 EB
    "monthly_users": 1e10,
    "racks": 1e6,
    "power_kw": 1e7,
}
# C0/C1 controls, DEL, line and paragraph separators, bidirectional embeddings/overrides/isolates,
# the byte-order mark: invisible characters that break lines or reorder what a reader sees; and
# lone surrogates (a JSON or YAML escape such as "\ud800"), which no UTF-8 output can hold.
NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
NOT_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")

# Columns that may be empty; every other column must have a value.
APP_OPTIONAL: frozenset[str] = frozenset({"description", "tech_stack", "depends_on"})
DC_OPTIONAL: frozenset[str] = frozenset({"cloud"})


@dataclass(slots=True)
class App:
    """One legacy application as read from the inventory (``line`` is where it came from)."""

    app_id: str
    name: str
    description: str
    agency: str
    agency_type: AgencyType
    province: str
    legacy_dc: str
    tech_stack: tuple[str, ...]
    runtime: Runtime
    data_gb: float
    monthly_users: int
    classification: Classification
    criticality: Criticality
    depends_on: tuple[str, ...]
    status: Status
    last_release: dt.date
    line: int = 0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Datacenter:
    """One legacy data centre (server room) that hosts applications."""

    dc_id: str
    name: str
    agency: str
    province: str
    cloud: str
    racks: int
    power_kw: float
    line: int = 0
    extra: dict[str, str] = field(default_factory=dict)
