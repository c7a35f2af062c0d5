"""A volume's manifest and seed data, on real files: the restore drill's proof that files came back."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pdn.backup import volfiles

SCRIPTS = Path(volfiles.__file__).resolve().parents[2]


def tree(root: Path) -> Path:
    """A small volume: nested folders, an empty file, a name that is not UTF-8, a link."""
    files: dict[str | bytes, bytes] = {
        "index.html": b"<h1>SIMPEG</h1>\n",
        "arsip/2019/laporan tahunan \xfc.pdf": os.urandom(70_000),
        "arsip/2020/empty.txt": b"",
        "db/dump.sql": b"INSERT INTO pegawai VALUES (1);\n" * 300,
        b"raw/\xff\xfe-not-utf8.bin": b"bytes",
    }
    for name, data in files.items():
        path = root / os.fsdecode(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "db" / "current").symlink_to("dump.sql")
    return root


def copy_of(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def digest(root: Path) -> str:
    return str(volfiles.manifest(root)["digest"])


def test_the_manifest_lists_every_file_with_its_size_and_sha256(tmp_path: Path) -> None:
    root = tree(tmp_path / "v")
    found = volfiles.manifest(root)
    expected_files = sorted(
        (os.fsencode(path.relative_to(root)), path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    )
    assert found["files"] == 5 and found["links"] == 1 and found["others"] == 0
    assert found["bytes"] == sum(size for _path, size, _sha in expected_files)
    lines = [b"%s\0%d\0%s\n" % (path, size, sha.encode()) for path, size, sha in expected_files]
    link = b"db/current\0link\0" + hashlib.sha256(b"dump.sql").hexdigest().encode() + b"\n"
    lines.append(link)
    assert found["digest"] == hashlib.sha256(b"".join(sorted(lines))).hexdigest()
    by_path = {entry["path"]: entry for entry in found["entries"]}
    assert by_path["db/current"] == {"path": "db/current", "link": "dump.sql"}
    assert by_path["arsip/2020/empty.txt"] == {
        "path": "arsip/2020/empty.txt",
        "size": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
    }
    assert "raw/\\xff\\xfe-not-utf8.bin" in by_path  # shown escaped, hashed as the bytes it is
    assert [entry["path"] for entry in found["entries"]] == sorted(by_path, key=lambda p: p.encode())
    assert found["truncated"] is False
    json.dumps(found, ensure_ascii=True)  # serialisable as it is


def test_copies_are_equal_and_every_kind_of_change_shows(tmp_path: Path) -> None:
    original = tree(tmp_path / "original")
    same = digest(original)
    assert digest(copy_of(original, tmp_path / "copy")) == same

    changed = copy_of(original, tmp_path / "changed")
    data = bytearray((changed / "db/dump.sql").read_bytes())
    data[100] ^= 1
    (changed / "db/dump.sql").write_bytes(bytes(data))  # one bit, same size
    missing = copy_of(original, tmp_path / "missing")
    (missing / "arsip/2020/empty.txt").unlink()
    renamed = copy_of(original, tmp_path / "renamed")
    (renamed / "index.html").rename(renamed / "index.htm")
    moved = copy_of(original, tmp_path / "moved")
    (moved / "index.html").rename(moved / "db" / "index.html")
    extra = copy_of(original, tmp_path / "extra")
    (extra / "arsip" / "new.txt").write_bytes(b"")
    relinked = copy_of(original, tmp_path / "relinked")
    (relinked / "db/current").unlink()
    (relinked / "db/current").symlink_to("./dump.sql")  # same file reached, other link text
    link_to_file = copy_of(original, tmp_path / "link-to-file")
    (link_to_file / "db/current").unlink()
    (link_to_file / "db/current").write_bytes(b"dump.sql")  # a file whose content is the link text

    digests = [digest(root) for root in (changed, missing, renamed, moved, extra, relinked, link_to_file)]
    assert same not in digests and len(set(digests)) == len(digests)


def test_what_the_standin_and_velero_add_at_the_root_does_not_count(tmp_path: Path) -> None:
    root = tree(tmp_path / "v")
    before = volfiles.manifest(root)
    (root / ".pdn-standin.json").write_text('{"app_id": "X"}')
    (root / ".pdn-standin-abc123").write_text("{")
    (root / ".velero" / "0d0f").mkdir(parents=True)
    (root / ".velero" / "0d0f" / "done").write_text("x")
    (root / "lost+found").mkdir()
    (root / "lost+found" / "#1234").write_bytes(b"orphan")
    assert volfiles.manifest(root) == before
    # the same names below the root are the app's own files
    (root / "db" / ".pdn-standin.json").write_text("{}")
    (root / "db" / "lost+found").mkdir()
    (root / "db" / "lost+found" / "x").write_text("x")
    after = volfiles.manifest(root)
    assert after["files"] == before["files"] + 2 and after["digest"] != before["digest"]
    # an explicit exclusion list replaces the default one
    assert volfiles.manifest(root, exclude=())["files"] == after["files"] + 4


def test_links_are_recorded_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not part of the volume")
    root = tmp_path / "v"
    root.mkdir()
    (root / "a.txt").write_text("a")
    (root / "up").symlink_to(outside)  # a link to a folder outside the volume
    (root / "abs").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to("nowhere/at/all")
    (root / "loop").symlink_to("loop")
    os.mkfifo(root / "pipe")  # opened, it would block the walk
    found = volfiles.manifest(root)
    assert (found["files"], found["links"], found["others"]) == (1, 4, 1)
    assert found["bytes"] == 1
    assert {entry["path"]: entry for entry in found["entries"]} == {
        "a.txt": {"path": "a.txt", "size": 1, "sha256": hashlib.sha256(b"a").hexdigest()},
        "abs": {"path": "abs", "link": str(outside / "secret.txt")},
        "dangling": {"path": "dangling", "link": "nowhere/at/all"},
        "loop": {"path": "loop", "link": "loop"},
        "pipe": {"path": "pipe", "type": "fifo"},
        "up": {"path": "up", "link": str(outside)},
    }
    # what the links point at does not matter, only their text
    before = found["digest"]
    (outside / "secret.txt").write_text("changed")
    assert digest(root) == before


def test_a_socket_and_deep_nesting(tmp_path: Path) -> None:
    root = tmp_path / "v"
    deep = root.joinpath(*(f"d{level}" for level in range(60)))
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("leaf")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "s"))
        found = volfiles.manifest(root)
    assert (found["files"], found["others"]) == (1, 1)
    assert found["entries"][0]["path"] == "/".join(f"d{level}" for level in range(60)) + "/leaf.txt"
    assert found["entries"][1] == {"path": "s", "type": "socket"}


def test_entries_are_limited_and_the_answer_fitted(tmp_path: Path) -> None:
    root = tmp_path / "v"
    root.mkdir()
    for index in range(50):
        (root / f"f{index:03d}").write_bytes(b"x" * index)
    found = volfiles.manifest(root, limit=10)
    assert found["files"] == 50 and len(found["entries"]) == 10 and found["truncated"] is True
    assert [entry["path"] for entry in found["entries"]] == [f"f{index:03d}" for index in range(10)]
    full = volfiles.manifest(root, limit=50)
    assert full["truncated"] is False and full["digest"] == found["digest"]
    assert volfiles.manifest(root, limit=0)["entries"] == []

    fitted = volfiles.fitted(full, 2000)
    assert len(json.dumps(fitted)) <= 2000 and fitted["truncated"] is True
    assert 0 < len(fitted["entries"]) < 50 and fitted["entries"] == full["entries"][: len(fitted["entries"])]
    assert volfiles.fitted(full, 1 << 20) == full
    with pytest.raises(ValueError, match="limit"):
        volfiles.manifest(root, limit=-1)


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_volume_that_is_not_a_folder_is_an_error(tmp_path: Path, make: str) -> None:
    root = tmp_path / "v"
    if make == "file":
        root.write_text("x")
    with pytest.raises(volfiles.VolumeError, match="cannot open the volume"):
        volfiles.manifest(root)


def seeded_files(root: Path, run_id: str) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size for path in (root / "drill" / run_id).rglob("file-*.bin")}


def test_seed_writes_the_asked_files_and_bytes_in_nested_folders(tmp_path: Path) -> None:
    root = tmp_path / "v"
    root.mkdir()
    progress: list[tuple[int, int, int]] = []
    found = volfiles.seed(root, 250, 1_000_003, "run-1", progress=lambda *step: progress.append(step))
    files = seeded_files(root, "run-1")
    assert len(files) == 250 and sum(files.values()) == 1_000_003
    assert set(files.values()) == {4000, 4001}  # spread evenly
    assert {Path(path).parent.name for path in files} == {"000", "001", "002"}
    assert volfiles.seed_path("run-1", 249) in files
    assert found["seed"] == {
        "run_id": "run-1", "files": 250, "bytes": 1_000_003, "folder": "drill/run-1", "written": 250, "kept": 0,
    }  # fmt: skip
    # the manifest counts the seeded files and the run's two bookkeeping files
    assert found["files"] == 252 and found["bytes"] > 1_000_003
    assert {key: value for key, value in found.items() if key != "seed"} == volfiles.manifest(root)
    assert progress[-1] == (250, 250, 1_000_003) and len(progress) == 250
    assert not list(root.rglob(".partial-*"))
    # one byte each at the least
    tiny = volfiles.seed(tmp_path / "v", 7, 7, "tiny")
    assert set(seeded_files(root, "tiny").values()) == {1} and tiny["seed"]["written"] == 7


def test_two_seeds_with_the_same_arguments_differ(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    a = volfiles.seed(first, 20, 20_000, "same")
    b = volfiles.seed(second, 20, 20_000, "same")
    assert (a["files"], a["bytes"]) == (b["files"], b["bytes"])
    assert a["digest"] != b["digest"]
    shas = {entry["sha256"] for entry in a["entries"] + b["entries"] if "file-" in entry["path"]}
    assert len(shas) == 40  # random content: no two files alike


def test_a_complete_seed_is_not_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "v"
    root.mkdir()
    first = volfiles.seed(root, 30, 30_000, "r")
    again = volfiles.seed(root, 30, 30_000, "r")
    assert again["digest"] == first["digest"]
    assert again["seed"]["written"] == 0 and again["seed"]["kept"] == 30
    with pytest.raises(ValueError, match="run r was seeded with 30 files and 30000 bytes: use another run id"):
        volfiles.seed(root, 31, 30_000, "r")


def test_a_seed_interrupted_by_a_crash_completes_and_keeps_what_was_done(tmp_path: Path) -> None:
    root = tmp_path / "v"
    root.mkdir()
    volfiles.seed(root, 250, 250_000, "crash")
    run = root / "drill" / "crash"
    (run / ".complete").unlink()
    removed = root / volfiles.seed_path("crash", 17)
    removed.unlink()
    truncated = root / volfiles.seed_path("crash", 180)
    with truncated.open("r+b") as handle:
        handle.truncate(10)
    (run / "001" / ".partial-file-000150.bin").write_bytes(b"half")  # a temp file the crash left
    kept = {
        path: (path.stat().st_ino, path.read_bytes())
        for path in (root / volfiles.seed_path("crash", index) for index in range(250))
        if path not in (removed, truncated)
    }

    found = volfiles.seed(root, 250, 250_000, "crash")
    assert found["seed"]["written"] == 2 and found["seed"]["kept"] == 248
    files = seeded_files(root, "crash")
    assert len(files) == 250 and set(files.values()) == {1000}
    assert all((path.stat().st_ino, path.read_bytes()) == before for path, before in kept.items())
    assert (run / ".complete").is_file() and not list(root.rglob(".partial-*"))
    assert found["files"] == 252


def test_seed_refuses_a_link_in_its_way(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "v"
    root.mkdir()
    (root / "drill").symlink_to(outside)
    with pytest.raises(volfiles.VolumeError, match="not a folder"):
        volfiles.seed(root, 1, 1, "r")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("files", "total", "run_id", "message"),
    [
        (10, 100, "", "run id"),
        (10, 100, "Upper", "run id"),
        (10, 100, "-dash-first", "run id"),
        (10, 100, "a/b", "run id"),
        (10, 100, "a" * 41, "run id"),
        (10, 100, "ok\n", "run id"),
        (0, 100, "ok", "files 0: must be a whole number from 1 to 100000"),
        (100_001, 200_000, "ok", "files 100001"),
        (True, 100, "ok", "files True"),
        (10, 9, "ok", "bytes 9: must be a whole number from 10 \\(1 per file\\) to 68719476736 \\(64 GiB\\)"),
        (10, (64 << 30) + 1, "ok", "bytes"),
    ],
)
def test_seed_arguments_are_validated(tmp_path: Path, files: Any, total: Any, run_id: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        volfiles.seed(tmp_path, files, total, run_id)
    assert list(tmp_path.iterdir()) == []  # nothing written


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SCRIPTS)}
    command = [sys.executable, "-m", "pdn.backup.volfiles", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_command_prints_one_json_document(tmp_path: Path) -> None:
    root = tmp_path / "v"
    root.mkdir()
    done = run_cli("seed", "--dir", str(root), "--files", "120", "--bytes", "120000", "--run-id", "cli-1")
    assert done.returncode == 0, done.stderr
    seeded = json.loads(done.stdout)
    assert done.stdout.count("\n") == 1 and seeded["seed"]["files"] == 120
    assert "seeded 120/120 files, 120000 bytes" in done.stderr
    done = run_cli("manifest", "--dir", str(root), "--limit", "5")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["digest"] == seeded["digest"] and len(listed["entries"]) == 5 and listed["truncated"] is True
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "required: command"),
        (("seed", "--dir", "D", "--files", "10", "--bytes", "100"), "required: --run-id"),
        (("seed", "--dir", "D", "--files", "-1", "--bytes", "100", "--run-id", "r"), "'-1' is not a whole number"),
        (("seed", "--dir", "D", "--files", "1_0", "--bytes", "100", "--run-id", "r"), "'1_0' is not a whole number"),
        (("seed", "--dir", "D", "--files", "10", "--bytes", "100", "--run-id", "R"), "run id 'R'"),
        (("seed", "--dir", "D", "--files", "10", "--bytes", "5", "--run-id", "r"), "bytes 5"),
        (("manifest", "--dir", "D", "--limit", "x"), "'x' is not a whole number"),
        (("list",), "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    args = tuple(str(tmp_path) if arg == "D" else arg for arg in args)
    done = run_cli(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_volume_exits_1_with_one_line(tmp_path: Path) -> None:
    done = run_cli("manifest", "--dir", str(tmp_path / "absent"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "cannot open the volume" in done.stderr
