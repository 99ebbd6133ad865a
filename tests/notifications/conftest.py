import httpx

from tests.pollers.conftest import control, graphs, states, store, table_prefix, tenant  # noqa: F401 - the pollers' fixtures

# The subscription maintenance timer (triggers/notifications.py), every 30 s on its own.
MAINTAIN = "maintain_graph_subscriptions"


def maintain_now(app_devhost) -> None:
    """Run the maintenance timer now, through the host's admin endpoint as Azure's does, rather than wait up to
    30 s for its next tick. Its own tick may run beside it: the row's ETag settles which subscription stays
    (shared/notifications/subscriptions._record), which the tests' waits allow for."""
    invoked = httpx.post(f"{app_devhost.origin}/admin/functions/{MAINTAIN}", json={"input": ""}, timeout=10)
    assert invoked.status_code == 202, invoked.text
