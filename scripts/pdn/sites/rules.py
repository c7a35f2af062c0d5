"""Backup-topology rules of the national site model.

Each rule is a small function over the whole model returning the violations it finds, so a
broken topology is reported as "site X breaks rule Y because Z" and every rule can be tested
on its own fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pdn.sites.model import SiteModel


@dataclass(frozen=True)
class Violation:
    rule: str
    site: str
    message: str

    def __str__(self) -> str:
        return f"site {self.site}: rule {self.rule}: {self.message}"


Rule = Callable[[SiteModel], Iterator[Violation]]


def offsite_copy(model: SiteModel) -> Iterator[Violation]:
    """Every site sends backups to at least one other site (a site with no partner at all)."""
    for site in model.sites:
        if not site.partner_ids:
            yield Violation("offsite-copy", site.id, "sends no backup to another site (no backup partner)")


def not_self_only(model: SiteModel) -> Iterator[Violation]:
    """No site is its own only backup target (partners that are all the site itself)."""
    for site in model.sites:
        if site.partner_ids and set(site.partner_ids) == {site.id}:
            yield Violation("not-self-only", site.id, "is its own only backup target")


def off_island(model: SiteModel) -> Iterator[Violation]:
    """At least one copy of every site's backups leaves the site's island.

    Sites with no other partner at all are reported by ``offsite-copy``/``not-self-only`` instead.
    """
    islands = {site.id: site.island for site in model.sites}
    for site in model.sites:
        others = [partner for partner in site.partner_ids if partner != site.id]
        if others and not any(islands.get(partner) not in (None, site.island) for partner in others):
            yield Violation("off-island", site.id, f"no backup copy leaves the island of {site.island}")


def mutual_pairs(model: SiteModel) -> Iterator[Violation]:
    """Declared pairs (cikarang and batam) back each other up."""
    known = set(model.ids)
    for first, second in model.policy.mutual_pairs:
        for source, target in ((first, second), (second, first)):
            if source in known and target not in model.site(source).partner_ids:
                yield Violation(
                    "mutual-pair",
                    source,
                    f"must back up to {target} (declared mutual pair {first} <-> {second})",
                )


def in_country(model: SiteModel) -> Iterator[Violation]:
    """Every backup target is a site inside the national territory (data residency)."""
    for site in model.sites:
        for partner_id in site.partner_ids:
            if partner_id not in model.ids:
                continue
            partner = model.site(partner_id)
            if partner.country != model.policy.country:
                yield Violation(
                    "in-country",
                    site.id,
                    f"backup target {partner.id} is in country {partner.country}, not {model.policy.country}",
                )
            elif not model.policy.territory.contains(partner.coordinates):
                point = partner.coordinates
                yield Violation(
                    "in-country",
                    site.id,
                    f"backup target {partner.id} at ({point.lat}, {point.lon}) lies outside the national territory",
                )


def capacity(model: SiteModel) -> Iterator[Violation]:
    """No site receives more backup volume than its declared capacity."""
    received: dict[str, float] = {site.id: 0.0 for site in model.sites}
    senders: dict[str, list[str]] = {site.id: [] for site in model.sites}
    for site in model.sites:
        for partner in site.backup.partners:
            if partner.site in received and partner.site != site.id:
                received[partner.site] += site.volume_to(partner)
                senders[partner.site].append(site.id)
    for site in model.sites:
        if received[site.id] > site.backup.capacity_tb:
            yield Violation(
                "capacity",
                site.id,
                f"receives {received[site.id]:g} TB from {', '.join(senders[site.id])} "
                f"but declares a backup capacity of {site.backup.capacity_tb:g} TB",
            )


RULES: dict[str, Rule] = {
    "offsite-copy": offsite_copy,
    "not-self-only": not_self_only,
    "off-island": off_island,
    "mutual-pair": mutual_pairs,
    "in-country": in_country,
    "capacity": capacity,
}


def check(model: SiteModel) -> list[Violation]:
    """All violations of all rules, in rule order."""
    return [violation for rule in RULES.values() for violation in rule(model)]
