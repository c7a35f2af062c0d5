"""A Pulumi language host for Python programs, built on the Python SDK's own runtime server.

The Go module proxy does not serve Pulumi's ``pulumi-language-python`` module, so the lab cannot
build the upstream host. The SDK already contains a complete ``LanguageRuntime`` gRPC server (the
one the Automation API uses for inline programs); this module serves it to the ``pulumi`` CLI as a
plugin process and makes it run the project's program (``main`` in ``Pulumi.yaml``) in-process.

The CLI starts ``pulumi-language-python [flags] ENGINE_ADDRESS`` and reads the port from the first
line of stdout. Limits: no dependency installation (``pulumi install``) and no policy-pack hosting;
the project's virtualenv is whatever ``python3`` is first on PATH (``pdn.lab.endpoints.pulumi_env``
puts pdn's own first). Plugins are loaded on demand when the program registers a resource.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2_grpc


def program_path(request: Any) -> Path:
    """The file or folder to run: ``info`` (new CLIs) or ``pwd`` + ``program`` (older ones)."""
    info = getattr(request, "info", None)
    if info is not None and info.program_directory:
        entry = info.entry_point or "."
        return Path(info.program_directory) / entry if entry != "." else Path(info.program_directory)
    return Path(request.pwd or os.getcwd()) / (request.program or ".")


class ProjectLanguageServer(LanguageServer):
    """Runs the project's program instead of an inline function."""

    def __init__(self) -> None:
        super().__init__(program=lambda: None)

    def Run(self, request: Any, context: Any) -> Any:
        target = program_path(request)
        folder = target if target.is_dir() else target.parent
        if request.pwd:
            os.chdir(request.pwd)
        sys.path.insert(0, str(folder))
        sys.argv = [str(target), *list(request.args)[1:]]

        def program() -> None:
            runpy.run_path(str(target), run_name="__main__")

        self.program = program
        return super().Run(request, context)  # type: ignore[no-untyped-call]


def main(argv: list[str] | None = None) -> None:
    """Serve on a loopback port, print it, and wait until the CLI stops this process."""
    del argv  # flags (-root, -tracing, -virtualenv...) and the engine address are not needed
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(ProjectLanguageServer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())  # the CLI interrupts its plugins when done
    stopped.wait()
    server.stop(grace=1)


if __name__ == "__main__":
    main(sys.argv[1:])
