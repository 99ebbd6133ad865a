"""Riposte's function_app.py served by the devhost over real HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import principal_header
from tests.devhost.polling import wait_for_status


@pytest.fixture
def api(app_devhost) -> httpx.Client:
    with httpx.Client(base_url=app_devhost.origin, timeout=10) as client:
        yield client


def test_health_answers_200_with_storage_reachable(api):
    response = api.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["environment"] == "development"
    assert [(c["name"], c["ok"]) for c in body["checks"]] == [("tableStorage", True)]


def test_unknown_route_is_404_and_wrong_method_is_405(api):
    assert api.get("/api/nope").status_code == 404
    assert api.post("/api/health").status_code == 405


def test_selftest_event_arrives_before_the_timer(api):
    started = api.post("/api/selftest", json={"ackTimeoutSeconds": 30})
    assert started.status_code == 202
    links = started.json()
    assert started.headers["Location"] == links["statusQueryGetUri"]
    instance_id = links["id"]

    waiting = wait_for_status(links["statusQueryGetUri"], until={"Running"})
    # Running is reported from the first turn; wait until the orchestrator reached the race.
    for _ in range(100):
        if (waiting.get("customStatus") or {}).get("waitingFor") == "selftest_ack":
            break
        waiting = httpx.get(links["statusQueryGetUri"]).json()
    assert waiting["customStatus"]["waitingFor"] == "selftest_ack"

    ack = api.post(f"/api/selftest/{instance_id}/ack")
    assert ack.status_code == 202
    done = wait_for_status(links["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Completed"
    assert done["output"]["outcome"] == "acknowledged"
    assert done["output"]["ack"] == {"acknowledged": True}
    assert done["output"]["probe"]["instanceId"] == instance_id
    assert done["customStatus"] == {"phase": "finished", "outcome": "acknowledged"}


def test_selftest_times_out_when_no_event_arrives(api):
    links = api.post("/api/selftest", json={"ackTimeoutSeconds": 0.5}).json()
    done = wait_for_status(links["statusQueryGetUri"], timeout=10)
    assert done["runtimeStatus"] == "Completed"
    assert done["output"]["outcome"] == "timed_out"
    assert done["output"]["ack"] is None
    # The instance is finished: a late acknowledgement is refused, not silently dropped.
    late = api.post(f"/api/selftest/{links['id']}/ack")
    assert late.status_code == 409
    assert late.json()["error"]["field"] == "instanceId"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ackTimeoutSeconds": 0}, "ackTimeoutSeconds"),
        ({"ackTimeoutSeconds": 301}, "ackTimeoutSeconds"),
        ({"ackTimeoutSeconds": "soon"}, "ackTimeoutSeconds"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_selftest_rejects_bad_input_with_the_field(api, body, field):
    response = api.post("/api/selftest", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_selftest_rejects_malformed_json(api):
    response = api.post("/api/selftest", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_ack_of_unknown_instance_is_404(api):
    response = api.post("/api/selftest/does-not-exist/ack")
    assert response.status_code == 404


def test_management_api_terminate_then_event_is_gone(api, app_devhost):
    links = api.post("/api/selftest", json={"ackTimeoutSeconds": 60}).json()
    wait_for_status(links["statusQueryGetUri"], until={"Running"})
    terminate = links["terminatePostUri"].replace("{text}", "test")
    assert httpx.post(terminate).status_code == 202
    done = wait_for_status(links["statusQueryGetUri"])
    assert done["runtimeStatus"] == "Terminated"
    send = links["sendEventPostUri"].replace("{eventName}", "selftest_ack")
    assert httpx.post(send, json="{}").status_code == 410
    assert httpx.post(terminate).status_code == 410


def test_management_api_unknown_instance_and_orchestrator(app_devhost):
    base = f"{app_devhost.origin}/runtime/webhooks/durabletask"
    assert httpx.get(f"{base}/instances/nope").status_code == 404
    response = httpx.post(f"{base}/orchestrators/no_such_orchestrator", json=None)
    assert response.status_code == 400
    assert "no_such_orchestrator" in response.json()["ExceptionMessage"]


def test_starting_a_running_instance_id_again_is_refused(app_devhost):
    base = f"{app_devhost.origin}/runtime/webhooks/durabletask"
    first = httpx.post(f"{base}/orchestrators/selftest_orchestrator/fixed-id-1", json='{"ackTimeoutSeconds": 60}')
    assert first.status_code == 202
    second = httpx.post(f"{base}/orchestrators/selftest_orchestrator/fixed-id-1", json='{"ackTimeoutSeconds": 60}')
    assert second.status_code == 409
    httpx.post(f"{base}/instances/fixed-id-1/terminate?reason=cleanup")


def test_admin_api_refuses_http_functions_and_unknown_names(app_devhost):
    assert httpx.post(f"{app_devhost.origin}/admin/functions/health", json={}).status_code == 400
    assert httpx.post(f"{app_devhost.origin}/admin/functions/nope", json={}).status_code == 404


def test_selftest_needs_the_run_permission(api):

    reader = api.post("/api/selftest", json={}, headers=principal_header("PLAYBOOKS_READ"))
    assert reader.status_code == 403
    responder = api.post("/api/selftest", json={"ackTimeoutSeconds": 0.2},
                         headers=principal_header("SECURITY_MANAGE"))
    assert responder.status_code == 202
