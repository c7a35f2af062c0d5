"""pdn's Pulumi language host: which program it runs, the launcher the toolchain writes, and a
real run: the launcher starts the host, and the host runs a project's program against an engine
and resource monitor (a recording gRPC server here, where the Pulumi CLI would be)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pdn.toolchain import find
from pdn.toolchain.langhost import program_path
from pdn.toolchain.langhost_launcher import LAUNCHER, write


def test_program_from_program_info() -> None:
    info = SimpleNamespace(program_directory="/p/infra", entry_point=".")
    assert program_path(SimpleNamespace(info=info, pwd="/p", program="infra")) == Path("/p/infra")
    info = SimpleNamespace(program_directory="/p", entry_point="main.py")
    assert program_path(SimpleNamespace(info=info, pwd="/p", program=".")) == Path("/p/main.py")


def test_program_from_pwd_for_older_clis() -> None:
    info = SimpleNamespace(program_directory="", entry_point="")
    assert program_path(SimpleNamespace(info=info, pwd="/p", program="infra/")) == Path("/p/infra")


def test_launcher_is_written_once_and_found(isolated: Path) -> None:
    assert find("pulumi-language-python") is None
    write()
    found = find("pulumi-language-python")
    assert found is not None and found.path.read_text() == LAUNCHER
    assert stat.S_IMODE(found.path.stat().st_mode) & 0o111
    assert "-m pdn.toolchain.langhost" in LAUNCHER


PROGRAM = """
import pulumi

settings = pulumi.Config()
thing = pulumi.CustomResource("pdntest:index:Thing", "thing", {"site": settings.require("site")})
pulumi.export("site", settings.require("site"))
if settings.get("fail"):
    raise RuntimeError("the program says no")
"""


@dataclass
class Recorder:
    """What the program told the engine: registrations (type, name, inputs) and log lines."""

    registered: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    root: str = ""


def _engine_and_monitor(recorder: Recorder) -> tuple[Any, int]:
    """A gRPC server playing the Pulumi engine and resource monitor on a loopback port."""
    import grpc  # type: ignore[import-untyped]
    from google.protobuf import empty_pb2, json_format, struct_pb2
    from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, resource_pb2, resource_pb2_grpc

    class Monitor(resource_pb2_grpc.ResourceMonitorServicer):  # type: ignore[misc]
        def SupportsFeature(self, request: Any, context: Any) -> Any:
            return resource_pb2.SupportsFeatureResponse(hasSupport=False)

        def RegisterResource(self, request: Any, context: Any) -> Any:
            inputs = json_format.MessageToDict(request.object)
            recorder.registered.append((request.type, request.name, inputs))
            urn = f"urn:pulumi:test::pdntest::{request.type}::{request.name}"
            state = struct_pb2.Struct()
            state.update(inputs)
            return resource_pb2.RegisterResourceResponse(urn=urn, id=f"id-{request.name}", object=state)

        def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
            recorder.outputs.append(json_format.MessageToDict(request.outputs))
            return empty_pb2.Empty()

        def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:
            return empty_pb2.Empty()

    class Engine(engine_pb2_grpc.EngineServicer):  # type: ignore[misc]
        def Log(self, request: Any, context: Any) -> Any:
            recorder.logs.append(request.message)
            return empty_pb2.Empty()

        def GetRootResource(self, request: Any, context: Any) -> Any:
            return engine_pb2.GetRootResourceResponse(urn=recorder.root)

        def SetRootResource(self, request: Any, context: Any) -> Any:
            recorder.root = request.urn
            return engine_pb2.SetRootResourceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(Monitor(), server)
    engine_pb2_grpc.add_EngineServicer_to_server(Engine(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def language_host(isolated: Path) -> Iterator[int]:
    """The host as the Pulumi CLI starts it: the launcher on PATH, its port on the first line."""
    write()
    found = find("pulumi-language-python")
    assert found is not None
    env = {**os.environ, "PDN_PYTHON": sys.executable}
    process = subprocess.Popen(
        [str(found.path), "-root", str(isolated), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip().isdigit(), (
            f"no port from the language host: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
        )
        yield int(line)
    finally:
        process.terminate()  # the CLI stops its plugins with a signal; the host must exit on it
        assert process.wait(timeout=20) == 0


def _run(port: int, project: Path, monitor: int, config: dict[str, str]) -> Any:
    import grpc
    from pulumi.runtime.proto import language_pb2, language_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        host = language_pb2_grpc.LanguageRuntimeStub(channel)
        info = language_pb2.ProgramInfo(root_directory=str(project), program_directory=str(project), entry_point=".")
        request = language_pb2.RunRequest(
            project="pdntest",
            stack="test",
            pwd=str(project),
            program=".",
            args=[f"127.0.0.1:{monitor}"],  # the engine's address comes first in the arguments
            config=config,
            monitor_address=f"127.0.0.1:{monitor}",
            info=info,
        )
        return host.Run(request, timeout=120)


def test_the_host_runs_the_project_program(language_host: int, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: pdntest\nruntime: python\n")
    (project / "__main__.py").write_text(PROGRAM)
    recorder = Recorder()
    server, monitor = _engine_and_monitor(recorder)
    try:
        answer = _run(language_host, project, monitor, {"pdntest:site": "ikn"})
        assert answer.error == "", answer.error
        types = [(kind, name) for kind, name, _ in recorder.registered]
        assert ("pulumi:pulumi:Stack", "pdntest-test") in types
        [thing] = [inputs for kind, name, inputs in recorder.registered if kind == "pdntest:index:Thing"]
        assert thing == {"site": "ikn"}  # the program ran, with the stack's config
        assert {"site": "ikn"} in recorder.outputs  # and its export reached the engine

        failed = _run(language_host, project, monitor, {"pdntest:site": "ikn", "pdntest:fail": "yes"})
        assert "the program says no" in failed.error
    finally:
        server.stop(grace=None)
