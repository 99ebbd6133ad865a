"""Per-tenant ingestion credentials over HTTP: a sender is held to its tenant (issue 10, item 3).

Production settings: the management API needs a principal, deliveries a credential.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from shared import services
from shared.ingest_auth import sign
from shared.models.alert import AlertSource, alert_id_for
from shared.models.tenant import Tenant
from shared.store.directory import NotFound
from shared.store.ingest_credentials import INGEST_CREDENTIALS
from tests.api.helpers import principal_header, unique

pytestmark = pytest.mark.stack

MULTI_SECRET = "msp-sentinel-multi-tenant-" + "m" * 20
MANAGER = principal_header("PLAYBOOKS_MANAGE")


@pytest.fixture
def tenants(production_settings):
    """Two registered tenants (the app runs in this process: the directory is the app's)."""
    ids = []
    for name in ("Contoso", "Fabrikam"):
        tenant = services.directory().create_tenant(Tenant(id=str(uuid.uuid4()), name=unique(name)))
        ids.append(tenant.id)
    return ids


def api(devhost) -> httpx.Client:
    return httpx.Client(base_url=f"{devhost.origin}/api", timeout=20)


def alert(tenant_id: str | None = None) -> dict:
    body = {"schema": "riposte.alert.v1", "alertId": unique("cred-"), "severity": "informational",
            "category": unique("zzcat"), "title": unique("zztitle ")}
    return body | ({"tenantId": tenant_id} if tenant_id else {})


def deliver(devhost, body: dict, path: str, key: str | bytes | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"} | ({"X-Riposte-Key": key} if key is not None else {})
    with api(devhost) as c:
        return c.post(path, content=json.dumps(body).encode(), headers=headers)


def create_credential(devhost, tenant_id: str, name: str = "sentinel") -> dict:
    with api(devhost) as c:
        response = c.post(f"/tenants/{tenant_id}/ingest-credentials", json={"name": name}, headers=MANAGER)
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def stored(body: dict) -> bool:
    try:
        services.alerts().get(alert_id_for(AlertSource.GENERIC, body["alertId"], body.get("tenantId")))
        return True
    except NotFound:
        return False


def test_a_tenant_credential_delivers_for_its_tenant_only(app_devhost, tenants):
    contoso, fabrikam = tenants
    secret = create_credential(app_devhost, contoso)["secret"]
    accepted = deliver(app_devhost, alert(), f"/tenants/{contoso}/alerts", secret)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["alerts"][0]["tenantId"] == contoso
    assert accepted.json()["alerts"][0]["attribution"] == "tenantEndpoint"
    for path in (f"/tenants/{fabrikam}/alerts", "/alerts"):  # another tenant's endpoint; the multi-tenant one
        assert deliver(app_devhost, alert(), path, secret).status_code == 401


def test_a_payload_naming_another_tenant_is_403_audited_and_not_stored(app_devhost, tenants):
    contoso, fabrikam = tenants
    secret = create_credential(app_devhost, contoso)["secret"]
    body = alert(fabrikam)
    refused = deliver(app_devhost, body, f"/tenants/{contoso}/alerts", secret)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "tenant_mismatch"
    assert refused.json()["error"]["field"] == "tenantId"
    assert not stored(body)
    events = services.audit().for_subject(datetime.now(UTC).strftime("%Y-%m-%d"), contoso)
    refusal = next(e for e in events if e["event"] == "alert.refused")
    assert refusal["details"]["claimedTenant"] == fabrikam and refusal["details"]["sender"] == "tenant"
    assert secret not in json.dumps(events)
    # The same alert naming its own tenant is taken.
    assert deliver(app_devhost, alert(contoso), f"/tenants/{contoso}/alerts", secret).status_code == 202


def test_a_multi_tenant_secret_may_name_only_registered_tenants(app_devhost, tenants, production_settings):
    production_settings["RIPOSTE_INGEST_SECRETS"] = MULTI_SECRET
    contoso, _ = tenants
    unknown = alert(str(uuid.uuid4()))
    response = deliver(app_devhost, unknown, "/alerts", MULTI_SECRET)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "tenantId"
    assert not stored(unknown)
    assert deliver(app_devhost, alert(), f"/tenants/{uuid.uuid4()}/alerts", MULTI_SECRET).status_code == 422
    accepted = deliver(app_devhost, alert(contoso), "/alerts", MULTI_SECRET)
    assert accepted.status_code == 202 and accepted.json()["alerts"][0]["tenantId"] == contoso
    # The URL is authoritative for a multi-tenant sender too.
    _, fabrikam = tenants
    assert deliver(app_devhost, alert(fabrikam), f"/tenants/{contoso}/alerts", MULTI_SECRET).status_code == 403


def test_rotation_keeps_the_old_secret_for_the_overlap_then_revocation_ends_it(app_devhost, tenants):
    contoso, _ = tenants
    path = f"/tenants/{contoso}/alerts"
    first = create_credential(app_devhost, contoso)
    with api(app_devhost) as c:
        rotated = c.post(f"/tenants/{contoso}/ingest-credentials/{first['id']}/rotate", json={"overlapHours": 1},
                         headers=MANAGER)
        assert rotated.status_code == 201, rotated.text
        second = rotated.json()
        assert second["replaces"] == first["id"] and second["secret"] != first["secret"]
        for secret in (first["secret"], second["secret"]):  # both work during the overlap
            assert deliver(app_devhost, alert(), path, secret).status_code == 202
        again = c.post(f"/tenants/{contoso}/ingest-credentials/{first['id']}/rotate", json={}, headers=MANAGER)
        assert again.status_code == 409  # an expiring credential was rotated already

        # No overlap: the replaced secret stops at once.
        third = c.post(f"/tenants/{contoso}/ingest-credentials/{second['id']}/rotate", json={"overlapHours": 0},
                       headers=MANAGER).json()
        assert deliver(app_devhost, alert(), path, second["secret"]).status_code == 401
        assert deliver(app_devhost, alert(), path, third["secret"]).status_code == 202

        revoked = c.delete(f"/tenants/{contoso}/ingest-credentials/{third['id']}", headers=MANAGER)
        assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
        assert deliver(app_devhost, alert(), path, third["secret"]).status_code == 401
        assert deliver(app_devhost, alert(), path, first["secret"]).status_code == 202  # its overlap runs on

        listed = c.get(f"/tenants/{contoso}/ingest-credentials", headers=MANAGER).json()["value"]
    states = {item["id"]: item["state"] for item in listed}
    assert states == {first["id"]: "expiring", second["id"]: "expired", third["id"]: "revoked"}
    text = json.dumps(listed)
    assert all(s["secret"] not in text for s in (first, second, third))
    assert "salt" not in text and "secretSha256" not in text


@pytest.mark.parametrize("body", [{"overlapHours": -1}, {"overlapHours": 10_000}, {"overlapHours": "soon"},
                                  {"overlap": 1}], ids=["negative", "too-long", "word", "unknown-field"])
def test_a_bad_rotation_request_is_400_naming_the_field(app_devhost, tenants, body):
    contoso, _ = tenants
    first = create_credential(app_devhost, contoso)
    with api(app_devhost) as c:
        response = c.post(f"/tenants/{contoso}/ingest-credentials/{first['id']}/rotate", json=body, headers=MANAGER)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] in {"overlapHours", "overlap"}
    assert deliver(app_devhost, alert(), f"/tenants/{contoso}/alerts", first["secret"]).status_code == 202


@pytest.mark.parametrize("credential_id", ["a%2Fb", "..%2F..%2Fx", "ic-" + "0" * 16], ids=["slash", "dots", "none"])
def test_unknown_or_malformed_credential_ids_are_404(app_devhost, tenants, credential_id):
    contoso, _ = tenants
    with api(app_devhost) as c:
        status = c.delete(f"/tenants/{contoso}/ingest-credentials/{credential_id}", headers=MANAGER).status_code
    # A decoded slash makes a path no DELETE route has; the console's GET catch-all still matches it, so the
    # host answers 405 there (as ASP.NET routing does), never a delete.
    assert status == 404 if "%2F" not in credential_id else status in (404, 405)


def test_credentials_of_an_unregistered_tenant_are_404(app_devhost, production_settings):
    with api(app_devhost) as c:
        assert c.post(f"/tenants/{uuid.uuid4()}/ingest-credentials", json={}, headers=MANAGER).status_code == 404


def test_the_secret_is_never_stored(app_devhost, tenants):
    contoso, _ = tenants
    created = create_credential(app_devhost, contoso)
    rows = list(services.tables()(INGEST_CREDENTIALS).query_entities("PartitionKey eq @pk",
                                                                      parameters={"pk": contoso}))
    assert len(rows) == 1 and created["secret"] not in json.dumps(rows, default=str)
    assert created["secret"][4:] not in json.dumps(rows, default=str)


def test_without_the_deployment_key_no_credential_is_created(app_devhost, tenants, monkeypatch):
    monkeypatch.delenv("RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY")
    contoso, _ = tenants
    with api(app_devhost) as c:
        response = c.post(f"/tenants/{contoso}/ingest-credentials", json={}, headers=MANAGER)
    assert response.status_code == 503
    assert "RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY" in response.json()["error"]["message"]


@pytest.mark.parametrize("header", ["X-Riposte-Key", "X-Riposte-Signature"])
@pytest.mark.parametrize("value", [b"\xff\xfe", b"rik_\xc3\x28"], ids=["not-utf8", "bad-continuation"])
def test_sender_headers_that_are_not_utf8_are_401(app_devhost, tenants, header, value):
    contoso, _ = tenants
    create_credential(app_devhost, contoso)
    headers = {"Content-Type": "application/json", header: value, "X-Riposte-Timestamp": "1800000000"}
    with api(app_devhost) as c:
        for path in (f"/tenants/{contoso}/alerts", "/alerts"):
            response = c.post(path, content=json.dumps(alert()).encode(), headers=headers)
            assert response.status_code == 401, response.text
        keyed = c.post(f"/tenants/{contoso}/alerts?key=%FF%FE", content=json.dumps(alert()).encode(),
                       headers={"Content-Type": "application/json"})
        assert keyed.status_code == 401, keyed.text


def test_a_tenant_credential_signs_like_any_secret(app_devhost, tenants):
    contoso, _ = tenants
    secret = create_credential(app_devhost, contoso)["secret"]
    body = json.dumps(alert()).encode()
    now = int(time.time())
    headers = {"Content-Type": "application/json", "X-Riposte-Timestamp": str(now),
               "X-Riposte-Signature": sign(secret.encode(), now, body)}
    with api(app_devhost) as c:
        assert c.post(f"/tenants/{contoso}/alerts", content=body, headers=headers).status_code == 202
        tampered = body.replace(b"informational", b"critical")
        assert c.post(f"/tenants/{contoso}/alerts", content=tampered, headers=headers).status_code == 401
