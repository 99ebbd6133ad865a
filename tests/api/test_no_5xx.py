"""No input gets a 5xx: every JSON endpoint (every route taking a body) x hostile bodies and ids (hypothesis).

And a 4xx stores nothing: writes to the app's tables are counted while each request runs (the audit log
is left out: a refusal may be audited).
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import quote

import pytest
from azure.data.tables import TableClient
from azure.data.tables.aio import TableClient as AsyncTableClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from devhost.function_index import HTTP_TRIGGER
from devhost.http_functions import INVOKED
from shared.json_limits import MAX_DEPTH
from shared.settings import get_settings
from shared.store.tables import AUDIT
from tests.api.helpers import client, unique
from tests.api.test_permissions import management_index

pytestmark = pytest.mark.stack

# Routes whose body is not JSON (the approval page's form: tests/approvals/test_link_http.py).
NOT_JSON = {"approval_response"}
HOSTILE_IDS = ["a/b", "../../x", "a\\b", "a#b", "a?b", "x" * 3000, "\ud800", "al-\x00", "%2F", "..", "al-" + "0" * 64]
KEYS = ["alertId", "alert", "id", "name", "trigger", "actions", "enabled", "decision", "comment", "schema", "value",
        "tenantId", "severity", "title", "category", "tenantIds", "ackTimeoutSeconds", "subscriptionIds"]


def _json_routes() -> list[tuple[str, str]]:
    routes = [r for r in management_index().http_routes
              if r.spec.name not in NOT_JSON and r.methods and r.methods - {"GET"} and r.spec.name in
              {s.name for s in management_index().by_trigger(HTTP_TRIGGER)}]
    return sorted({(m, r.template) for r in routes for m in r.methods - {"GET", "DELETE"}})


JSON_ROUTES = _json_routes()

hostile_text = st.one_of(st.sampled_from(HOSTILE_IDS), st.text(max_size=40),
                         st.builds(lambda n: "x" * n, st.integers(60_000, 80_000)))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), hostile_text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4), max_leaves=12)
documents = st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=5)


def _nested(depth: int, kind: str) -> bytes:
    return ("[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth).encode()


bodies = st.one_of(
    documents.map(lambda d: json.dumps(d).encode()),
    values.map(lambda v: json.dumps(v).encode()),
    st.builds(_nested, st.integers(MAX_DEPTH + 1, 20_000), st.sampled_from(["list", "dict"])),
    st.binary(max_size=64),  # not JSON, or not UTF-8
)


class Writes:
    """Entity writes to the app's tables (not the audit log), counted while a test runs: through the sync
    clients and the async ones (intake's, shared/store/async_tables.py)."""

    def __init__(self, monkeypatch, prefix: str):
        self.seen: list[str] = []

        def note(client, name: str) -> None:
            invoked = INVOKED.get()
            if invoked is not None and invoked.trigger_type != HTTP_TRIGGER:
                return  # a timer or queue listener running beside the request (e.g. a tenant's pollers)
            if client.table_name.startswith(prefix) and client.table_name != prefix + AUDIT:
                self.seen.append(f"{name} {client.table_name}")

        for name in ("create_entity", "upsert_entity", "update_entity", "submit_transaction", "delete_entity"):
            original, async_original = getattr(TableClient, name), getattr(AsyncTableClient, name)

            def counting(client, *args, _original=original, _name=name, **kwargs):
                note(client, _name)
                return _original(client, *args, **kwargs)

            async def async_counting(client, *args, _original=async_original, _name=name, **kwargs):
                note(client, _name)
                return await _original(client, *args, **kwargs)

            monkeypatch.setattr(TableClient, name, counting)
            monkeypatch.setattr(AsyncTableClient, name, async_counting)


@pytest.fixture(scope="module")
def api(app_devhost):
    with client(app_devhost) as c:
        c.timeout = 60
        yield c


@pytest.fixture
def writes(api, monkeypatch):

    return Writes(monkeypatch, get_settings().table_prefix)


def _path(template: str, hostile_id: str) -> str:
    segment = quote(hostile_id.encode("utf-8", "surrogatepass"), safe="")
    return "/" + re.sub(r"\{(\w+)\}", lambda m: segment, template)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(route=st.sampled_from(JSON_ROUTES), body=bodies,
       route_id=st.sampled_from(HOSTILE_IDS) | st.just("").map(lambda _: uuid.uuid4().hex))
def test_no_body_or_id_gets_a_5xx_and_a_4xx_stores_nothing(api, writes, route, body, route_id):
    method, template = route
    assume(not (template == "selftest" and body.strip() in (b"{}", b"null", b"")))  # a valid self-test request
    writes.seen.clear()
    response = api.request(method, _path(template, route_id), content=body,
                           headers={"Content-Type": "application/json", "If-Match": '"v1"'})
    assert response.status_code < 500, (method, template, body[:200], response.text[:300])
    if 400 <= response.status_code < 500:
        assert writes.seen == [], (method, template, body[:200], response.status_code)


def test_every_json_endpoint_is_covered():
    names = {r.spec.name for r in management_index().http_routes if (m := r.methods) and m - {"GET", "DELETE"}}
    assert {"ingest_alerts", "ingest_tenant_alerts", "create_playbook", "update_playbook", "simulate_playbook",
            "execute_playbook", "create_tenant", "replace_tenant", "decide_approval"} <= names
    assert len(JSON_ROUTES) >= 12


# --- the adversarial run's findings, one by one --------------------------------------------------------
@pytest.mark.parametrize("path", ["/alerts", "/playbooks", "/tenants", "/tenant-groups", "/selftest"])
def test_json_nested_5000_levels_is_a_400(api, path):
    response = api.post(path, content=_nested(5000, "list"), headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 401), response.text
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("alert_id", ["a/b", "../../x", "x" * 70_000, "\ud800", "a#b"])
def test_hostile_alert_ids_are_a_400_naming_the_field(api, alert_id):
    playbook = api.post("/playbooks", json={"name": unique("pb-"), "actions": [{"type": "disable_user"}],
                                            "trigger": {"category": unique("cat"), "tenantScope": {"type": "all"}}})
    assert playbook.status_code == 201, playbook.text
    for verb in ("simulate", "execute"):
        response = api.post(f"/playbooks/{playbook.json()['id']}/{verb}",
                            content=json.dumps({"alertId": alert_id}).encode(),
                            headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text[:300]
        assert response.json()["error"]["field"] == "alertId"
    if len(alert_id) < 4000 and alert_id != "\ud800":  # in a URL a lone surrogate arrives as U+FFFD: a 404
        response = api.get("/runs?alertId=" + quote(alert_id.encode("utf-8", "surrogatepass"), safe=""))
        assert response.status_code == 400, response.text[:300]
        assert response.json()["error"]["field"] == "alertId"


def test_an_alert_of_840k_characters_is_taken_whole(api):
    body = {"schema": "riposte.alert.v1", "alertId": unique("big-"), "severity": "informational",
            "category": unique("zzcat"), "title": "large", "padding": "p" * 840_000}
    response = api.post("/alerts", json=body)
    assert response.status_code == 202, response.text[:300]
    stored = api.get(f"/alerts/{response.json()['alerts'][0]['alertId']}").json()
    assert stored["raw"]["padding"] == body["padding"]


def test_list_alerts_pages_newest_first(api):
    category = unique("zzlist")
    ids = [api.post("/alerts", json={"schema": "riposte.alert.v1", "alertId": unique("l-"), "severity": "low",
                                     "category": category, "title": f"n{i}"}).json()["alerts"][0]["alertId"]
           for i in range(3)]
    first = api.get("/alerts", params={"limit": 2}).json()
    assert [a["id"] for a in first["value"]] == ids[::-1][:2]
    second = api.get("/alerts", params={"limit": 1, "continuationToken": first["continuationToken"]}).json()
    assert [a["id"] for a in second["value"]] == ids[:1]
    bad = api.get("/alerts", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "limit"


@pytest.mark.parametrize("count", [101, 1001])
def test_more_alerts_than_a_delivery_takes_are_refused_with_the_delivery_limit(api, writes, count):
    alert = {"schema": "riposte.alert.v1", "alertId": "a", "severity": "low"}
    response = api.post("/alerts", json={"value": [alert] * count})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "value" and "100 alerts" in error["message"], error
