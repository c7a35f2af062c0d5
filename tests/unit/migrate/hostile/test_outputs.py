"""Outputs are safe to open: CSV cells never run as formulas, runbooks show names as text, and what
copy cannot copy is named, never silently counted as verified."""

from __future__ import annotations

import csv
import html.parser
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_kit import AS_OF, Outcome, read_rows, set_cell

FORMULA = ("=", "+", "-", "@", "\t", "\r")
NAME = '=HYPERLINK("http://evil.example/x","click")'
AGENCY = "@SUM(1+1)*cmd|' /C calc'!A0"
DESCRIPTION = "+1+1\n-2"
RUNBOOK_NAME = "<script>alert(1)</script> | [x](http://evil.example) ![i](http://evil.example/i.png) **b** `c` # h"
RUNBOOK_AGENCY = "<img src=x onerror=alert(1)> Dinas_Kesehatan_Kota | ~~x~~"


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_no_csv_output_holds_a_cell_a_spreadsheet_would_run(
    pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path
) -> None:
    path = inventory / "inventory.csv"
    for app_id in ("APP-000001", "APP-000002", "APP-000003"):
        set_cell(path, app_id, "name", NAME)
        set_cell(path, app_id, "agency", AGENCY)
        set_cell(path, app_id, "description", DESCRIPTION)
    out = tmp_path / "out"
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    outputs = sorted(out.glob("*.csv"))
    assert {p.name for p in outputs} >= {"assessment.csv", "clusters.csv", "consolidation.csv", "plan.csv"}
    for output in outputs:
        with output.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert not (cell[:1] in FORMULA and len(cell) > 1 and not is_number(cell)), (output.name, cell)
    clusters = {row[0]: row for row in read_rows(out / "clusters.csv")[1]}
    assert clusters["APP-000001"][6] == "'" + NAME  # the spreadsheet text marker, then the value
    shown = pdn("migrate", "show", "APP-000001", "--json", "-i", inventory, "-o", out)
    trail = json.loads(shown.out)
    assert trail["inventory"]["agency"] == AGENCY and trail["dedup"]["name"] == NAME  # read back exactly


class Cells(html.parser.HTMLParser):
    """Tags and table cells of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_a_runbook_shows_hostile_names_as_text(pdn: Callable[..., Outcome], inventory: Path, tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    out = tmp_path / "out"
    assert pdn("migrate", "run", "--no-chart", "--as-of", AS_OF, "-i", inventory, "-o", out).code == 0
    wave1 = [row[0] for row in read_rows(out / "plan.csv")[1] if row[1] == "1"]
    for app_id in wave1:
        set_cell(inventory / "inventory.csv", app_id, "name", RUNBOOK_NAME)
        set_cell(inventory / "inventory.csv", app_id, "agency", RUNBOOK_AGENCY)
    assert pdn("migrate", "runbook", "--wave", "1", "-i", inventory, "-o", out).code == 0
    page = Cells()
    page.feed(MarkdownIt("commonmark").enable("table").render((out / "runbooks" / "wave-001.md").read_text()))
    assert not {"script", "img", "a", "strong", "em", "del"} & set(page.tags), set(page.tags)
    assert page.tags.count("h1") == 1  # the runbook's own title, no heading from a name
    rows = [row for row in page.rows if row]
    assert sorted(row[0] for row in rows) == sorted(wave1)  # one row per app, nothing added
    for row in rows:
        assert row[1:3] == [RUNBOOK_NAME, RUNBOOK_AGENCY], row  # exactly its characters, in its own cell
        assert len(row) == 6


@pytest.fixture
def s3_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDN_S3_ACCESS_KEY", "testing")
    monkeypatch.setenv("PDN_S3_SECRET_KEY", "testing-secret")


def test_copy_names_what_it_skips_and_verify_does_not_count_it(
    pdn: Callable[..., Outcome], tmp_path: Path, s3_server: str, s3_keys: None
) -> None:
    source = tmp_path / "legacy"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a\n", encoding="utf-8")
    (source / "sub" / "b.txt").write_text("b\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not part of this app\n", encoding="utf-8")
    (source / "linked-folder").symlink_to(outside)
    (source / "linked-file").symlink_to(outside / "secret.txt")
    os.mkfifo(source / "pipe")
    out = tmp_path / "out"
    common = ["--site", "cikarang", "--endpoint", s3_server, "-o", out]
    copied = pdn("migrate", "copy", "APP-000042", "--source", source, *common)
    assert copied.code == 0, copied.text
    assert "not copied: 3 source entries that are not regular files" in copied.out
    for entry in ("linked-folder: symbolic link (folder), not followed", "linked-file: symbolic link (file)", "pipe:"):
        assert entry in copied.out
    verified = pdn("migrate", "verify", "APP-000042", *common)
    assert verified.code == 1, verified.text
    assert "2 objects match, but 3 source entries were not copied and are not verified" in verified.err
    again = pdn("migrate", "verify", "APP-000042", "--source", source, *common)
    assert again.code == 1 and "not verified" in again.err
    assert "all 2 objects match" not in verified.text + again.text

    from pdn.migrate.s3 import Endpoint, client

    s3 = client(Endpoint(s3_server, "testing", "testing-secret", "id-cikarang-1"))
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="mig-app-000042").get("Contents", [])}
    assert keys == {"a.txt", "sub/b.txt"}  # nothing read through a link
