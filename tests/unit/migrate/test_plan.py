"""plan: cycles move together, dependencies first, ramping waves, blackouts, placement rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pdn.migrate import inventory
from pdn.migrate.plan import load_blackouts, next_open_day
from pdn.migrate.schema import Classification, Criticality
from pdn.migrate.workspace import read_csv
from pdn.sites import load_sites


def test_cycles_are_move_groups_in_one_wave(pipeline: Path, small_inventory: Path) -> None:
    planned = index(pipeline / "plan.csv")
    groups: dict[str, set[str]] = {}
    for row in planned.values():
        groups.setdefault(row["move_group"], set()).add(row["wave"])
    assert any(int(row["group_size"]) > 1 for row in planned.values()), "the inventory has cycles"
    assert all(len(waves) == 1 for waves in groups.values())


def test_dependencies_never_move_after_dependants(pipeline: Path, small_inventory: Path) -> None:
    planned = index(pipeline / "plan.csv")
    loaded = inventory.load(small_inventory)
    checked = 0
    for app in loaded.apps:
        if app.app_id not in planned:
            continue
        for dep in app.depends_on:
            if dep in planned:
                assert int(planned[dep]["wave"]) <= int(planned[app.app_id]["wave"])
                checked += 1
    assert checked > 50
    # a joiner never moves before its super app's base
    table = rows(pipeline / "consolidation.csv")
    base = {row["super_app"]: row["app_id"] for row in table if row["role"] == "becomes"}
    for row in table:
        if row["role"] == "joins":
            assert int(planned[base[row["super_app"]]]["wave"]) <= int(planned[row["app_id"]]["wave"])


def test_waves_ramp_and_respect_blackouts(pipeline: Path) -> None:
    waves = rows(pipeline / "waves.csv")
    sizes = [int(w["apps"]) for w in waves]
    assert sizes[0] <= 25 and sizes[1] <= 50 and max(sizes) > sizes[0]
    blackouts = load_blackouts(None)
    for wave in waves:
        day = dt.date.fromisoformat(wave["date"])
        assert not any(b.start <= day <= b.end for b in blackouts), wave
    dates = [w["date"] for w in waves]
    assert dates == sorted(dates)
    planned = rows(pipeline / "plan.csv")
    for wave in waves:
        total = sum(float(r["data_gb"]) for r in planned if r["wave"] == wave["wave"])
        assert abs(total - float(wave["data_gb"])) < 0.05


def test_next_open_day_chains_blackouts() -> None:
    from pdn.migrate.plan import Blackout

    chain = [
        Blackout(start=dt.date(2027, 1, 1), end=dt.date(2027, 1, 5), reason="a"),
        Blackout(start=dt.date(2027, 1, 6), end=dt.date(2027, 1, 9), reason="b"),
    ]
    assert next_open_day(dt.date(2027, 1, 3), chain) == (dt.date(2027, 1, 10), ["a", "b"])


def test_placement_rules(pipeline: Path, small_inventory: Path) -> None:
    sites = load_sites()
    small = {s.id for s in sites.sites if len(s.failure_domains) < 3}
    assert small == {"labuan-bajo"}
    loaded = inventory.load(small_inventory).by_id()
    planned = rows(pipeline / "plan.csv")
    protected = [
        r
        for r in planned
        if loaded[r["app_id"]].classification in (Classification.RESTRICTED, Classification.SECRET)
        or loaded[r["app_id"]].criticality == Criticality.VITAL
    ]
    assert protected and all(r["site"] not in small for r in protected)
    assert {r["site"] for r in planned} == set(sites.ids)
    # region affinity: a standalone public app from NTT lands in Labuan Bajo (nearest)
    ntt = [
        r
        for r in planned
        if loaded[r["app_id"]].province == "Nusa Tenggara Timur" and not r["super_app"] and r not in protected
    ]
    assert ntt and all(r["site"] == "labuan-bajo" for r in ntt)


def test_plan_outputs_and_idempotence(
    pipeline: Path, small_inventory: Path, tmp_path: Path, pipeline_runner: Any
) -> None:
    assert (pipeline / "waves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again"
    again.mkdir()
    pipeline_runner(small_inventory, again)
    for name in ("assessment.csv", "clusters.csv", "consolidation.csv", "plan.csv", "waves.csv", "plan.json"):
        assert (again / name).read_bytes() == (pipeline / name).read_bytes(), name


def test_tiny_capacity_is_flagged_not_fatal(small_inventory: Path, tmp_path: Path, pipeline_runner: Any) -> None:
    from pdn.migrate.plan import Options

    result = pipeline_runner(small_inventory, tmp_path, Options(overcommit=0.1))
    assert result["summary"]["over_capacity_groups"] > 0
    assert any("OVER CAPACITY" in row["placement"] for row in result["apps"])


def rows(path: Path) -> list[dict[str, str]]:
    return read_csv(path, "the pipeline")


def index(path: Path) -> dict[str, dict[str, str]]:
    return {row["app_id"]: row for row in rows(path)}
