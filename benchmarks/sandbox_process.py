"""The sandbox as a process of its own for the benchmarks that measure a client against it (pool, outbound,
Graph reads): started on a free 127.0.0.1 port, waited for, and stopped."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from devhost.stack import _wait_for_http, free_port


@contextmanager
def running_sandbox() -> Iterator[str]:
    """Yields the sandbox's origin (http://127.0.0.1:<port>) once its health endpoint answers."""
    port = free_port()
    sandbox = subprocess.Popen([sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port)],  # noqa: S603
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/_sandbox/health", time.monotonic() + 30, sandbox)
        yield f"http://127.0.0.1:{port}"
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
