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

from devhost.stack import free_port, free_ports
from tests.devhost.polling import wait_for_status

ROOT = Path(__file__).resolve().parent.parent


def listening(port: int) -> bool:
    with closing(socket.socket()) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_block(size: int, avoid: set[int]) -> int:
    """A base port with `size` consecutive free ports after it (Azurite takes three), none in `avoid`."""
    for _ in range(50):
        base = free_port()
        if all(base + i not in avoid and not listening(base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


def start_stack() -> tuple[subprocess.Popen, dict[str, int]]:
    """`python -m devhost.stack` on free ports, healthy. A port chosen free can be taken by another process
    before the stack binds it (the stack then exits at once, naming it): choose again, twice at most."""
    for _ in range(2):
        try:
            return _start_stack()
        except PortTaken:
            pass
    return _start_stack()


class PortTaken(Exception):
    pass


def _start_stack() -> tuple[subprocess.Popen, dict[str, int]]:
    devhost, sandbox = free_ports(2)
    ports = {"devhost": devhost, "sandbox": sandbox, "azurite": _free_block(3, avoid={devhost, sandbox})}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "devhost.stack", "--port", str(ports["devhost"]), "--sandbox-port",
         str(ports["sandbox"]), "--azurite-base-port", str(ports["azurite"]), "--in-memory"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{ports['devhost']}/api/health").status_code == 200:
                return proc, ports
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            output = proc.stdout.read()
            if "is already in use" in output:
                raise PortTaken(output)
            pytest.fail(f"stack exited early:\n{output}")
        time.sleep(0.1)
    stop_stack(proc)
    pytest.fail(f"stack not healthy in time:\n{proc.stdout.read()}")


def stop_stack(proc: subprocess.Popen) -> None:
    if proc.poll() is None:  # the graceful way, as Ctrl-C would
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def stack_process():
    proc, ports = start_stack()
    yield proc, ports
    stop_stack(proc)


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


def test_one_interrupt_stops_every_process():
    proc, ports = start_stack()  # its own stack: the other tests keep theirs, in any order
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    output = proc.stdout.read()
    assert "Riposte local stack is up" in output
    assert f"console  http://127.0.0.1:{ports['devhost']}/ " in output  # the banner names the console's URL
    for name, port in (("devhost", ports["devhost"]), ("sandbox", ports["sandbox"]), ("azurite", ports["azurite"])):
        assert not listening(port), f"{name} still listening on {port}"


def test_a_port_already_taken_fails_at_once_naming_it():
    with closing(socket.socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "devhost.stack", "--port", str(port), "--sandbox-port", str(free_port()),
             "--azurite-base-port", str(_free_block(3, avoid={port})), "--in-memory"],
            cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
        )
    assert done.returncode == 1
    assert time.monotonic() - started < 15  # not the 60 s health-check wait
    assert f"devhost port {port} is already in use" in done.stderr, done.stderr
    assert "make run PORT=" in done.stderr
    assert "Riposte local stack is up" not in done.stdout
