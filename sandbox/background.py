"""Run the sandbox on a free loopback port in a background thread (tests, local scripts).

    with SandboxServer() as sandbox:
        sandbox.graph_url   # "http://127.0.0.1:PORT/v1.0"
        sandbox.state       # the live SandboxState (thread-safe)

The server has its own event loop in its own thread, so callers can use any loop (or none).
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from .app import ACCESS_LOG_FORMAT, create_app, new_state
from .state import SandboxState

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class SandboxServer:
    def __init__(self, state: SandboxState | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the sandbox binds loopback only, not {host!r}")
        self.state = state if state is not None else new_state()
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def start(self, timeout: float = 10.0) -> SandboxServer:
        self._thread = threading.Thread(target=self._run, name="graph-sandbox", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("sandbox did not start")
        if self._error is not None:
            raise RuntimeError("sandbox failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        loop.close()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(create_app(self.state), access_log_format=ACCESS_LOG_FORMAT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
