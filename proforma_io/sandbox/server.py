"""Running the sandbox: embedded in a background thread, or in the foreground for the CLI."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from proforma_io.errors import SandboxError
from proforma_io.sandbox.app import SandboxStats, build_app
from proforma_io.sandbox.auth import DEFAULT_USERS, SandboxUser
from proforma_io.sandbox.fault_http import QUIET_FAULTS
from proforma_io.sandbox.faults import Fault, FaultPlan
from proforma_io.sandbox.store import SandboxData

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0


class Sandbox:
    """A ProForma-compatible server in a background thread, for tests, demos and benchmarks.

    `port=0` picks a free port; `base_url` then names it. `data` defaults to the generated set
    and may be changed while the sandbox runs: a new export sees the change. `faults` are
    injected as planned; `sandbox.faults.add(...)` plans more while it runs. `tls` (a
    certificate file and its key file) serves HTTPS.
    """

    def __init__(
        self,
        data: SandboxData | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        context_path: str = "/jira",
        export_seconds: float = 0.3,
        users: Sequence[SandboxUser] = DEFAULT_USERS,
        faults: Iterable[Fault] = (),
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.data = data if data is not None else SandboxData.generated()
        self.host = host
        self.port = port
        self.context_path = normalise_context_path(context_path)
        self.export_seconds = export_seconds
        self.users = tuple(users)
        self.stats = SandboxStats()
        self.faults = FaultPlan(faults)
        self.tls = tls
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self._server is not None else "stopped"
        return f"<Sandbox {state}>"

    @property
    def base_url(self) -> str:
        """The Jira base URL clients use, context path included, without a trailing slash."""
        if self.port == 0:
            raise RuntimeError("the sandbox picks its port when it starts; call start() first")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{_url_host(self.host)}:{self.port}{self.context_path}"

    def start(self) -> None:
        """Start serving and return once the server accepts connections."""
        if self._server is not None:
            raise RuntimeError(f"the sandbox already runs at {self.base_url}")

        self._executor = ThreadPoolExecutor(2, thread_name_prefix="sandbox-export")
        server = uvicorn.Server(self._config(log_level="warning"))
        thread = threading.Thread(target=server.run, name="proforma-sandbox", daemon=True)
        thread.start()

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                self._executor.shutdown(wait=False)
                raise SandboxError(
                    f"The sandbox could not start on {self.host}:{self.port}: expected it to "
                    f"listen within {START_TIMEOUT_SECONDS:.0f} s (is the port taken?)."
                )
            time.sleep(0.01)

        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread
        log.info("ProForma sandbox listening at %s.", self.base_url)

    def stop(self) -> None:
        """Stop serving; exports not downloaded are lost, as on a restarted server."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_SECONDS)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._server = self._thread = self._executor = None

    @contextmanager
    def running(self) -> Iterator[Sandbox]:
        """Serve for the duration of a `with` block."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def _config(self, log_level: str) -> uvicorn.Config:
        assert self._executor is not None
        app = build_app(
            self.data,
            users=self.users,
            context_path=self.context_path,
            export_seconds=self.export_seconds,
            stats=self.stats,
            executor=self._executor,
            faults=self.faults,
        )
        certfile, keyfile = self.tls or (None, None)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level=log_level,
            access_log=log_level == "info",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        logging.getLogger("uvicorn.error").addFilter(QUIET_FAULTS)
        return config


def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    context_path: str = "/jira",
    data: SandboxData | None = None,
    export_seconds: float = 0.3,
    users: Sequence[SandboxUser] = DEFAULT_USERS,
    faults: Iterable[Fault] = (),
) -> None:
    """Serve in the foreground until interrupted, logging each request."""
    sandbox = Sandbox(
        data,
        host=host,
        port=port,
        context_path=context_path,
        export_seconds=export_seconds,
        users=users,
        faults=faults,
    )
    sandbox._executor = ThreadPoolExecutor(2, thread_name_prefix="sandbox-export")
    try:
        uvicorn.Server(sandbox._config(log_level="info")).run()
    finally:
        sandbox._executor.shutdown(wait=False, cancel_futures=True)


def normalise_context_path(path: str) -> str:
    """ "" for the root, otherwise "/jira" style: one leading slash, no trailing slash."""
    stripped = path.strip().strip("/")
    return f"/{stripped}" if stripped else ""


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
