"""``python3 -m pdn.migrate.standin``: a legacy app's stand-in, run from the rendered manifests.

In the lab a migrated app runs this instead of its real image (``localhost/pdn/migrate:lab``).
It takes exactly what the app would get: the ConfigMap's ``PDN_*`` environment, the S3 keys of its
Secret (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / optional ``AWS_SESSION_TOKEN``) and its
data volume (``/data``, or ``$PDN_DATA_DIR``), and answers on ``$PORT`` (8080, the port named
``http``) with JSON:

- ``GET /healthz``: 200 while the process serves (liveness).
- ``GET /readyz``: 200 only when its bucket can be listed with its keys (answer kept a few
  seconds), else 503 with the reason (readiness).
- ``GET /config``: the configuration it got; which credential variables are set (never values);
  whether the data volume is mounted and writable (a marker file is written at start).
- ``GET /data``: the bucket's object count, total bytes and first keys with their sizes.
- ``GET /data/sha256?key=K``: object K read from the bucket and hashed, with the SHA-256 that copy
  stored in its metadata: the smoke check's proof that the app reads its own migrated data.
- ``GET /volume``: the data volume's files, as :func:`pdn.backup.volfiles.manifest` gives them
  (counts, one digest over every path, size and SHA-256, the first entries): the restore drill's
  proof that a restored volume holds the files that were backed up. Computed afresh on each request
  (seconds for a GB), one at a time, without holding up ``/healthz`` or ``/readyz``.

An app that keeps its data on its volume only (``PDN_STORAGE=volume``; the default ``s3`` is the
migrated app reading its bucket) needs no ``PDN_S3_*`` settings or keys: it is ready once its data
volume is a folder the start marker could be written to, and ``/data`` answers 409 pointing to
``/volume``.

The bucket is read through the migration's own S3 path: the listing with the boto3 client of
:mod:`pdn.s3client` (as copy lists an ``s3://`` source), objects through
:class:`pdn.migrate.target.TargetStore` (as verify re-reads them). Errors are JSON with a status
code and a reason built from S3's error code, never a traceback or a credential. One log line per
request goes to stdout; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pdn.backup import volfiles
from pdn.errors import PdnError
from pdn.migrate.s3 import META_SHA, Credentials, Endpoint

DATA_DIR = "/data"
PORT = 8080
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
MARKER = ".pdn-standin.json"
LISTED = 1000  # keys shown by /data
MAX_KEY_BYTES = 1024  # S3's limit for a key
READY_SECONDS = 5.0  # how long a /readyz answer is kept
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
STORAGES = ("s3", "volume")
VOLUME_BODY_BYTES = 48 * 1024  # /volume's answer stays under the probe's 64 KiB
ON_VOLUME = "this app keeps its data on its volume: see /volume"


class Refused(Exception):
    """A request the stand-in answers with an error status and a one-line reason."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class DataVolume:
    path: str
    mounted: bool
    writable: bool
    problem: str = ""


@dataclass(frozen=True)
class Settings:
    """What the pod was given, read once at start."""

    app_id: str
    site: str
    bucket: str
    endpoint: str
    region: str
    addressing: str
    credentials: Credentials | None
    credential_variables: dict[str, bool]
    pdn_variables: tuple[str, ...]
    data_dir: str
    problems: tuple[str, ...] = field(default=())
    storage: str = "s3"

    @property
    def on_volume(self) -> bool:
        """The app keeps its data on its volume only: no bucket."""
        return self.storage == "volume"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        storage = env.get("PDN_STORAGE", "") or "s3"
        if storage == "volume":
            return cls._read(env, storage, [])
        problems = [] if storage in STORAGES else ["PDN_STORAGE must be 's3' (default) or 'volume'"]
        return cls._read(env, storage, problems + cls._s3_problems(env))

    @staticmethod
    def _s3_problems(env: Mapping[str, str]) -> list[str]:
        problems = []
        bucket = env.get("PDN_S3_BUCKET", "")
        endpoint = env.get("PDN_S3_ENDPOINT", "")
        addressing = env.get("PDN_S3_ADDRESSING", "path")
        if not bucket:
            problems.append("PDN_S3_BUCKET is not set")
        elif not BUCKET.fullmatch(bucket):
            problems.append("PDN_S3_BUCKET is not a valid bucket name")
        if not endpoint:
            problems.append("PDN_S3_ENDPOINT is not set")
        elif urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).hostname:
            problems.append("PDN_S3_ENDPOINT is not an http:// or https:// URL")
        if addressing != "path":
            problems.append(
                f"PDN_S3_ADDRESSING {addressing!r} is not supported (the migration's S3 path is path-style)"
            )
        if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
            problems.append("no S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set")
        return problems

    @classmethod
    def _read(cls, env: Mapping[str, str], storage: str, problems: list[str]) -> Settings:
        addressing = env.get("PDN_S3_ADDRESSING", "path")
        access, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
        credentials = Credentials(access, secret, env.get("AWS_SESSION_TOKEN") or None) if access and secret else None
        return cls(
            app_id=env.get("PDN_LEGACY_APP_ID", ""),
            site=env.get("PDN_SITE", ""),
            bucket=env.get("PDN_S3_BUCKET", ""),
            endpoint=env.get("PDN_S3_ENDPOINT", ""),
            region=env.get("PDN_S3_REGION", "") or "us-east-1",
            addressing=addressing,
            credentials=credentials,
            credential_variables={name: bool(env.get(name)) for name in CREDENTIAL_VARIABLES},
            pdn_variables=tuple(sorted(name for name in env if name.startswith("PDN_"))),
            data_dir=env.get("PDN_DATA_DIR", DATA_DIR),
            problems=tuple(problems),
            storage=storage,
        )

    def shown_endpoint(self) -> str:
        """The endpoint without any user information a URL might carry."""
        parts = urlsplit(self.endpoint)
        if parts.username is None and parts.password is None:
            return self.endpoint
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def prepare_data_volume(path: str, app_id: str) -> DataVolume:
    """Write the start marker into the data volume (atomically: replicas may share it)."""
    folder = Path(path)
    mounted = os.path.ismount(folder)
    if not folder.is_dir():
        return DataVolume(path, mounted, False, "not a folder")
    marker = {"app_id": app_id, "started": time.time(), "pid": os.getpid()}
    try:
        with tempfile.NamedTemporaryFile("w", dir=folder, prefix=".pdn-standin-", delete=False) as handle:
            json.dump(marker, handle)
        os.replace(handle.name, folder / MARKER)
        written = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except OSError as error:
        return DataVolume(path, mounted, False, f"marker not written: {error.strerror or type(error).__name__}")
    if written.get("app_id") != app_id:
        return DataVolume(path, mounted, False, "marker did not read back")
    return DataVolume(path, mounted, True)


def valid_key(raw_query: str) -> str:
    """The ``key`` parameter of a query string, or :class:`Refused` (400)."""
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, strict_parsing=True, errors="strict", max_num_fields=4)
    except (ValueError, UnicodeDecodeError):
        raise Refused(HTTPStatus.BAD_REQUEST, "the query string is not valid (one key=... expected)") from None
    keys = [value for name, value in pairs if name == "key"]
    if len(keys) != 1 or len(pairs) != 1:
        raise Refused(HTTPStatus.BAD_REQUEST, "exactly one key=... parameter expected")
    key = keys[0]
    if not key:
        raise Refused(HTTPStatus.BAD_REQUEST, "the key is empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise Refused(HTTPStatus.BAD_REQUEST, f"the key is longer than {MAX_KEY_BYTES} bytes")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in key):
        raise Refused(HTTPStatus.BAD_REQUEST, "the key holds control characters")
    return key


def _s3_reason(what: str, error: Exception) -> Refused:
    """An S3 failure as a status and a reason made only of S3's error code."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(error.response.get("Error", {}).get("Code", "")) or str(status)
        if status == 404 or code in ("NoSuchKey", "NoSuchBucket", "404"):
            return Refused(HTTPStatus.NOT_FOUND, f"{what}: S3 said {code}")
        return Refused(HTTPStatus.BAD_GATEWAY, f"{what}: S3 said {code}")
    if isinstance(error, BotoCoreError):
        return Refused(
            HTTPStatus.SERVICE_UNAVAILABLE, f"{what}: the object store is unreachable ({type(error).__name__})"
        )
    if isinstance(error, PdnError):  # e.g. fewer bytes arrived than the store announced
        return Refused(HTTPStatus.BAD_GATEWAY, f"{what}: {error}")
    return Refused(HTTPStatus.INTERNAL_SERVER_ERROR, f"{what}: {type(error).__name__}")


class Bucket:
    """The app's bucket, read through the migration's S3 path."""

    def __init__(self, settings: Settings) -> None:
        from pdn.migrate.target import TargetStore
        from pdn.s3client import s3_client

        assert settings.credentials is not None
        keys = settings.credentials
        self.name = settings.bucket
        endpoint = Endpoint(settings.endpoint, keys.access_key, keys.secret_key, settings.region, keys.session_token)
        self.store = TargetStore(endpoint, attempts=3)
        self.s3 = s3_client(
            endpoint.url,
            endpoint.region,
            keys.access_key,
            keys.secret_key,
            session_token=keys.session_token,
            attempts=2,
            connect_timeout=3,
            read_timeout=30,
        )

    def close(self) -> None:
        self.store.close()

    def check(self) -> None:
        """Raise unless the bucket can be listed with these keys."""
        self.s3.list_objects_v2(Bucket=self.name, MaxKeys=1)

    def listing(self, shown: int = LISTED) -> dict[str, Any]:
        from pdn.migrate.sources import BucketSource

        count = total = 0
        first: list[dict[str, Any]] = []
        for item in BucketSource(self.s3, f"s3://{self.name}").list():
            count += 1
            total += item.size
            if len(first) < shown:
                first.append({"key": item.key, "size": item.size})
        return {"bucket": self.name, "objects": count, "bytes": total, "keys": first, "truncated": count > len(first)}

    def sha256(self, key: str) -> dict[str, Any]:
        head = self.store.send("HeadObject", "HEAD", self.store.path(self.name, key))
        stored = head.header(f"x-amz-meta-{META_SHA}") or None
        digest, size = self.store.sha256_of_object(self.name, key)
        return {
            "bucket": self.name,
            "key": key,
            "sha256": digest,
            "size": size,
            "stored_sha256": stored,
            "matches_stored": None if stored is None else stored == digest,
        }


class Readiness:
    """Whether the bucket can be listed, asked at most once every ``seconds``."""

    def __init__(self, check: Callable[[], str | None], seconds: float = READY_SECONDS) -> None:
        self.check = check
        self.seconds = seconds
        self.lock = threading.Lock()
        self.answer: tuple[float, str | None] | None = None

    def reason(self) -> tuple[str | None, float]:
        """(None when ready, else why not; when that was found out, as a Unix time)."""
        with self.lock:
            now = time.monotonic()
            if self.answer is None or now - self.answer[0] >= self.seconds:
                self.answer = (now, self.check())
            return self.answer[1], time.time() - (now - self.answer[0])


class StandIn:
    """The stand-in's answers, independent of HTTP plumbing."""

    def __init__(self, settings: Settings, volume: DataVolume, bucket: Bucket | None) -> None:
        self.settings = settings
        self.volume = volume
        self.bucket = bucket
        self.readiness = Readiness(self._not_ready)
        self.walking = threading.Lock()  # one /volume walk at a time; nothing else waits for it

    def _not_ready(self) -> str | None:
        if self.settings.problems:
            return "; ".join(self.settings.problems)
        if self.settings.on_volume:
            if not self.volume.writable:
                return f"data volume {self.volume.path}: {self.volume.problem}"
            if not os.path.isdir(self.volume.path):
                return f"data volume {self.volume.path}: not a folder any more"
            return None
        if self.bucket is None:
            return "; ".join(self.settings.problems) or "no bucket configured"
        try:
            self.bucket.check()
        except Exception as error:
            return _s3_reason(f"listing bucket {self.settings.bucket}", error).reason
        return None

    def _bucket(self) -> Bucket:
        if self.settings.on_volume:
            raise Refused(HTTPStatus.CONFLICT, ON_VOLUME)
        if self.bucket is None:
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, "; ".join(self.settings.problems))
        return self.bucket

    def answer(self, path: str, query: str) -> tuple[HTTPStatus, dict[str, Any]]:
        if path == "/healthz":
            return HTTPStatus.OK, {"status": "alive", "app_id": self.settings.app_id}
        if path == "/readyz":
            reason, checked = self.readiness.reason()
            if reason is None and self.settings.on_volume:
                return HTTPStatus.OK, {
                    "status": "ready",
                    "storage": "volume",
                    "data": self.volume.path,
                    "checked": checked,
                }
            if reason is None:
                return HTTPStatus.OK, {"status": "ready", "bucket": self.settings.bucket, "checked": checked}
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "not ready", "reason": reason, "checked": checked}
        if path == "/config":
            return HTTPStatus.OK, self.config()
        if path == "/data":
            try:
                return HTTPStatus.OK, self._bucket().listing()
            except Refused:
                raise
            except Exception as error:
                raise _s3_reason(f"listing bucket {self.settings.bucket}", error) from None
        if path == "/data/sha256":
            if self.settings.on_volume:
                raise Refused(HTTPStatus.CONFLICT, ON_VOLUME)
            key = valid_key(query)
            bucket = self._bucket()
            try:
                return HTTPStatus.OK, bucket.sha256(key)
            except Exception as error:
                raise _s3_reason(f"reading {self.settings.bucket}/{key}", error) from None
        if path == "/volume":
            return HTTPStatus.OK, self.volume_files()
        raise Refused(
            HTTPStatus.NOT_FOUND, "no such endpoint (/healthz, /readyz, /config, /data, /data/sha256?key=, /volume)"
        )

    def volume_files(self) -> dict[str, Any]:
        """The data volume's manifest, its entries cut to keep the answer under the probe's limit."""
        with self.walking:
            try:
                found = volfiles.manifest(Path(self.volume.path), limit=volfiles.LIMIT)
            except volfiles.VolumeError as error:
                raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, str(error)) from None
        return volfiles.fitted(found, VOLUME_BODY_BYTES)

    def config(self) -> dict[str, Any]:
        s = self.settings
        return {
            "app_id": s.app_id,
            "site": s.site,
            "bucket": s.bucket,
            "endpoint": s.shown_endpoint(),
            "region": s.region,
            "addressing": s.addressing,
            "storage": s.storage,
            "credentials": dict(s.credential_variables),
            "data": {
                "path": self.volume.path,
                "mounted": self.volume.mounted,
                "writable": self.volume.writable,
                "problem": self.volume.problem or None,
            },
            "pdn_variables": list(s.pdn_variables),
            "problems": list(s.problems),
        }


_LOG_LOCK = threading.Lock()


def _log(record: Mapping[str, Any]) -> None:
    line = json.dumps(record, ensure_ascii=True) + "\n"
    with _LOG_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    """JSON in every answer, errors included; one log line per request on stdout."""

    standin: StandIn  # set on the subclass :func:`make_server` builds
    server_version = "pdn-standin"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection gives its thread back after this

    def do_GET(self) -> None:
        self.began = time.monotonic()
        parts = urlsplit(self.path)
        try:
            status, body = self.standin.answer(parts.path, parts.query)
        except Refused as refused:
            status, body = refused.status, {"error": refused.reason, "status": int(refused.status)}
        except Exception as error:  # a bug: one line, never a traceback
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            body = {"error": f"internal error ({type(error).__name__})", "status": int(status)}
        self._reply(status, body)

    def _refuse_method(self) -> None:
        self.began = time.monotonic()
        status = HTTPStatus.METHOD_NOT_ALLOWED
        self._reply(status, {"error": f"{self.command} is not supported, only GET", "status": int(status)})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_method

    def _reply(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=True, indent=None).encode() + b"\n"
        self.sent = len(data)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "GET")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, headers too long...) also get JSON."""
        self.began = getattr(self, "began", time.monotonic())
        self.close_connection = True
        status = HTTPStatus(code)
        self._reply(status, {"error": status.phrase, "status": code})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        began = getattr(self, "began", None)
        _log(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "client": self.client_address[0] if self.client_address else "",
                "method": getattr(self, "command", None) or "-",
                "path": getattr(self, "path", "") or "-",
                "status": int(code) if str(code).isdigit() else code,
                "bytes": getattr(self, "sent", 0),
                "ms": round((time.monotonic() - began) * 1000, 1) if began is not None else None,
            }
        )

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's other messages: dropped, :meth:`log_request` wrote the request's line."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed outside a handler (client gone...): one line, no traceback."""
        error = sys.exc_info()[1]
        _log({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "error": type(error).__name__})


def make_server(standin: StandIn, host: str, port: int) -> Server:
    handler = type("BoundHandler", (Handler,), {"standin": standin})
    return Server((host, port), handler)


def build(env: Mapping[str, str]) -> StandIn:
    settings = Settings.from_env(env)
    volume = prepare_data_volume(settings.data_dir, settings.app_id)
    bucket = None
    if not settings.problems and not settings.on_volume:
        try:
            bucket = Bucket(settings)
        except Exception as error:  # e.g. a proxy setting botocore cannot use
            settings = dataclasses.replace(settings, problems=(f"S3 client: {type(error).__name__}",))
    return StandIn(settings, volume, bucket)


@contextlib.contextmanager
def stop_on_sigterm(server: Server) -> Iterator[None]:
    """SIGTERM (the kubelet stopping the pod) ends :meth:`serve_forever` and so the process."""

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(env: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    raw_port = env.get("PORT", str(PORT))
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        _log({"error": "PORT must be a TCP port number"})
        return 2
    standin = build(env)
    server = make_server(standin, env.get("HOST", "0.0.0.0"), int(raw_port))
    s = standin.settings
    _log({"event": "serving", "port": server.server_address[1], "app_id": s.app_id, "site": s.site,
          "storage": s.storage, "bucket": s.bucket, "data_writable": standin.volume.writable,
          "problems": list(s.problems)})  # fmt: skip
    with stop_on_sigterm(server):
        server.serve_forever(poll_interval=0.5)
    server.server_close()
    if standin.bucket is not None:
        standin.bucket.close()
    _log({"event": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
