"""The whole local stack: Azurite, the sandbox tenant and the devhost, started and stopped together.

`python -m devhost.stack` is what `make run` runs. Tests use `LocalStack` with free ports.

Azurite keeps its data in memory unless asked to keep it (`--keep-data`, `make run KEEP_DATA=1`): on disk,
Azurite rewrites its whole data file as it changes, so the stack slows as local data grows
(docs/devhost.md, "Local data").
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
# Azurite's published development account; not a secret (it is in every Azure Storage SDK's docs).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SANDBOX_CLIENT_ID = "00000000-0000-4000-8000-00000000c0de"
SANDBOX_HOME_TENANT = "11111111-1111-4111-8111-111111111111"  # Contoso Demo, seeded by sandbox/seed.py
SANDBOX_NOTIFY_SENDER = "riposte@contoso-demo.onmicrosoft.com"


def _die_with_parent() -> None:
    """Linux: children get SIGTERM if the stack process dies, even by SIGKILL, so no Azurite is orphaned."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: all held open while they are chosen, so none is handed out twice."""
    with ExitStack() as held:
        socks = [held.enter_context(closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM))) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def storage_connection_string(blob: int, queue: int, table: int) -> str:
    base = "http://127.0.0.1"
    return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={base}:{blob}/{DEV_ACCOUNT};QueueEndpoint={base}:{queue}/{DEV_ACCOUNT};"
            f"TableEndpoint={base}:{table}/{DEV_ACCOUNT};")


@dataclass
class StackPorts:
    devhost: int = 7071
    sandbox: int = 7081
    blob: int = 10000
    queue: int = 10001
    table: int = 10002

    @classmethod
    def free(cls) -> StackPorts:
        return cls(*free_ports(5))


# Which `make run` variable (and stack option) moves each port elsewhere.
PORT_OPTIONS = {"devhost": "PORT= (--port)", "sandbox": "SANDBOX_PORT= (--sandbox-port)",
                "blob": "AZURITE_PORT= (--azurite-base-port)", "queue": "AZURITE_PORT= (--azurite-base-port)",
                "table": "AZURITE_PORT= (--azurite-base-port)"}


class PortInUseError(RuntimeError):
    pass


def _port_taken(port: int) -> bool:
    # Bind as the servers will: something else answering there would otherwise pass our readiness checks.
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports_free(ports: StackPorts) -> None:
    """Fail at once, naming each taken port and how to choose another, before starting anything."""
    taken = [f"{name} port {port} is already in use (choose another with make run {PORT_OPTIONS[name]})"
             for name, port in vars(ports).items() if _port_taken(port)]
    if taken:
        raise PortInUseError("; ".join(taken))


def _wait_for_port(port: int, deadline: float, proc: subprocess.Popen) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with closing(socket.socket()) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def _wait_for_http(url: str, deadline: float, proc: subprocess.Popen) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback URL we built)
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer")


# Kept data past this size slows the stack noticeably (Azurite rewrites its whole file): say so at start.
KEPT_DATA_WARNING_BYTES = 5 * 1024 * 1024


def azurite_storage_args(in_memory: bool, data_dir: Path) -> list[str]:
    """Azurite's storage options: nothing on disk, or its files in `data_dir`."""
    return ["--inMemoryPersistence"] if in_memory else ["--location", str(data_dir)]


@contextmanager
def throwaway_azurite() -> Iterator[str]:
    """An in-memory Azurite on free loopback ports (the test session's, a benchmark's); yields its connection
    string and stops it after."""
    blob, queue, table = free_ports(3)
    proc = subprocess.Popen(  # noqa: S603 (fixed argv we build)
        [str(AZURITE), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
         "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1", "--queuePort", str(queue),
         "--tableHost", "127.0.0.1", "--tablePort", str(table), "--inMemoryPersistence"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        for port in (blob, queue, table):
            _wait_for_port(port, deadline, proc)
        yield storage_connection_string(blob, queue, table)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def data_size_bytes(data_dir: Path) -> int:
    """How much Azurite keeps in `data_dir` (0 when there is nothing)."""
    if not data_dir.is_dir():
        return 0
    return sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())


def storage_notice(in_memory: bool, data_dir: Path) -> str:
    """The start banner's storage line, with a hint when the kept data has grown large enough to slow us."""
    if in_memory:
        return " in memory (make run KEEP_DATA=1 keeps data in .azurite/)"
    size = data_size_bytes(data_dir)
    notice = f", data kept in {data_dir.name}/ ({size / 1024 / 1024:.1f} MB)"
    if size > KEPT_DATA_WARNING_BYTES:
        limit_mb = KEPT_DATA_WARNING_BYTES // 1024 // 1024
        notice += (f"\n           over {limit_mb} MB: Azurite rewrites its whole file as data changes, which "
                   "slows the stack; `make reset` (stack stopped) starts afresh")
    return notice


# Development only, never a production value: 32 bytes that say what they are, base64.
DEV_INGEST_CREDENTIAL_KEY = base64.b64encode(b"riposte-local-dev-ingest-cred-ky").decode()

@dataclass
class LocalStack:
    ports: StackPorts = field(default_factory=StackPorts)
    data_dir: Path = ROOT / ".azurite"
    in_memory_storage: bool = True  # False: Azurite keeps its data in `data_dir` across restarts
    echo: bool = False  # stream children's output to this process's stdout, prefixed
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    _reveal_key: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    _approval_key: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    _notification_key: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())

    @property
    def devhost_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.devhost}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sandbox}"

    def app_environment(self) -> dict[str, str]:
        """The settings the function app gets in the local stack (development, sandbox Graph, Azurite)."""
        p = self.ports
        return {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": storage_connection_string(p.blob, p.queue, p.table),
            # Development only: the devhost serves Service Bus queue triggers from Azurite's queues
            # (devhost/local_queues.py). In Azure, `ServiceBus__*` settings name the namespace.
            "ServiceBus": storage_connection_string(p.blob, p.queue, p.table),
            "RIPOSTE_ENVIRONMENT": "development",
            # A registered tenant's pulled sources are on, polled every 5 s (the sandbox's tenants: an alert
            # injected there reaches GET /api/alerts within seconds; docs/alert-sources.md, "Pulled sources").
            "RIPOSTE_SOURCES_ON_REGISTER_SECONDS": "5",
            "RIPOSTE_TASK_HUB": "RiposteLocal",
            "GRAPH_BASE_URL": f"{self.sandbox_url}/v1.0",
            "GRAPH_AUTH_MODE": "local_token",
            "GRAPH_CLIENT_ID": SANDBOX_CLIENT_ID,
            # The sandbox also plays Exchange Online's admin REST endpoint (/adminapi/beta/{tenant}/InvokeCommand).
            "EXCHANGE_BASE_URL": self.sandbox_url,
            # ... and Microsoft Defender for Endpoint's API (/api/machines, /api/machineactions, /api/indicators).
            "DEFENDER_BASE_URL": self.sandbox_url,
            # A machine action a step follows is re-checked after 1 s, then 2, 4 ... (15 s first in Azure), so a
            # run on the sandbox does not idle (docs/primitives.md, "Following machine actions").
            "RIPOSTE_DEFENDER_CHECK_SECONDS": "1",
            # ... and Azure Resource Manager's Sentinel incidents (sandbox/sentinel_incidents.py), with unsigned
            # local tokens for the app's managed identity.
            "ARM_BASE_URL": self.sandbox_url,
            "ARM_AUTH_MODE": "local_token",
            # Development only: stands in for App Service authentication (refused in production).
            "RIPOSTE_LOCAL_PRINCIPAL_ROLES": "PLAYBOOKS_READ,PLAYBOOKS_MANAGE,SECURITY_MANAGE",
            "RIPOSTE_LOCAL_PRINCIPAL_NAME": "local-developer",
            # Notifications go out from the sandbox's home tenant mailbox (the MSP's own tenant in production).
            "RIPOSTE_NOTIFY_TENANT_ID": SANDBOX_HOME_TENANT,
            "RIPOSTE_NOTIFY_SENDER": SANDBOX_NOTIFY_SENDER,
            "RIPOSTE_PUBLIC_BASE_URL": self.devhost_url,
            # Graph change notifications (docs/alert-sources.md, "Notifications"): the sandbox subscribes the
            # devhost's endpoints for each tenant with alerts_v2 on; clientStates derive from a key new each stack.
            "RIPOSTE_GRAPH_NOTIFICATION_URL": self.devhost_url,
            "RIPOSTE_SECRET_GRAPH_NOTIFICATION_KEY": self._notification_key,
            # Seals reset passwords for their one-time reveal (docs/password-reset.md); new each stack.
            "RIPOSTE_SECRET_PASSWORD_REVEAL_KEY": self._reveal_key,
            "RIPOSTE_SECRET_APPROVAL_SIGNING_KEY": self._approval_key,  # signs approval links (docs/approvals.md)
            # Derives tenants' ingestion credentials (docs/alert-sources.md). Fixed, unlike the keys above:
            # credentials live in Azurite's data, which outlives the stack, and must keep working after a restart.
            "RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY": DEV_INGEST_CREDENTIAL_KEY,
            # Chat webhooks, signed webhooks and PSA APIs are the sandbox's (sandbox/chat_receivers.py, sandbox/psa.py):
            # the secrets demo playbooks name (teams-soc, slack-soc, webhook-soar) and the sandbox PSAs' demo logins.
            "RIPOSTE_SECRET_TEAMS_SOC": f"{self.sandbox_url}/teams/workflows/riposte-soc/triggers/manual/paths/invoke"
                                        "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
                                        "&sig=sandbox-teams-sig-Yx7Qp2",
            "RIPOSTE_SECRET_SLACK_SOC": f"{self.sandbox_url}/slack/services/T0RIPOSTE/B0SOC/sandboxSlackToken0001",
            "RIPOSTE_SECRET_WEBHOOK_SOAR": "sandbox-webhook-signing-key-0123456789abcdef",
            "RIPOSTE_HALOPSA_URL": f"{self.sandbox_url}/halopsa",
            "RIPOSTE_SECRET_HALOPSA_CLIENT_ID": "riposte-sandbox",
            "RIPOSTE_SECRET_HALOPSA_CLIENT_SECRET": "sandbox-halo-client-secret",
            "RIPOSTE_CONNECTWISE_URL": f"{self.sandbox_url}/connectwise",
            "RIPOSTE_SECRET_CONNECTWISE_COMPANY_ID": "riposte_msp",
            "RIPOSTE_SECRET_CONNECTWISE_PUBLIC_KEY": "sandboxPublicKey",
            "RIPOSTE_SECRET_CONNECTWISE_PRIVATE_KEY": "sandboxPrivateKey",
            "RIPOSTE_SECRET_CONNECTWISE_CLIENT_ID": "5f1b9c2e-8d4a-4e6b-9c3f-2a7d8e9f0a1b",
            "RIPOSTE_AUTOTASK_URL": f"{self.sandbox_url}/autotask",
            "RIPOSTE_SECRET_AUTOTASK_INTEGRATION_CODE": "SANDBOXINTEGRATIONCODE",
            "RIPOSTE_SECRET_AUTOTASK_USERNAME": "riposte-api@yourmsp.example",
            "RIPOSTE_SECRET_AUTOTASK_SECRET": "sandbox-autotask-secret",
            # http_request steps (docs/enrichment.md) may call the sandbox, whose fake IP reputation service
            # (sandbox/reputation.py) wants this key.
            "RIPOSTE_HTTP_REQUEST_HOSTS": "127.0.0.1",
            # Outbound calls (webhooks, chat, PSA, http_request) may reach the sandbox's loopback address; production
            # leaves this empty, so no playbook, secret or setting can point Riposte at a private address.
            "RIPOSTE_OUTBOUND_PRIVATE_HOSTS": "127.0.0.1",
            "RIPOSTE_SECRET_REPUTATION_API_KEY": "sandbox-reputation-key-7Qm2",
        }

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(  # noqa: S603 (fixed argv we build)
            args, cwd=ROOT, env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE if self.echo else subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches us; we stop children in order
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.procs[name] = proc
        if self.echo:
            threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()
        return proc

    @staticmethod
    def _pump(name: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            sys.stdout.write(f"[{name:7}] {line.decode(errors='replace')}")
            sys.stdout.flush()

    def start(self, timeout: float = 60) -> LocalStack:
        if not AZURITE.exists():
            raise RuntimeError(f"{AZURITE} is missing: run `npm ci` (make does it)")
        check_ports_free(self.ports)
        deadline = time.monotonic() + timeout
        p = self.ports
        storage = azurite_storage_args(self.in_memory_storage, self.data_dir)
        if not self.in_memory_storage:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            azurite = self._spawn("azurite", [
                str(AZURITE), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
                "--blobHost", "127.0.0.1", "--blobPort", str(p.blob),
                "--queueHost", "127.0.0.1", "--queuePort", str(p.queue),
                "--tableHost", "127.0.0.1", "--tablePort", str(p.table), *storage,
            ])
            sandbox = self._spawn("sandbox", [sys.executable, "-m", "sandbox", "--host", "127.0.0.1",
                                              "--port", str(p.sandbox)])
            for port in (p.blob, p.queue, p.table):
                _wait_for_port(port, deadline, azurite)
            _wait_for_http(f"{self.sandbox_url}/_sandbox/health", deadline, sandbox)
            devhost = self._spawn("devhost", [sys.executable, "-m", "devhost", "--host", "127.0.0.1",
                                              "--port", str(p.devhost), "--settings", "/nonexistent"],
                                  env=self.app_environment())
            _wait_for_http(f"{self.devhost_url}/admin/host/status", deadline, devhost)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Devhost first (it uses the others), Azurite last.
        for name in ("devhost", "sandbox", "azurite"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost.stack", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="devhost port")
    parser.add_argument("--sandbox-port", type=int, default=7081)
    parser.add_argument("--azurite-base-port", type=int, default=10000, help="blob; queue and table follow")
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument("--keep-data", action="store_true",
                         help="Azurite keeps its data in .azurite/ across restarts (slower as it grows)")
    storage.add_argument("--in-memory", action="store_true", help="Azurite keeps nothing on disk (the default)")
    return parser.parse_args(argv)


def stack_from_args(args: argparse.Namespace) -> LocalStack:
    base = args.azurite_base_port
    ports = StackPorts(devhost=args.port, sandbox=args.sandbox_port, blob=base, queue=base + 1, table=base + 2)
    return LocalStack(ports=ports, in_memory_storage=not args.keep_data, echo=True)


def main(argv: list[str] | None = None) -> int:
    stack = stack_from_args(parse_args(argv))
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    started = time.monotonic()
    try:
        stack.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"the stack did not start: {exc}", file=sys.stderr)
        return 1
    print(f"\nRiposte local stack is up in {time.monotonic() - started:.1f}s:\n"
          f"  console  {stack.devhost_url}/ (open it in a browser)\n"
          f"  API      {stack.devhost_url}/api/health\n"
          f"  sandbox  {stack.sandbox_url}/_sandbox/health (Microsoft Graph fake)\n"
          f"  storage  Azurite on 127.0.0.1:{stack.ports.table} (tables)"
          f"{storage_notice(stack.in_memory_storage, stack.data_dir)}\n"
          "Ctrl-C stops everything.\n", flush=True)
    while not stopping.wait(0.5):
        dead = [name for name, proc in stack.procs.items() if proc.poll() is not None]
        if dead:
            print(f"{', '.join(dead)} exited; stopping the stack", flush=True)
            break
    stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
