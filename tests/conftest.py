"""Shared fixtures: Azurite and in-process devhosts, started on free 127.0.0.1 ports and stopped after."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.stack import AZURITE, throwaway_azurite

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """An in-memory Azurite for the session; its connection string."""
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} missing: run `make test`, which runs `npm ci` first")
    with throwaway_azurite() as connection_string:
        yield connection_string


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
    # lazy: servers, the app and its settings load when a fixture starts them (environment set first)
    from devhost.server import DevHost

    os.environ.update(env)
    host = DevHost(app_module=app_module, host="127.0.0.1", port=0, host_json=ROOT / "host.json")
    loop_thread.run(host.start())
    return host


@pytest.fixture(scope="session")
def sandbox_server():
    """The Graph sandbox on a free port in a background thread, seeded with the demo tenants."""
    # lazy: servers, the app and its settings load when a fixture starts them (environment set first)
    from sandbox import SandboxServer

    with SandboxServer() as server:
        yield server


def app_environment(storage: str, sandbox_graph_url: str) -> dict[str, str]:
    """The development settings the local stack gives the app (see devhost/stack.py), pointed at this
    session's Azurite and sandbox instead of the default ports."""
    # lazy: servers, the app and its settings load when a fixture starts them (environment set first)
    from devhost.stack import LocalStack

    default = LocalStack()
    sandbox_base = sandbox_graph_url.removesuffix("/v1.0")
    env = {k: v.replace(default.sandbox_url, sandbox_base) for k, v in default.app_environment().items()
           # tests turn sources on where they test polling, and notifications where they test them
           if k not in ("RIPOSTE_SOURCES_ON_REGISTER_SECONDS", "RIPOSTE_GRAPH_NOTIFICATION_URL")}
    return env | {"AzureWebJobsStorage": storage, "ServiceBus": storage, "RIPOSTE_TASK_HUB": "RiposteTest",
                  "RIPOSTE_TABLE_PREFIX": "test"}


@pytest.fixture(scope="session")
def app_devhost(loop_thread: LoopThread, azurite_connection_string: str, sandbox_server):
    """Riposte's own function_app.py on an in-process devhost, with development settings, Azurite and the
    sandbox: what `make run` serves, in this process so tests can switch settings."""
    # lazy: servers, the app and its settings load when a fixture starts them (environment set first)
    from shared.settings import get_settings

    get_settings.cache_clear()
    host = start_devhost(loop_thread, "function_app", app_environment(azurite_connection_string,
                                                                      sandbox_server.graph_url))
    yield host
    loop_thread.run(host.stop())


@pytest.fixture
def sources_off_at_teardown(app_devhost, loop_thread):
    """For a test that turns tenants' pulled sources on in the shared devhost (a PUT, or registering under
    RIPOSTE_SOURCES_ON_REGISTER_SECONDS): at teardown every tenant whose sources it turned on has them all off
    again, and the subscriptions of those tenants are deleted at the sandbox at once (the maintenance
    timer's own pass, run now rather than at its next tick). Later tests then see no background polls or
    subscription calls for them."""
    # lazy (each line): the app's modules load when a fixture needs them, after the devhost set the environment
    from shared import services  # lazy: as above
    from shared.sources.catalog import SourceName  # lazy: as above
    from shared.sources.models import SourcesConfig  # lazy: as above
    from triggers import notifications  # lazy: as above

    def turned_on() -> set[str]:
        return {t for t, c in services.sources().configs() if any(s.enabled for s in c.sources.values())}

    before = turned_on()
    yield
    store = services.sources()
    left_on = turned_on() - before
    for tenant_id in left_on:
        store.put_config(tenant_id, SourcesConfig())
    if any(store.get_subscription(t, SourceName.ALERTS_V2) is not None for t in left_on):
        loop_thread.run(notifications.maintain(), timeout=60)  # a source off: its subscription is deleted


@pytest.fixture
def production_settings(app_devhost):
    """Switch the running app to production settings for one test (no local principal, secrets required)."""
    # lazy: servers, the app and its settings load when a fixture starts them (environment set first)
    from shared.settings import get_settings

    saved = {k: os.environ.get(k) for k in ("RIPOSTE_ENVIRONMENT", "RIPOSTE_INGEST_SECRETS", "WEBSITE_AUTH_ENABLED")}
    os.environ["RIPOSTE_ENVIRONMENT"] = "production"
    os.environ["WEBSITE_AUTH_ENABLED"] = "True"  # as App Service sets it when its authentication is on
    os.environ.pop("RIPOSTE_INGEST_SECRETS", None)
    get_settings.cache_clear()
    yield os.environ
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
