"""The pollers' `polls` queue: provisioned beside `alerts`, read by the queue trigger through the identity-based
`ServiceBus` connection, sent to by the app's identity (Data Sender on that queue only), and delivered by the
devhost with the same lock and delivery count."""

import ast

from devhost.local_queues import DELIVERY
from shared.pollers.fanout import POLL_QUEUE
from tests.infra import INFRA, MAIN, ROOT, body, expr, parse, resources

SERVICE_BUS = INFRA / "core" / "servicebus.bicep"
RBAC = INFRA / "app" / "rbac.bicep"


def trigger_keywords() -> dict[str, object]:
    tree = ast.parse((ROOT / "triggers" / "pollers.py").read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == "poll_tenant_sources")
    decorator = next(d for d in fn.decorator_list if d.func.attr == "service_bus_queue_trigger")
    return {k.arg: ast.literal_eval(k.value) if isinstance(k.value, ast.Constant) else ast.unparse(k.value)
            for k in decorator.keywords}


def test_the_trigger_reads_the_provisioned_polls_queue():
    assert trigger_keywords() == {"arg_name": "message", "queue_name": "fanout.POLL_QUEUE", "connection": "ServiceBus"}
    params = body(parse(MAIN)["modules"]["serviceBus"])["params"]
    assert params["pollQueueName"] == POLL_QUEUE
    queue = body(resources(SERVICE_BUS)["pollsQueue"])
    assert queue["name"] == "pollQueueName"


def test_the_local_queue_delivers_as_the_provisioned_polls_queue_does():
    props = body(resources(SERVICE_BUS)["pollsQueue"])["properties"]
    max_deliveries, lock_seconds = DELIVERY[POLL_QUEUE]
    assert props["maxDeliveryCount"] == max_deliveries
    assert props["lockDuration"] == f"PT{lock_seconds // 60}M"
    assert props["deadLetteringOnMessageExpiration"] is False  # a stale wake-up is dropped, not kept


def test_the_app_may_send_to_the_polls_queue_only():
    rbac = resources(RBAC)
    queue = body(rbac["pollsQueue"])
    assert rbac["pollsQueue"]["existing"] and queue["name"] == "pollQueueName"
    assert body(rbac["appPollsSender"])["scope"] == "pollsQueue"
    wired = body(parse(MAIN)["modules"]["rbac"])["params"]["pollQueueName"]
    assert expr(wired) == "serviceBus.outputs.pollQueueName"
