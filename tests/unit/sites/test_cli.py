"""The real `pdn` entry point: exit codes, one-line errors, never a traceback, the map files."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sites"
SITE_IDS = ("cikarang", "batam", "ikn", "labuan-bajo")


def pdn(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from pdn.cli import main; main()", *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_check_passes_on_the_shipped_model() -> None:
    done = pdn("sites", "check")
    assert done.returncode == 0, done.stderr
    assert "6 rules hold" in done.stdout


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("rule-*.yaml")))
def test_check_fails_on_each_rule_fixture(fixture: str) -> None:
    done = pdn("sites", "check", "--file", str(FIXTURES / fixture))
    assert done.returncode == 1
    assert "rule " in done.stdout and "site " in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("bad-*.yaml")))
def test_bad_files_exit_2_with_file_and_line(fixture: str) -> None:
    done = pdn("sites", "check", "--file", str(FIXTURES / fixture))
    assert done.returncode == 2
    assert f"{fixture}:" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_missing_file_is_one_clear_line() -> None:
    done = pdn("sites", "list", "--file", "/nonexistent/sites.yaml")
    assert done.returncode == 2
    assert "site model not found: /nonexistent/sites.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_site_lists_the_known_ones() -> None:
    done = pdn("sites", "show", "jakarta")
    assert done.returncode == 2
    assert "unknown site 'jakarta'" in done.stderr and "cikarang" in done.stderr


def test_list_and_show() -> None:
    listing = pdn("sites", "list")
    assert listing.returncode == 0
    for site_id in SITE_IDS:
        assert site_id in listing.stdout
    shown = pdn("sites", "show", "labuan-bajo")
    assert shown.returncode == 0 and "Flores" in shown.stdout and "hall-b" in shown.stdout


def test_map_writes_valid_png_and_svg_naming_all_sites(tmp_path: Path) -> None:
    done = pdn("sites", "map", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    png, svg = tmp_path / "sites-map.png", tmp_path / "sites-map.svg"
    raw = png.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", raw[16:24])
    assert width > 600 and height > 300
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        description = image.info["Description"]
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    svg_text = svg.read_text()
    for site_id in SITE_IDS:
        assert site_id in description
        assert site_id in svg_text
    assert "PDN Labuan Bajo" in svg_text


def test_doctor_lists_tools() -> None:
    done = pdn("doctor")
    assert done.returncode == 0
    for tool in ("pulumi", "kube-apiserver", "minio", "podman", "ansible-core"):
        assert tool in done.stdout


def test_help_explains_every_group() -> None:
    done = pdn("--help")
    assert done.returncode == 0
    assert "sites" in done.stdout and "doctor" in done.stdout
