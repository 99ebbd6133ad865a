"""The Service Bus queue trigger reads the queue infra/ provisions, through the identity-based connection."""

import ast

from devhost.local_queues import LOCK_SECONDS, MAX_DELIVERY_COUNT
from tests.infra import MAIN, ROOT, app_settings, body, parse, resources
from triggers.alert_queue import ALERT_QUEUE

SERVICE_BUS = ROOT / "infra" / "core" / "servicebus.bicep"


def trigger_keywords() -> dict[str, object]:
    tree = ast.parse((ROOT / "triggers" / "alert_queue.py").read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == "ingest_service_bus_alert")
    decorator = next(d for d in fn.decorator_list if d.func.attr == "service_bus_queue_trigger")
    return {k.arg: ast.literal_eval(k.value) if isinstance(k.value, ast.Constant) else ast.unparse(k.value)
            for k in decorator.keywords}


def test_the_trigger_reads_the_provisioned_queue_through_the_identity():
    assert trigger_keywords() == {"arg_name": "message", "queue_name": "ALERT_QUEUE", "connection": "ServiceBus"}
    assert body(parse(MAIN)["modules"]["serviceBus"])["params"]["queueName"] == ALERT_QUEUE
    settings = app_settings()
    assert settings["ServiceBus__credential"] == "managedidentity" and "ServiceBus" not in settings


def test_the_local_queue_delivers_as_the_provisioned_queue_does():
    queue = body(resources(SERVICE_BUS)["alertsQueue"])["properties"]
    assert queue["maxDeliveryCount"] == MAX_DELIVERY_COUNT
    assert queue["lockDuration"] == f"PT{LOCK_SECONDS // 60}M"
