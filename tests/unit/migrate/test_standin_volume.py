"""The stand-in's ``/volume`` manifest and its volume-only mode (``PDN_STORAGE=volume``), served for
real on 127.0.0.1; the default ``s3`` mode's answers are in ``test_standin.py``."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pdn.backup import volfiles
from pdn.migrate import standin

ON_VOLUME = "this app keeps its data on its volume: see /volume"


def get(url: str) -> tuple[int, dict[str, Any], int]:
    """(status, JSON body, body bytes)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            assert answer.headers["Content-Type"] == "application/json"
            body = answer.read()
            return answer.status, json.loads(body), len(body)
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        body = error.read()
        return error.code, json.loads(body), len(body)


def volume_env(data: Path, **extra: str) -> dict[str, str]:
    """What a volume-only app's ConfigMap gives: no bucket, no endpoint, no keys."""
    return {"PDN_LEGACY_APP_ID": "BPS-0007", "PDN_SITE": "batam", "PDN_STORAGE": "volume",
            "PDN_DATA_DIR": str(data), **extra}  # fmt: skip


def test_a_volume_only_app_is_ready_with_a_writable_volume(
    serve: Callable[[dict[str, str]], str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    base = serve(volume_env(data))
    status, ready, _ = get(f"{base}/readyz")
    assert status == 200 and ready["status"] == "ready" and ready["storage"] == "volume"
    assert ready["data"] == str(data)
    assert json.loads((data / standin.MARKER).read_text())["app_id"] == "BPS-0007"

    status, config, _ = get(f"{base}/config")
    assert status == 200 and config["storage"] == "volume" and config["problems"] == []
    assert config["data"] == {"path": str(data), "mounted": False, "writable": True, "problem": None}
    assert config["credentials"] == dict.fromkeys(standin.CREDENTIAL_VARIABLES, False)

    for path in ("/data", "/data/sha256?key=index.html", "/data/sha256?key="):
        status, body, _ = get(f"{base}{path}")
        assert (status, body) == (409, {"error": ON_VOLUME, "status": 409}), path


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_volume_only_app_without_a_usable_volume_is_not_ready(
    serve: Callable[[dict[str, str]], str], tmp_path: Path, make: str
) -> None:
    data = tmp_path / "data"
    if make == "file":
        data.write_text("not a folder")
    base = serve(volume_env(data))
    assert get(f"{base}/healthz")[0] == 200  # alive, only not ready
    status, ready, _ = get(f"{base}/readyz")
    assert status == 503 and ready["reason"] == f"data volume {data}: not a folder"
    status, body, _ = get(f"{base}/volume")
    assert status == 503 and "cannot open the volume" in body["error"]


def test_a_volume_that_goes_away_makes_the_app_not_ready(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = standin.build(volume_env(data))
    server.readiness.seconds = 0
    assert server.answer("/readyz", "")[0] == 200
    os.rename(data, tmp_path / "elsewhere")
    status, body = server.answer("/readyz", "")
    assert status == 503 and body["reason"] == f"data volume {data}: not a folder any more"


def test_volume_answers_the_manifest_without_the_marker(serve: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    volfiles.seed(data, 320, 320_000, "drill-1")
    base = serve(volume_env(data))
    assert (data / standin.MARKER).is_file()
    status, body, size = get(f"{base}/volume")
    assert status == 200
    expected = volfiles.manifest(data)
    assert body == expected and body["files"] == 322 and body["truncated"] is True
    assert len(body["entries"]) == volfiles.LIMIT and size < 64 * 1024

    # the restored copy answers the same; a changed byte does not
    other = tmp_path / "restored"
    other.mkdir()
    for path in data.rglob("*"):
        if path.is_file() and path.name != standin.MARKER:
            (other / path.relative_to(data)).parent.mkdir(parents=True, exist_ok=True)
            (other / path.relative_to(data)).write_bytes(path.read_bytes())
    restored = serve(volume_env(other, PDN_SITE="cikarang"))
    assert get(f"{restored}/volume")[1] == body
    one = other / volfiles.seed_path("drill-1", 5)
    one.write_bytes(bytes([one.read_bytes()[0] ^ 1]) + one.read_bytes()[1:])
    assert get(f"{restored}/volume")[1]["digest"] != body["digest"]


def test_long_names_keep_the_volume_answer_under_the_probe_limit(
    serve: Callable[[dict[str, str]], str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for index in range(300):
        (data / f"{index:03d}-{'n' * 240}").write_bytes(b"x")
    base = serve(volume_env(data))
    status, body, size = get(f"{base}/volume")
    assert status == 200 and size <= standin.VOLUME_BODY_BYTES + 1  # the newline after the JSON
    assert body["files"] == 300 and body["truncated"] is True and 100 < len(body["entries"]) < 300
    assert body["digest"] == volfiles.manifest(data)["digest"]


def test_a_volume_walk_in_progress_does_not_hold_up_health_or_readiness(tmp_path: Path) -> None:
    """While a walk holds the stand-in's one walking lock, /healthz and /readyz answer, and the
    next /volume waits its turn."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a")
    app = standin.build(volume_env(data))
    server = standin.make_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    answers: list[tuple[int, dict[str, Any], int]] = []
    walker = threading.Thread(target=lambda: answers.append(get(f"{base}/volume")))
    try:
        with app.walking:  # a walk of a big volume, still hashing
            walker.start()
            assert get(f"{base}/healthz")[0] == 200 and get(f"{base}/readyz")[0] == 200
            time.sleep(0.2)
            assert walker.is_alive() and not answers
        walker.join(30)
    finally:
        server.shutdown()
        server.server_close()
    assert answers and answers[0][0] == 200 and answers[0][1]["files"] == 1


def test_s3_mode_needs_its_settings_and_other_storages_are_problems(tmp_path: Path) -> None:
    default = standin.Settings.from_env({"PDN_DATA_DIR": str(tmp_path)})
    explicit = standin.Settings.from_env({"PDN_DATA_DIR": str(tmp_path), "PDN_STORAGE": "s3"})
    assert default.storage == "s3" and not default.on_volume
    assert explicit.problems == default.problems and len(default.problems) == 3  # bucket, endpoint, keys
    other = standin.Settings.from_env({"PDN_DATA_DIR": str(tmp_path), "PDN_STORAGE": "nfs"})
    assert other.problems == ("PDN_STORAGE must be 's3' (default) or 'volume'", *default.problems)
    app = standin.build({"PDN_DATA_DIR": str(tmp_path), "PDN_STORAGE": "nfs"})
    status, ready = app.answer("/readyz", "")
    assert status == 503 and ready["reason"].startswith("PDN_STORAGE must be 's3' (default) or 'volume'")
    assert app.answer("/config", "")[1]["storage"] == "nfs"
    with pytest.raises(standin.Refused) as refused:
        app.answer("/data", "")
    assert refused.value.status == 503  # not the volume mode's 409
    assert standin.Settings.from_env({"PDN_DATA_DIR": str(tmp_path), "PDN_STORAGE": "volume"}).problems == ()


def test_the_volume_endpoint_also_answers_in_s3_mode(serve: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    """An S3 app's data volume is walked the same way (its bucket need not be reachable)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "cache.bin").write_bytes(b"cached")
    env = {"PDN_DATA_DIR": str(data), "PDN_S3_ENDPOINT": "http://127.0.0.1:9", "PDN_S3_BUCKET": "app-bucket",
           "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}  # fmt: skip
    base = serve(env)
    status, body, _ = get(f"{base}/volume")
    assert status == 200 and body == volfiles.manifest(data) and body["files"] == 1
    status, missing, _ = get(f"{base}/nowhere")
    assert status == 404 and "/volume" in missing["error"]
