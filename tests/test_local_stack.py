"""`make run`'s command end to end: the stack starts, serves, and one Ctrl-C stops every process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from devhost.stack import free_port
from tests.devhost.polling import wait_for_status

ROOT = Path(__file__).resolve().parent.parent


def listening(port: int) -> bool:
    with closing(socket.socket()) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_block(size: int) -> int:
    """A base port with `size` consecutive free ports after it (Azurite takes three)."""
    for _ in range(50):
        base = free_port()
        if all(not listening(base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


@pytest.fixture(scope="module")
def stack_process():
    ports = {"devhost": free_port(), "sandbox": free_port(), "azurite": _free_block(3)}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "devhost.stack", "--port", str(ports["devhost"]), "--sandbox-port",
         str(ports["sandbox"]), "--azurite-base-port", str(ports["azurite"]), "--in-memory"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{ports['devhost']}/api/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"stack exited early:\n{proc.stdout.read()}")
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"stack not healthy in time:\n{proc.stdout.read()}")
    yield proc, ports
    if proc.poll() is None:  # a test failed before the interrupt test: stop it the graceful way
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_stack_serves_health_with_storage_and_the_sandbox(stack_process):
    _, ports = stack_process
    health = httpx.get(f"http://127.0.0.1:{ports['devhost']}/api/health").json()
    assert health["status"] == "ok"
    assert health["checks"][0]["name"] == "tableStorage"
    tenants = httpx.get(f"http://127.0.0.1:{ports['sandbox']}/_sandbox/tenants").json()["value"]
    assert len(tenants) >= 2


def test_stack_runs_a_durable_selftest(stack_process):
    _, ports = stack_process
    links = httpx.post(f"http://127.0.0.1:{ports['devhost']}/api/selftest", json={"ackTimeoutSeconds": 0.3}).json()
    assert wait_for_status(links["statusQueryGetUri"])["output"]["outcome"] == "timed_out"


def test_one_interrupt_stops_every_process(stack_process):
    proc, ports = stack_process
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    output = proc.stdout.read()
    assert "Riposte local stack is up" in output
    for name, port in (("devhost", ports["devhost"]), ("sandbox", ports["sandbox"]), ("azurite", ports["azurite"])):
        assert not listening(port), f"{name} still listening on {port}"
