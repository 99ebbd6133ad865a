"""Alert senders over HTTP: POST /api/alerts needs an ingestion secret in production, in one of three forms."""

from __future__ import annotations

import json
import os
import time
import uuid

import httpx
import pytest

from shared import services
from shared.ingest_auth import sign
from shared.models.tenant import Tenant
from shared.settings import get_settings
from tests.api.helpers import unique

pytestmark = pytest.mark.stack

SECRET = "s3cr3t-" + "k" * 40
OTHER_SECRET = "another-sender-secret-" + "q" * 20


def alert_body() -> bytes:
    """A generic alert no playbook matches (unique category and title), naming no tenant (a multi-tenant
    sender may name only registered tenants: tests/api/test_ingest_credentials_http.py)."""
    return json.dumps({"schema": "riposte.alert.v1", "alertId": unique("ingest-"), "severity": "informational",
                       "category": unique("zzcat"), "title": unique("zztitle ")}).encode()


@pytest.fixture
def secrets(production_settings):
    production_settings["RIPOSTE_INGEST_SECRETS"] = f"{OTHER_SECRET}, {SECRET}"
    get_settings.cache_clear()
    return SECRET


def post(devhost, body: bytes, headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
         path: str = "/alerts") -> httpx.Response:
    with httpx.Client(base_url=f"{devhost.origin}/api", timeout=20) as c:
        return c.post(path, content=body, params=params,
                      headers={"Content-Type": "application/json"} | (headers or {}))


def assert_401(response: httpx.Response, *secrets: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthenticated"
    for secret in (SECRET, OTHER_SECRET, *secrets):
        assert secret not in response.text
        assert all(secret not in v for v in response.headers.values())


def assert_202(response: httpx.Response) -> None:
    assert response.status_code == 202, response.text
    assert len(response.json()["alerts"]) == 1
    assert SECRET not in response.text


def test_production_without_secrets_refuses_everything(app_devhost, production_settings):
    assert "RIPOSTE_INGEST_SECRETS" not in os.environ
    assert_401(post(app_devhost, alert_body()))
    assert_401(post(app_devhost, alert_body(), headers={"X-Riposte-Key": SECRET}))
    assert_401(post(app_devhost, alert_body(), params={"key": SECRET}))


def test_production_with_only_short_secrets_refuses_everything(app_devhost, production_settings):
    production_settings["RIPOSTE_INGEST_SECRETS"] = "short"
    assert_401(post(app_devhost, alert_body(), headers={"X-Riposte-Key": "short"}), "short")


def test_no_key_is_401(app_devhost, secrets):
    assert_401(post(app_devhost, alert_body()))


@pytest.mark.parametrize("wrong", [SECRET[:-1] + "X", SECRET + "x", SECRET[:-1], SECRET.upper(), "x"],
                         ids=["last-char", "longer", "prefix", "case", "short"])
def test_wrong_key_is_401(app_devhost, secrets, wrong):
    assert_401(post(app_devhost, alert_body(), headers={"X-Riposte-Key": wrong}), wrong)
    assert_401(post(app_devhost, alert_body(), params={"key": wrong}), wrong)


def test_right_key_header_is_202(app_devhost, secrets):
    assert_202(post(app_devhost, alert_body(), headers={"X-Riposte-Key": SECRET}))
    assert_202(post(app_devhost, alert_body(), headers={"x-riposte-key": OTHER_SECRET}))


def test_right_key_on_the_url_is_202(app_devhost, secrets):
    assert_202(post(app_devhost, alert_body(), params={"key": SECRET}))


def test_tenant_endpoint_needs_the_secret_too(app_devhost, secrets):
    tenant = services.directory().create_tenant(Tenant(id=str(uuid.uuid4()), name=unique("Registered ")))
    path = f"/tenants/{tenant.id}/alerts"
    assert_401(post(app_devhost, alert_body(), path=path))
    assert_202(post(app_devhost, alert_body(), headers={"X-Riposte-Key": SECRET}, path=path))


def test_valid_signature_is_202(app_devhost, secrets):
    body = alert_body()
    now = int(time.time())
    headers = {"X-Riposte-Signature": sign(SECRET.encode(), now, body), "X-Riposte-Timestamp": str(now)}
    assert_202(post(app_devhost, body, headers=headers))


def test_signature_by_the_other_secret_is_202(app_devhost, secrets):
    body = alert_body()
    now = int(time.time()) - 200  # inside the 5-minute window
    headers = {"X-Riposte-Signature": sign(OTHER_SECRET.encode(), now, body), "X-Riposte-Timestamp": str(now)}
    assert_202(post(app_devhost, body, headers=headers))


# Well outside the window: the exact boundary is unit-tested with an injected clock (tests/unit).
@pytest.mark.parametrize("skew", [-330, 330, -3600], ids=["stale", "future", "an-hour-old"])
def test_signature_outside_the_window_is_401(app_devhost, secrets, skew):
    body = alert_body()
    then = int(time.time()) + skew
    headers = {"X-Riposte-Signature": sign(SECRET.encode(), then, body), "X-Riposte-Timestamp": str(then)}
    assert_401(post(app_devhost, body, headers=headers))


def test_tampered_body_is_401(app_devhost, secrets):
    body = alert_body()
    now = int(time.time())
    headers = {"X-Riposte-Signature": sign(SECRET.encode(), now, body), "X-Riposte-Timestamp": str(now)}
    tampered = body.replace(b'"informational"', b'"critical"')
    assert tampered != body
    assert_401(post(app_devhost, tampered, headers=headers))


def test_signature_with_a_moved_timestamp_is_401(app_devhost, secrets):
    """The timestamp is signed: replaying a signature with a fresh timestamp does not work."""
    body = alert_body()
    now = int(time.time())
    headers = {"X-Riposte-Signature": sign(SECRET.encode(), now - 10, body), "X-Riposte-Timestamp": str(now)}
    assert_401(post(app_devhost, body, headers=headers))


@pytest.mark.parametrize("timestamp", [None, "", "yesterday", "1.5e9"], ids=["missing", "empty", "word", "float"])
def test_signature_without_a_usable_timestamp_is_401(app_devhost, secrets, timestamp):
    body = alert_body()
    now = int(time.time())
    headers = {"X-Riposte-Signature": sign(SECRET.encode(), now, body)}
    if timestamp is not None:
        headers["X-Riposte-Timestamp"] = timestamp
    assert_401(post(app_devhost, body, headers=headers))


def test_a_wrong_signature_is_not_rescued_by_a_right_key(app_devhost, secrets):
    body = alert_body()
    now = int(time.time())
    headers = {"X-Riposte-Signature": "sha256=" + "0" * 64, "X-Riposte-Timestamp": str(now),
               "X-Riposte-Key": SECRET}
    assert_401(post(app_devhost, body, headers=headers))


def test_sender_is_checked_before_the_body_is_read(app_devhost, secrets):
    """An unauthenticated sender learns nothing about the payload format (401, not 400)."""
    assert_401(post(app_devhost, b"{not json"))
    assert_401(post(app_devhost, b'{"hello": "world"}'))


def test_authenticated_garbage_is_400(app_devhost, secrets):
    response = post(app_devhost, b"{not json", headers={"X-Riposte-Key": SECRET})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_development_without_secrets_accepts(app_devhost):
    assert get_settings().is_development
    assert "RIPOSTE_INGEST_SECRETS" not in os.environ
    assert_202(post(app_devhost, alert_body()))
