"""Shared fixtures: Azurite and in-process devhosts, started on free 127.0.0.1 ports and stopped after."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.stack import AZURITE, _wait_for_port, free_port, storage_connection_string

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """An in-memory Azurite for the session; its connection string."""
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} missing: run `make test`, which runs `npm ci` first")
    blob, queue, table = free_port(), free_port(), free_port()
    proc = subprocess.Popen(  # noqa: S603
        [str(AZURITE), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--inMemoryPersistence",
         "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1", "--queuePort", str(queue),
         "--tableHost", "127.0.0.1", "--tablePort", str(table)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        import time

        deadline = time.monotonic() + 30
        for port in (blob, queue, table):
            _wait_for_port(port, deadline, proc)
        yield storage_connection_string(blob, queue, table)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class LoopThread:
    """One long-lived event loop on a thread: the devhost's loop, shared by every in-process devhost,
    because the Durable client keeps one aiohttp session per process, bound to the loop that made it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="devhost-loop", daemon=True)
        self._thread.start()

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


def start_devhost(loop_thread: LoopThread, app_module: str, env: dict[str, str]):
    from devhost.server import DevHost

    os.environ.update(env)
    host = DevHost(app_module=app_module, host="127.0.0.1", port=0, host_json=ROOT / "host.json")
    loop_thread.run(host.start())
    return host


@pytest.fixture(scope="session")
def app_devhost(loop_thread: LoopThread, azurite_connection_string: str):
    """Riposte's own function_app.py on an in-process devhost, with development settings and Azurite."""
    host = start_devhost(loop_thread, "function_app", {
        "RIPOSTE_ENVIRONMENT": "development",
        "RIPOSTE_TASK_HUB": "RiposteTest",
        "AzureWebJobsStorage": azurite_connection_string,
    })
    yield host
    loop_thread.run(host.stop())
