"""The platform's two national scales, defined once for the inventory, the migration toolkit, the
site model and the Pulumi stacks: data classification and tier (an application's criticality is
the tier its tenant gets).

Both are ordered from lowest to highest; ``rank`` compares them (a tenant takes the highest
class and tier of the applications it hosts). The classification words are the ones of the
legacy inventory (``restricted``, not ``confidential``), so inventories, ``tenants.yaml`` and
``stacks/Pulumi.<site>.yaml`` all use the same four words.
"""

from __future__ import annotations

from enum import StrEnum


class Classification(StrEnum):
    """Data classification: the highest class of data an application (or tenant) holds."""

    PUBLIC = "public"
    INTERNAL = "internal"
    RESTRICTED = "restricted"
    SECRET = "secret"

    @property
    def rank(self) -> int:
        return list(Classification).index(self)


class Tier(StrEnum):
    """Criticality of an application, tier of a tenant: resource envelope and backup cadence."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VITAL = "vital"

    @property
    def rank(self) -> int:
        return list(Tier).index(self)
