"""Every write stays inside its folder, and a bad output location is one clear line, never a crash."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from hostile_kit import AS_OF, Outcome, leftovers, pdn_process, read_rows, set_cell, tree, written_outside


def test_an_output_folder_that_is_a_file_is_one_clear_line(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder\n", encoding="utf-8")
    result = pdn("migrate", "validate", "-i", inventory, "-o", taken)
    assert result.code == 2 and result.err.startswith(f"error: output folder {taken} is a file, not a folder")
    under = pdn("migrate", "run", "--no-chart", "-i", inventory, "-o", taken / "out")
    assert under.code == 2 and f"cannot write {taken / 'out'}: a parent of it is a file, not a folder" in under.err
    assert "internal error" not in result.text + under.text
    assert taken.read_text(encoding="utf-8") == "not a folder\n"


def test_an_unwritable_output_folder_is_one_clear_line(pdn: Callable[..., Outcome], inventory: Path) -> None:
    result = pdn("migrate", "validate", "-i", inventory, "-o", "/sys/pdn-hostile-test")  # refused even to root
    assert result.code == 2, result.text
    assert "cannot write /sys/pdn-hostile-test: permission denied" in result.err


def test_render_never_writes_through_a_link_out_of_the_output_folder(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "manifests").symlink_to(elsewhere)
    result = pdn("migrate", "render", "-i", inventory, "-o", out)
    assert result.code == 2, result.text
    assert "outside the output folder" in result.err
    assert list(elsewhere.iterdir()) == []


def test_render_writes_nothing_when_one_folder_is_in_the_way(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    rendered = sorted(row[0] for row in read_rows(out / "plan.csv")[1] if row[6] in ("becomes", "rehost", "replatform"))
    blocker = out / "manifests" / rendered[-1]
    blocker.parent.mkdir()
    blocker.write_text("in the way\n", encoding="utf-8")
    result = pdn("migrate", "render", "-i", inventory, "-o", out)
    assert result.code == 2, result.text
    assert f"output folder {blocker} is a file, not a folder" in result.err
    assert sorted(p.name for p in (out / "manifests").rglob("*")) == [blocker.name]  # not one manifest or folder
    assert leftovers(out) == []


def test_copy_keeps_its_ledger_inside_the_output_folder(tmp_path: Path) -> None:
    source = tmp_path / "legacy"
    source.mkdir()
    (source / "a.txt").write_text("data\n", encoding="utf-8")
    out = tmp_path / "work" / "out"
    before = tree(tmp_path)
    for app_id in ("../../../escaped", "x/../../y", "/tmp/abs"):
        result = pdn_process(
            "migrate", "copy", app_id, "--source", source, "--site", "cikarang",
            "--endpoint", "http://127.0.0.1:9", "--dry-run", "-o", out,
        )  # fmt: skip
        assert result.code == 2, result.text
        assert f"APP {app_id!r}: 1-63 characters" in result.err
    assert written_outside(tmp_path, out, before) == set()
    assert not Path("/tmp/abs.sqlite").exists()


def test_a_file_name_that_is_not_utf8_is_named_not_a_crash(inventory: Path, tmp_path: Path) -> None:
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/inventar-\xff\xfe")
    shutil.copytree(inventory, odd)
    out = tmp_path / "out"
    good = pdn_process("migrate", "validate", "-i", odd, "-o", out)
    assert good.code == 0, good.text
    recorded = json.loads((out / "validation.json").read_text(encoding="utf-8"))["inventory"]
    assert recorded.endswith("inventar-\\xff\\xfe/inventory.csv")
    line = set_cell(Path(odd) / "inventory.csv", "APP-000004", "status", "zombie")
    bad = pdn_process("migrate", "validate", "-i", odd, "-o", out)
    assert bad.code == 2, bad.text
    assert f"inventar-\\xff\\xfe/inventory.csv:{line}: status: 'zombie' is not one of" in bad.err
    assert "internal error" not in good.text + bad.text
