"""The migrate pod image (``localhost/pdn/migrate:lab``), built with podman and run as a pod runs it.

Built (or reused) through :func:`pdn.nodes.podimages.build_image` exactly as ``pdn lab up`` does; an
unchanged recipe gives the same archive without a rebuild. The modules copy, verify and the
stand-in use import inside it, and the stand-in serves under the pod's constraints (user 10001,
read-only root, ``/data`` and ``/tmp`` mounted, no capabilities) and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from pdn.nodes.image import ensure_image
from pdn.nodes.podimages import PodImage, build_image, pod_images
from pdn.nodes.podman import podman
from pdn.nodes.runtime import KUBE_ULIMITS

NAME = "localhost/pdn/migrate:lab"
AS_A_POD = [
    "--runtime", "runc", "--network", "none", *KUBE_ULIMITS, "--read-only", "--user", "10001:10001",
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
]  # fmt: skip


@pytest.fixture(scope="module")
def migrate_image() -> PodImage:
    if shutil.which("podman") is None:
        pytest.fail("the nodes tier needs podman (apt-get install -y podman)", pytrace=False)
    return next(image for image in pod_images("v1.34.4") if image.recipe == "migrate")


@pytest.fixture(scope="module")
def archive(migrate_image: PodImage) -> Path:
    return build_image(migrate_image, ensure_image())


def test_an_unchanged_recipe_reuses_its_archive(migrate_image: PodImage, archive: Path) -> None:
    before = archive.stat().st_mtime_ns
    assert build_image(migrate_image, ensure_image()) == archive
    assert archive.stat().st_mtime_ns == before
    config = json.loads(podman(["image", "inspect", NAME]).stdout)[0]["Config"]
    assert config["User"] == "10001:10001" and config["Entrypoint"] == ["/usr/bin/python3"]
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]


def test_the_pods_modules_import_inside_the_image(archive: Path) -> None:
    check = (
        "import pdn.migrate.copy, pdn.migrate.sources, pdn.migrate.target, pdn.migrate.verify, "
        "pdn.migrate.ledger, pdn.migrate.standin, pdn.migrate.jobcopy, pdn.migrate.probe, sqlite3, ssl, yaml\n"
        "from pdn.migrate.s3 import Endpoint\n"
        "from pdn.migrate.target import TargetStore\n"
        "from pdn.s3client import s3_client\n"
        "TargetStore(Endpoint('http://127.0.0.1:9', 'a', 'b')).close()\n"
        "s3_client('http://127.0.0.1:9', 'us-east-1', 'a', 'b')\n"
        "import pdn.migrate.copy as m, os\n"
        "assert os.path.exists(m.__cached__), 'no precompiled bytecode'\n"
        "assert yaml.__with_libyaml__, 'libyaml binding did not load'\n"
        "print('ok', ssl.get_default_verify_paths().cafile)"
    )
    done = podman(["run", "--rm", *AS_A_POD, NAME, "-c", check], check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "/etc/ssl/certs/ca-certificates.crt"]


def test_the_standin_serves_as_a_pod_and_stops_on_sigterm(archive: Path) -> None:
    name = f"pdn-standin-test-{uuid.uuid4().hex[:8]}"
    env = {
        "PDN_LEGACY_APP_ID": "KEMENKEU-0042",
        "PDN_SITE": "cikarang",
        "PDN_S3_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: not ready, but alive
        "PDN_S3_REGION": "id-cikarang-1",
        "PDN_S3_BUCKET": "app-kemenkeu-0042",
        "PDN_S3_ADDRESSING": "path",
        "AWS_ACCESS_KEY_ID": "image-test",
        "AWS_SECRET_ACCESS_KEY": "image-test-secret",
    }
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    mounts = ["--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", "/data:rw,mode=1777"]
    podman(["run", "-d", "--name", name, *AS_A_POD, *mounts, *env_args, NAME, "-m", "pdn.migrate.standin"])
    try:
        probe = (
            "import json, time, urllib.request, urllib.error\n"
            "def get(path):\n"
            "    try:\n"
            "        with urllib.request.urlopen('http://127.0.0.1:8080' + path, timeout=20) as r:\n"
            "            return r.status, json.loads(r.read())\n"
            "    except urllib.error.HTTPError as e:\n"
            "        return e.code, json.loads(e.read())\n"
            "for _ in range(100):\n"
            "    try:\n"
            "        get('/healthz'); break\n"
            "    except OSError:\n"
            "        time.sleep(0.1)\n"
            "print(json.dumps({p: get(p) for p in ('/healthz', '/config', '/readyz')}))"
        )
        done = podman(["exec", name, "/usr/bin/python3", "-c", probe], check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        answers = json.loads(done.stdout)
        assert answers["/healthz"][0] == 200
        status, config = answers["/config"]
        assert status == 200 and config["app_id"] == "KEMENKEU-0042"
        assert config["data"] == {"path": "/data", "mounted": True, "writable": True, "problem": None}
        status, ready = answers["/readyz"]
        assert status == 503 and "unreachable" in ready["reason"]
        podman(["stop", "--time", "10", name], timeout=60)
        state = json.loads(podman(["inspect", name]).stdout)[0]["State"]
        assert state["ExitCode"] == 0  # SIGTERM handled: not killed after the 10 s
        logs = podman(["logs", name])
        lines = [json.loads(line) for line in logs.stdout.splitlines()]
        assert lines[0]["event"] == "serving" and lines[-1] == {"event": "stopped"}
        assert "Traceback" not in logs.stdout + logs.stderr and "image-test-secret" not in logs.stdout + logs.stderr
    finally:
        podman(["rm", "--force", name], check=False)
