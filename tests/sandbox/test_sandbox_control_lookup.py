"""The control API's tenant lookup (`sandbox.control_routes.control_tenant`): every `/_sandbox/.../{tid}/...`
read answers an unknown tenant the same way, `404 {"error": "unknown tenant"}`, and a known tenant's unknown
resource `404 {"error": "unknown <what>"}`."""

from __future__ import annotations

import re

import httpx
import pytest

from sandbox.app import create_app
from sandbox.seed import CONTOSO_TENANT_ID

UNKNOWN_TENANT = "99999999-9999-4999-8999-999999999999"


def _tenant_reads() -> list[str]:
    """Every GET path of the control API that names a tenant, its other parameters filled with 'x'."""
    paths = {route.resource.canonical for route in create_app().router.routes()
             if route.method == "GET" and route.resource is not None and "{tid}" in route.resource.canonical}
    return sorted(re.sub(r"\{(?!tid\})[^}]+\}", "x", p) for p in paths)


TENANT_READS = _tenant_reads()


def test_the_control_api_has_tenant_reads_in_many_areas() -> None:
    assert len({p.split("/")[2] for p in TENANT_READS}) >= 10  # the lookup is shared, not one area's


@pytest.mark.parametrize("path", TENANT_READS)
def test_an_unknown_tenant_is_the_same_404_on_every_read(control: httpx.Client, path: str) -> None:
    response = control.get(path.replace("{tid}", UNKNOWN_TENANT))
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "unknown tenant"}


@pytest.mark.parametrize(("path", "what"), [
    ("/_sandbox/tenants/{tid}/users/nobody@nowhere.example", "user"),
    ("/_sandbox/intune/tenants/{tid}/managedDevices/x", "managed device"),
    ("/_sandbox/named_locations/tenants/{tid}/namedLocations/x", "named location"),
    ("/_sandbox/defender/tenants/{tid}/machines/x", "machine"),
    ("/_sandbox/exchange_admin/tenants/{tid}/mailboxes/nobody@nowhere.example", "mailbox"),
])
def test_a_known_tenants_unknown_resource_names_what_is_missing(control: httpx.Client, path: str, what: str) -> None:
    response = control.get(path.replace("{tid}", CONTOSO_TENANT_ID.upper()))  # the tenant id in any case
    assert response.status_code == 404
    assert response.json() == {"error": f"unknown {what}"}


def test_an_unknown_tenant_is_404_before_anything_changes(control: httpx.Client) -> None:
    response = control.post(f"/_sandbox/tenants/{UNKNOWN_TENANT}/throttle", json={"retryAfter": 1})
    assert response.status_code == 404 and response.json() == {"error": "unknown tenant"}
    assert control.get(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/conditions").json() == {"value": []}
