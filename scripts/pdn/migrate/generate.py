"""``pdn migrate generate``: a realistic synthetic national inventory, deterministic per seed.

Agencies are real ministries, provinces, regencies and cities; each runs its own copies of the
common government functions (staff, finance, licensing, complaints...) under messy names:
acronyms, long forms, English, typos, agency and version suffixes, empty or generic
descriptions. Dependencies follow how agencies work (everything needs staff and finance data,
regional apps call national registries) and include cycles. ``labels.csv`` holds the true
function of every app so dedup quality can be measured.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pdn.migrate.families import FAMILIES, GENERIC_DESCRIPTIONS, ONE_OFF_THEMES, Family
from pdn.migrate.longtail import typo
from pdn.migrate.schema import APP_COLUMNS, DC_COLUMNS
from pdn.migrate.workspace import atomic_write, write_csv

MINISTRIES = (
    "Kementerian Dalam Negeri",
    "Kementerian Keuangan",
    "Kementerian Kesehatan",
    "Kementerian Pendidikan Dasar dan Menengah",
    "Kementerian Sosial",
    "Kementerian Pertanian",
    "Kementerian Perhubungan",
    "Kementerian Agama",
    "Kementerian Komunikasi dan Digital",
    "Kementerian Pekerjaan Umum",
    "Kementerian Lingkungan Hidup",
    "Kementerian Pariwisata",
    "Kementerian Ketenagakerjaan",
    "Kementerian Perdagangan",
    "Kementerian Perindustrian",
    "Kementerian Kelautan dan Perikanan",
    "Kementerian Hukum",
    "Kementerian Desa",
    "Kementerian PANRB",
    "Kementerian ATR/BPN",
    "Kementerian Koperasi",
    "Kementerian ESDM",
)
NATIONAL_AGENCIES = (
    "Badan Kepegawaian Negara",
    "Badan Pusat Statistik",
    "LKPP",
    "Badan Nasional Penanggulangan Bencana",
    "Badan Meteorologi Klimatologi dan Geofisika",
    "Badan Pengawas Obat dan Makanan",
    "BPKP",
    "Arsip Nasional Republik Indonesia",
    "Perpustakaan Nasional",
    "Badan Siber dan Sandi Negara",
    "Badan Riset dan Inovasi Nasional",
    "Badan Informasi Geospasial",
    "Ombudsman RI",
    "BAPPENAS",
)
DEPARTMENTS = (
    "BKD",
    "BPKAD",
    "Bappeda",
    "Dinas Kesehatan",
    "Dinas Pendidikan",
    "Diskominfo",
    "DPMPTSP",
    "Dinas Sosial",
    "Dinas Perhubungan",
    "Dukcapil",
    "DLH",
    "Setda",
)
STACKS = (
    ("php-5.6;mysql-5.5", 2012),
    ("php-5.4;mysql-5.1", 2010),
    ("php-7.4;mysql-5.7", 2018),
    ("php-8.1;mariadb-10.6", 2022),
    ("java-6;oracle-11g", 2009),
    ("java-8;postgresql-9.6", 2016),
    ("java-17;postgresql-14", 2022),
    ("dotnet-4.5;sqlserver-2012", 2013),
    ("vb6;access-2003", 2004),
    ("python-3.8;postgresql-12", 2020),
    ("nodejs-14;mongodb-4.2", 2020),
    ("wordpress-4.9;mysql-5.6", 2017),
    ("codeigniter-3;mysql-5.6", 2015),
    ("laravel-8;mysql-8.0", 2021),
    ("delphi-7;firebird-2.5", 2005),
    ("nginx-1.14", 2018),
    ("php-7.4", 2019),
    ("nodejs-16", 2021),  # front ends and static sites, no database
)


@dataclass(frozen=True)
class Agency:
    name: str
    type: str
    province: str
    place: str  # the place name used in suffixes ("Bogor"), empty for national bodies


def _agencies(provinces: list[dict[str, Any]]) -> list[Agency]:
    agencies = [Agency(name, "ministry", "DKI Jakarta", "") for name in MINISTRIES]
    agencies += [Agency(name, "agency", "DKI Jakarta", "") for name in NATIONAL_AGENCIES]
    for province in provinces:
        agencies.append(
            Agency(f"Pemerintah Provinsi {province['name']}", "province", province["name"], province["name"])
        )
        for kab in province["kab"]:
            agencies.append(Agency(f"Pemerintah Kabupaten {kab}", "regency", province["name"], kab))
        for kota in province["kota"]:
            agencies.append(Agency(f"Pemerintah Kota {kota}", "city", province["name"], kota))
    return agencies


def _suffix(rng: random.Random, agency: Agency) -> str:
    place = agency.place
    if agency.type in ("ministry", "agency"):
        short = agency.name.replace("Kementerian ", "Kemen").replace("Badan ", "B")
        return rng.choice([f" - {agency.name}", f" ({short})", f" {short}"])
    if agency.type == "province":
        return rng.choice([f" Provinsi {place}", f" Prov. {place}", f" Pemprov {place}", f" - {place}"])
    if agency.type == "city":
        return rng.choice([f" Kota {place}", f" Pemkot {place}", f" - {rng.choice(DEPARTMENTS)} Kota {place}"])
    return rng.choice(
        [
            f" Kab. {place}",
            f" Kabupaten {place}",
            f" Pemkab {place}",
            f" {place}",
            f" - {rng.choice(DEPARTMENTS)} Kab. {place}",
            f" ({rng.choice(DEPARTMENTS)} Kab {place})",
        ]
    )


def messy_name(rng: random.Random, family: Family, agency: Agency) -> str:
    """One realistic name for an app of ``family`` run by ``agency``."""
    roll = rng.random()
    if roll < 0.40:
        name = rng.choice(family.acronyms)
    elif roll < 0.75:
        name = rng.choice(family.indonesian)
        if rng.random() < 0.2 and not name.lower().startswith(("aplikasi", "sistem")):
            name = rng.choice(["Aplikasi ", "Sistem ", "e-"]) + name
    elif roll < 0.90:
        name = rng.choice(family.english)
    else:
        name = f"{rng.choice(family.acronyms)} ({rng.choice(family.indonesian)})"
    if rng.random() < 0.12:
        words = name.split(" ")
        index = rng.randrange(len(words))
        words[index] = typo(rng, words[index])
        name = " ".join(words)
    if rng.random() < 0.15:
        name += rng.choice([" v2", " 2.0", " V3", f" {rng.randrange(2010, 2025)}", " versi 2", " (Baru)"])
    if rng.random() < 0.45:
        name += _suffix(rng, agency)
    case = rng.random()
    if case < 0.12:
        name = name.upper()
    elif case < 0.22:
        name = name.lower()
    elif case < 0.27:
        name = name.title()
    return name


def _description(rng: random.Random, family: Family | None, name: str) -> str:
    roll = rng.random()
    if roll < 0.30:
        return ""
    if roll < 0.50:
        return rng.choice(GENERIC_DESCRIPTIONS)
    if roll < 0.65 or family is None:
        return name
    return rng.choice(family.descriptions)


SPLITS = ("seen", "tuning", "heldout", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6")
LONG_TAIL_SHARE = 0.12  # of the apps, in the tuning and held-out modes
MID_SIZE_FUNCTIONS = 6  # of those, functions with 20-150 apps at national scale; the rest 5-10 each


def generate(
    out: Path,
    apps: int = 24_400,
    datacenters: int = 2_700,
    seed: int = 42,
    fmt: str = "csv",
    split: str = "seen",
) -> dict[str, int]:
    """Write inventory, datacenters and labels to ``out``; returns counts.

    ``split`` "seen" (the default) draws every app from the seen families. "tuning" and the
    held-out splits ("heldout", "heldout2" ... "heldout6") replace 12 % of the apps by long-tail
    functions built from that split's own vocabulary (``vocab_tuning``, ``vocab_heldout*``, see
    ``longtail``); ``labels.csv`` then gains a ``split`` column so quality can be scored per split.
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: use one of {', '.join(SPLITS)}")
    long_tail = round(apps * LONG_TAIL_SHARE) if split != "seen" else 0
    rng = random.Random(seed)
    provinces = yaml.safe_load(
        resources.files("pdn.data").joinpath("migrate/provinces.yaml").read_text(encoding="utf-8")
    )["provinces"]
    agencies = _agencies(provinces)
    # Data centres: every agency has at least one server room; the rest are spread by size.
    dcs: list[dict[str, Any]] = []
    dcs_by_agency: dict[str, list[str]] = {a.name: [] for a in agencies}
    for index in range(datacenters):
        agency = agencies[index] if index < len(agencies) else rng.choice(agencies)
        dc_id = f"DC-{index + 1:05d}"
        dept = rng.choice(DEPARTMENTS)
        dcs.append(
            {
                "dc_id": dc_id,
                "name": f"Ruang Server {dept} {agency.place or agency.name}",
                "agency": agency.name,
                "province": agency.province,
                "cloud": rng.choice(["", "", "", "private", "colocation", "public-cloud"]),
                "racks": max(1, int(rng.lognormvariate(1.0, 0.8))),
                "power_kw": round(max(2.0, rng.lognormvariate(2.5, 0.7)), 1),
                "tier": rng.choice(["I", "I", "II", "III"]),  # an extra column, passed through
            }
        )
        dcs_by_agency[agency.name].append(dc_id)
    weights = [family.weight for family in FAMILIES]
    rows: list[dict[str, Any]] = []
    labels: list[tuple[str, str]] = []
    by_agency_family: dict[tuple[str, str], list[str]] = {}
    today = dt.date(2026, 6, 30)
    for index in range(apps - long_tail):
        agency = agencies[index % len(agencies)] if index < len(agencies) else rng.choice(agencies)
        app_id = f"APP-{index + 1:06d}"
        if rng.random() < 0.06:
            theme = rng.choice(ONE_OFF_THEMES)
            family: Family | None = None
            label = "oneoff:" + theme.lower().replace(" ", "-")
            name = theme + (f" {agency.place}" if agency.place and rng.random() < 0.5 else "")
            classification, criticality = "public", "low"
        else:
            family = rng.choices(FAMILIES, weights)[0]
            label = family.id
            name = messy_name(rng, family, agency)
            classification, criticality = family.classification, family.criticality
            if rng.random() < 0.15:
                criticality = rng.choice(["low", "medium", "high", "vital"])
        stack, year = rng.choice(STACKS)
        status = rng.choices(["active", "idle", "decommissioned"], [0.76, 0.17, 0.07])[0]
        release = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 4))
        release = min(release, today - dt.timedelta(days=rng.randrange(1, 400)))
        users_scale = {"ministry": 9.0, "agency": 8.0, "province": 7.0, "city": 6.0, "regency": 5.5}
        rows.append(
            {
                "app_id": app_id,
                "name": name,
                "description": _description(rng, family, name),
                "agency": agency.name,
                "agency_type": agency.type,
                "province": agency.province,
                "legacy_dc": rng.choice(dcs_by_agency[agency.name] or [dcs[0]["dc_id"]]),
                "tech_stack": stack,
                "runtime": rng.choices(["vm", "bare-metal", "shared-hosting", "container"], [0.5, 0.25, 0.18, 0.07])[0],
                "data_gb": round(min(20_000.0, rng.lognormvariate(2.3, 1.6)), 2),
                "monthly_users": 0
                if status == "decommissioned"
                else int(rng.lognormvariate(users_scale[agency.type], 1.5)),
                "classification": classification,
                "criticality": criticality,
                "depends_on": "",
                "status": status,
                "last_release": release.isoformat(),
                "contact_unit": rng.choice(DEPARTMENTS),  # an extra column, passed through
            }
        )
        labels.append((app_id, label))
        by_agency_family.setdefault((agency.name, label), []).append(app_id)
    if long_tail:
        _add_long_tail(
            random.Random(f"{seed}:{split}"), split, long_tail, apps, agencies, dcs, dcs_by_agency, rows, labels
        )
        for row, (_, label) in zip(rows[apps - long_tail :], labels[apps - long_tail :], strict=True):
            by_agency_family.setdefault((row["agency"], label), []).append(row["app_id"])
    _add_dependencies(rng, rows, labels, by_agency_family)
    out.mkdir(parents=True, exist_ok=True)
    app_header = [*APP_COLUMNS, "contact_unit"]
    dc_header = [*DC_COLUMNS, "tier"]
    if fmt == "csv":
        write_csv(out / "inventory.csv", app_header, rows)
        write_csv(out / "datacenters.csv", dc_header, dcs)
    elif fmt == "json":
        atomic_write(out / "inventory.json", json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
        atomic_write(out / "datacenters.json", json.dumps(dcs, indent=1, ensure_ascii=False) + "\n")
    else:
        atomic_write(out / "inventory.yaml", yaml.safe_dump({"apps": rows}, allow_unicode=True, sort_keys=False))
        atomic_write(
            out / "datacenters.yaml", yaml.safe_dump({"datacenters": dcs}, allow_unicode=True, sort_keys=False)
        )
    if split == "seen":
        write_csv(out / "labels.csv", ["app_id", "function"], labels)
    else:
        write_csv(
            out / "labels.csv",
            ["app_id", "function", "split"],
            ((app_id, label, split if label.startswith(f"{split}:") else "seen") for app_id, label in labels),
        )
    counts = {"apps": len(rows), "datacenters": len(dcs), "functions": len(set(label for _, label in labels))}
    if long_tail:
        counts[f"{split} apps"] = long_tail
        counts[f"{split} functions"] = len({label for _, label in labels if label.startswith(f"{split}:")})
    return counts


def _add_long_tail(
    rng: random.Random,
    split: str,
    count: int,
    apps: int,
    agencies: list[Agency],
    dcs: list[dict[str, Any]],
    dcs_by_agency: dict[str, list[str]],
    rows: list[dict[str, Any]],
    labels: list[tuple[str, str]],
) -> None:
    """Append ``count`` apps of long-tail functions of ``split``, each function in several agencies."""
    from pdn.migrate import longtail

    vocabulary = _vocabulary(split)
    scale = apps / 24_400
    sizes = [max(8, round(rng.uniform(20, 150) * scale)) for _ in range(MID_SIZE_FUNCTIONS)]
    while sum(sizes) < count:
        sizes.append(rng.randint(5, 10))
    chosen = longtail.functions(vocabulary, rng, len(sizes))
    sizes = sizes[: len(chosen)]
    if sum(sizes) < count:  # the vocabulary ran out of functions: the big ones grow
        for i in range(count - sum(sizes)):
            sizes[i % MID_SIZE_FUNCTIONS] += 1
    excess = sum(sizes) - count
    sizes[-1] -= excess
    regional = [a for a in agencies if a.type in ("province", "regency", "city")]
    today = dt.date(2026, 6, 30)
    for function, size in zip(chosen, sizes, strict=True):
        pool = regional if size <= len(regional) else agencies
        owners = rng.sample(pool, k=min(size, len(pool))) + [rng.choice(agencies) for _ in range(size - len(pool))]
        if rng.random() < 0.3:
            owners[0] = rng.choice([a for a in agencies if a.type in ("ministry", "agency")])
        for agency in owners:
            name = longtail.name(rng, function)
            if rng.random() < 0.1:
                name += rng.choice([" v2", " 2.0", f" {rng.randrange(2010, 2025)}"])
            if rng.random() < 0.45:
                name += _suffix(rng, agency)
            case = rng.random()
            name = name.upper() if case < 0.1 else name.lower() if case < 0.2 else name
            stack, year = rng.choice(STACKS)
            status = rng.choices(["active", "idle", "decommissioned"], [0.76, 0.17, 0.07])[0]
            release = min(
                dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 4)),
                today - dt.timedelta(days=rng.randrange(1, 400)),
            )
            app_id = f"APP-{len(rows) + 1:06d}"
            rows.append(
                {
                    "app_id": app_id,
                    "name": name,
                    "description": longtail.description(rng, function),
                    "agency": agency.name,
                    "agency_type": agency.type,
                    "province": agency.province,
                    "legacy_dc": rng.choice(dcs_by_agency[agency.name] or [dcs[0]["dc_id"]]),
                    "tech_stack": stack,
                    "runtime": rng.choices(
                        ["vm", "bare-metal", "shared-hosting", "container"], [0.5, 0.25, 0.18, 0.07]
                    )[0],
                    "data_gb": round(min(20_000.0, rng.lognormvariate(1.8, 1.4)), 2),
                    "monthly_users": 0 if status == "decommissioned" else int(rng.lognormvariate(4.5, 1.5)),
                    "classification": rng.choices(
                        ["public", "internal", "restricted", "secret"], [0.35, 0.4, 0.2, 0.05]
                    )[0],
                    "criticality": rng.choices(["low", "medium", "high"], [0.5, 0.35, 0.15])[0],
                    "depends_on": "",
                    "status": status,
                    "last_release": release.isoformat(),
                    "contact_unit": rng.choice(DEPARTMENTS),
                }
            )
            labels.append((app_id, function.label))


def _vocabulary(split: str) -> Any:
    if split == "tuning":
        from pdn.migrate.vocab_tuning import TUNING

        return TUNING
    if split == "heldout6":
        from pdn.migrate.vocab_heldout6 import HELDOUT6

        return HELDOUT6
    if split == "heldout5":
        from pdn.migrate.vocab_heldout5 import HELDOUT5

        return HELDOUT5
    if split == "heldout4":
        from pdn.migrate.vocab_heldout4 import HELDOUT4

        return HELDOUT4
    if split == "heldout3":
        from pdn.migrate.vocab_heldout3 import HELDOUT3

        return HELDOUT3
    if split == "heldout2":
        from pdn.migrate.vocab_heldout2 import HELDOUT2

        return HELDOUT2
    from pdn.migrate.vocab_heldout import HELDOUT

    return HELDOUT


CORE_FUNCTIONS = ("staff-management", "regional-finance", "population")


def _add_dependencies(
    rng: random.Random,
    rows: list[dict[str, Any]],
    labels: list[tuple[str, str]],
    by_agency_family: dict[tuple[str, str], list[str]],
) -> None:
    """Apps call their agency's staff/finance systems and the national registries; some cycles."""
    by_function: dict[tuple[str, str], list[str]] = {}
    for i, row in enumerate(rows):
        by_function.setdefault((row["province"], labels[i][1]), []).append(row["app_id"])
    index_of = {row["app_id"]: i for i, row in enumerate(rows)}
    deps: list[set[str]] = [set() for _ in rows]
    for i, row in enumerate(rows):
        label = labels[i][1]
        if rng.random() < 0.45:
            # its own agency's copy of a core system, else one in the same province, else Jakarta's
            core = rng.choice(CORE_FUNCTIONS)
            candidates = (
                by_agency_family.get((row["agency"], core))
                or by_function.get((row["province"], core))
                or by_function.get(("DKI Jakarta", core))
                or []
            )
            if candidates:
                deps[i].add(rng.choice(candidates))
        # finance <-> budget and payroll <-> staff call each other: two-app cycles
        if label in ("budget", "payroll") and rng.random() < 0.3:
            partner = "regional-finance" if label == "budget" else "staff-management"
            targets = by_agency_family.get((row["agency"], partner)) or []
            if targets:
                target = rng.choice(targets)
                deps[i].add(target)
                deps[index_of[target]].add(row["app_id"])
    # a few longer cycles a -> b -> c -> a inside one agency
    agencies = sorted({row["agency"] for row in rows})
    for agency in rng.sample(agencies, k=min(len(agencies), max(1, len(rows) // 800))):
        members = [i for i, row in enumerate(rows) if row["agency"] == agency][:3]
        if len(members) == 3:
            for a, b in zip(members, members[1:] + members[:1], strict=True):
                deps[a].add(rows[b]["app_id"])
    for i, row in enumerate(rows):
        deps[i].discard(row["app_id"])
        row["depends_on"] = ";".join(sorted(deps[i]))
