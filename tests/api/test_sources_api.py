"""GET/PUT /api/tenants/{id}/sources: which sources are on, their interval, and their polling state (issue 11)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared import services
from shared.models.tenant import Tenant
from shared.sources.catalog import SOURCES, SourceName
from tests.api.helpers import client, unique

pytestmark = pytest.mark.stack

MANAGER, READER = "PLAYBOOKS_MANAGE", "PLAYBOOKS_READ"


@pytest.fixture
def tenant_id(app_devhost, sources_off_at_teardown) -> str:
    return services.directory().create_tenant(Tenant(id=str(uuid.uuid4()), name=unique("Contoso "))).id


def put(devhost, tenant_id, body, roles=(MANAGER,)):
    with client(devhost, *roles) as c:
        return c.put(f"/tenants/{tenant_id}/sources", json=body)


def get(devhost, tenant_id, roles=(READER,)):
    with client(devhost, *roles) as c:
        return c.get(f"/tenants/{tenant_id}/sources")


def test_a_new_tenant_lists_every_source_off_with_its_permissions(app_devhost, production_settings, tenant_id):
    response = get(app_devhost, tenant_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tenantId"] == tenant_id
    assert list(body["sources"]) == [s.value for s in SourceName]
    alerts = body["sources"]["alerts_v2"]
    assert alerts["enabled"] is False and alerts["intervalSeconds"] == 300
    assert alerts["graphPermissions"] == list(SOURCES[SourceName.ALERTS_V2].graph_permissions)
    assert alerts["state"]["watermark"] is None and alerts["state"]["counts"]["polls"] == 0


def _settings(sources: dict) -> dict:
    """What was set, without what runs on its own: the poll `state` and the change-notification `subscription`."""
    return {name: {k: v for k, v in source.items() if k not in ("state", "subscription")}
            for name, source in sources.items()}


def test_put_turns_sources_on_and_get_shows_them(app_devhost, production_settings, tenant_id):
    response = put(app_devhost, tenant_id, {"sources": {"alerts_v2": {"enabled": True, "intervalSeconds": 60},
                                                        "managedDevices": {"enabled": True}}})
    assert response.status_code == 200, response.text
    shown = get(app_devhost, tenant_id).json()["sources"]
    # The settings as put; a source's poll state moves on its own (the devhost's pollers poll a source just
    # turned on at once, and this tenant's consent is revoked: the poll records the error between PUT and GET).
    assert _settings(shown) == _settings(response.json()["sources"])
    assert (shown["alerts_v2"]["enabled"], shown["alerts_v2"]["intervalSeconds"]) == (True, 60)
    assert shown["managedDevices"]["enabled"] is True and shown["incidents"]["enabled"] is False
    # PUT replaces: a source not named is off again
    put(app_devhost, tenant_id, {"sources": {"incidents": {"enabled": True}}})
    shown = get(app_devhost, tenant_id).json()["sources"]
    assert [n for n, s in shown.items() if s["enabled"]] == ["incidents"]


async def test_put_never_touches_the_pollers_state(app_devhost, production_settings, tenant_id):
    store, states = services.sources(), services.poll_states()
    now = datetime.now(UTC)
    claim = await states.claim_window(tenant_id, SourceName.ALERTS_V2, owner="poller", now=now,
                                      interval=timedelta(minutes=1))
    await states.advance_watermark(claim, now=now, items=3, alerts=1)
    before = store.get_state(tenant_id, SourceName.ALERTS_V2)
    assert put(app_devhost, tenant_id, {"sources": {"alerts_v2": {"enabled": False}}}).status_code == 200
    assert store.get_state(tenant_id, SourceName.ALERTS_V2) == before  # same state, same ETag
    state = get(app_devhost, tenant_id).json()["sources"]["alerts_v2"]["state"]
    assert state["counts"]["alerts"] == 1 and state["watermark"] is not None and state["lastSuccessAt"] is not None


@pytest.mark.parametrize(("body", "field"), [
    ({"sources": {"alerts_v3": {"enabled": True}}}, "sources.alerts_v3"),
    ({"sources": {"alerts_v2": {"enabled": True, "intervalSeconds": 59}}}, "sources.alerts_v2.intervalSeconds"),
    ({"sources": {"alerts_v2": {"intervalSeconds": 86_401}}}, "sources.alerts_v2.intervalSeconds"),
    ({"sources": {"alerts_v2": {"enabled": "yes please"}}}, "sources.alerts_v2.enabled"),
    ({"sources": {"alerts_v2": {"enabled": True, "state": {"watermark": None}}}}, "sources.alerts_v2.state"),
    ({"sources": ["alerts_v2"]}, "sources"),
    ({"source": {}}, "source"),
    ({"sources": {"alerts_v2": {"enabled": True}}, "listingLagSeconds": -1}, "listingLagSeconds"),
    ({"sources": {"alerts_v2": {"enabled": True}}, "listingLagSeconds": 86_401}, "listingLagSeconds"),
    ({"sources": {"alerts_v2": {"enabled": True}}, "listingLagSeconds": "3600"}, "listingLagSeconds"),
    ({"sources": {"alerts_v2": {"enabled": True}}, "listingLagSeconds": True}, "listingLagSeconds"),
    ({"sources": {"alerts_v2": {"enabled": True}}, "listingLagSeconds": 1.5}, "listingLagSeconds"),
])
def test_bad_input_is_400_naming_the_field(app_devhost, production_settings, tenant_id, body, field):
    response = put(app_devhost, tenant_id, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert get(app_devhost, tenant_id).json()["sources"]["alerts_v2"]["enabled"] is False  # nothing saved


def test_the_unknown_source_error_lists_the_known_ones(app_devhost, production_settings, tenant_id):
    message = put(app_devhost, tenant_id, {"sources": {"alerts": {}}}).json()["error"]["message"]
    assert all(name.value in message for name in SourceName)


def test_a_huge_unknown_name_is_not_echoed_back(app_devhost, production_settings, tenant_id):
    response = put(app_devhost, tenant_id, {"sources": {"x" * 100_000: {}}})
    assert response.status_code == 400 and len(response.text) < 1000


def test_development_allows_short_intervals_for_the_sandbox(app_devhost, tenant_id):
    """make run polls the sandbox every few seconds; production refuses under 60 s (the case above)."""
    response = put(app_devhost, tenant_id, {"sources": {"alerts_v2": {"enabled": True, "intervalSeconds": 5}}})
    assert response.status_code == 200, response.text
    assert put(app_devhost, tenant_id, {"sources": {"alerts_v2": {"intervalSeconds": 4}}}).status_code == 400


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("tenant", [str(uuid.uuid4()), "not-a-guid"])
def test_an_unregistered_tenant_is_404(app_devhost, production_settings, method, tenant):
    response = get(app_devhost, tenant) if method == "GET" else put(app_devhost, tenant, {"sources": {}})
    assert response.status_code == 404, response.text


def test_a_deleted_tenant_registered_again_starts_with_every_source_off(app_devhost, production_settings, tenant_id):
    assert put(app_devhost, tenant_id, {"sources": {"riskyUsers": {"enabled": True}}}).status_code == 200
    with client(app_devhost, MANAGER) as c:
        assert c.delete(f"/tenants/{tenant_id}").status_code == 204
    services.directory().create_tenant(Tenant(id=tenant_id, name=unique("Again ")))
    assert not any(s["enabled"] for s in get(app_devhost, tenant_id).json()["sources"].values())


def test_a_put_is_audited(app_devhost, production_settings, tenant_id):
    put(app_devhost, tenant_id, {"sources": {"riskDetections": {"enabled": True, "intervalSeconds": 120}}})
    events = services.audit().for_subject(datetime.now(UTC).strftime("%Y-%m-%d"), tenant_id)
    [event] = [e for e in events if e["event"] == "sources.update"]
    assert event["details"] == {"enabled": {"riskDetections": 120}}
    assert event["actor"] == "tech@yourmsp.com.au"


def test_a_tenants_listing_lag_override_replaces_every_windowed_sources_margin(app_devhost, production_settings,
                                                                              tenant_id):
    shown = get(app_devhost, tenant_id).json()
    assert shown["listingLagSeconds"] is None  # the catalog's margins
    assert {n: s["lagMarginSeconds"] for n, s in shown["sources"].items()} == {
        "alerts_v2": 600, "incidents": 600, "riskDetections": 1800, "riskyUsers": 1800, "managedDevices": 0}

    response = put(app_devhost, tenant_id, {"sources": {"alerts_v2": {"enabled": True}}, "listingLagSeconds": 7200})
    assert response.status_code == 200, response.text
    shown = get(app_devhost, tenant_id).json()
    # The configuration GET shows is the one PUT answered; a source's state may have moved on since (an enabled
    # source is polled in the background as soon as it is on), so states are not compared.
    def configuration(view: dict) -> dict:
        return view | {"sources": {n: {k: v for k, v in src.items() if k not in ("state", "subscription")}
                                   for n, src in view["sources"].items()}}
    assert configuration(shown) == configuration(response.json()) and shown["listingLagSeconds"] == 7200
    assert {n: s["lagMarginSeconds"] for n, s in shown["sources"].items()} == {
        "alerts_v2": 7200, "incidents": 7200, "riskDetections": 7200, "riskyUsers": 7200, "managedDevices": 0}
    events = services.audit().for_subject(datetime.now(UTC).strftime("%Y-%m-%d"), tenant_id)
    assert [e["details"] for e in events if e["event"] == "sources.update"][-1]["listingLagSeconds"] == 7200

    assert put(app_devhost, tenant_id, {"sources": {}, "listingLagSeconds": 0}).json()["listingLagSeconds"] == 0
    assert put(app_devhost, tenant_id, {"sources": {}, "listingLagSeconds": 86_400}).status_code == 200
    # PUT replaces the configuration: leaving the override out is the catalog's margins again
    assert put(app_devhost, tenant_id, {"sources": {}}).json()["listingLagSeconds"] is None


def test_an_out_of_bounds_listing_lag_says_why(app_devhost, production_settings, tenant_id):
    error = put(app_devhost, tenant_id, {"sources": {}, "listingLagSeconds": 90_000}).json()["error"]
    assert error["field"] == "listingLagSeconds" and "between 0 and 86400 seconds" in error["message"]
