"""SubjectLookup against the sandbox, through the production Graph client: user types (admin by a directory role,
else Graph's userType) and device platforms (Intune's operatingSystem, else Entra ID's), GETs only, a per-tenant
cache, and a Graph failure as an unknown fact with its reason (never raised, never cached)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox import SandboxServer
from sandbox.entra_devices import KIOSK_AAD_ID
from sandbox.intune import ADELE_LAPTOP_AAD_ID, MEGAN_MAC_ID
from sandbox.seed import CONTOSO_TENANT_ID
from shared.matching.subject import Needs, SubjectFacts
from shared.models.alert import Alert, AlertEntities, DeviceEntity
from shared.subject_lookup import SubjectLookup
from tests.flow.test_facts import ADELE, ADMIN, GUEST, MEGAN, NOBODY, calls, fault, read_only  # noqa: F401

BOTH = Needs(user=True, device=True)
USER = Needs(user=True)


def alert(users=(), devices=(), tenant_id: str | None = CONTOSO_TENANT_ID) -> Alert:
    now = datetime.now(UTC)
    return Alert(id="al-subject", attribution="payload", received_at=now, source="generic", source_alert_id="s",
                 tenant_id=tenant_id, category="security", severity="high", title="t", created_at=now, raw={},
                 entities=AlertEntities(users=list(users), devices=list(devices)))


@pytest.fixture
def lookup(deps) -> SubjectLookup:
    return SubjectLookup(deps.graph)


async def fact(lookup: SubjectLookup, subject: Alert, wanted: Needs = USER) -> SubjectFacts:
    return await lookup.complete(subject, SubjectFacts(), wanted)


@pytest.mark.parametrize(("user", "value", "detail"), [
    (MEGAN, "admin", "user megan.bowen@contoso-demo.onmicrosoft.com is admin (from Graph: holds User Administrator)"),
    (ADMIN, "admin", None),
    (ADELE, "member", "user adele.vance@contoso-demo.onmicrosoft.com is member (from Graph)"),
    (GUEST, "guest", None),
])
async def test_user_types(lookup, user, value, detail):
    found = (await fact(lookup, alert([user]))).user
    assert found.value == value
    assert detail is None or found.detail == detail


async def test_a_user_graph_does_not_know_is_unknown(lookup):
    found = (await fact(lookup, alert([NOBODY]))).user
    assert (found.value, found.detail.startswith("unknown: Graph does not know user nobody@")) == (None, True)


async def test_device_platforms_from_intune(lookup):
    laptop = DeviceEntity(name="CONTOSO-LT-4127", azure_ad_device_id=ADELE_LAPTOP_AAD_ID)
    facts = await fact(lookup, alert([ADELE], [laptop]), BOTH)
    assert (facts.user.value, facts.device.value) == ("member", "windows")
    assert facts.device.detail == "device CONTOSO-LT-4127 runs windows (from Intune: Windows)"
    mac = (await fact(lookup, alert(devices=[DeviceEntity(id=MEGAN_MAC_ID)]), Needs(device=True))).device
    assert mac.value == "macOS"


def device_reads(server: SandboxServer) -> list[str]:
    """The device reads the sandbox received, by service: "intune" or "entra"."""
    return ["intune" if "/deviceManagement/managedDevices" in c["path"] else "entra"
            for c in calls(server) if "evice" in c["path"]]


async def test_a_device_intune_does_not_manage_falls_back_to_entra_id(lookup, server: SandboxServer):
    kiosk = (await fact(lookup, alert(devices=[DeviceEntity(name="CONTOSO-KIOSK-07")]), Needs(device=True))).device
    assert (kiosk.value, kiosk.detail) == ("windows", "device CONTOSO-KIOSK-07 runs windows (from Entra ID: Windows; "
                                                      "Intune does not manage it)")
    assert device_reads(server) == ["intune", "entra"]  # the fallback costs one request, only for such a device
    by_id = (await fact(lookup, alert(devices=[DeviceEntity(azure_ad_device_id=KIOSK_AAD_ID)]),
                        Needs(device=True))).device
    assert by_id.value == "windows" and device_reads(server) == ["intune", "entra"] * 2
    [entra] = [c for c in calls(server) if c["path"].endswith("/devices")][-1:]
    assert entra["query"]["$filter"] == f"deviceId eq '{KIOSK_AAD_ID}'"
    # Cached like Intune's answers (2 minutes): an alert storm about the kiosk reads Graph no more.
    await fact(lookup, alert(devices=[DeviceEntity(name="CONTOSO-KIOSK-07")]), Needs(device=True))
    assert len(device_reads(server)) == 4 and lookup.reads == 2


async def test_a_managed_device_costs_one_request(lookup, server: SandboxServer):
    laptop = DeviceEntity(azure_ad_device_id=ADELE_LAPTOP_AAD_ID)
    assert (await fact(lookup, alert(devices=[laptop]), Needs(device=True))).device.value == "windows"
    assert device_reads(server) == ["intune"]


async def test_a_device_neither_knows_is_unknown(lookup, server: SandboxServer):
    nowhere = (await fact(lookup, alert(devices=[DeviceEntity(name="NOWHERE-1")]), Needs(device=True))).device
    assert (nowhere.value, nowhere.detail) == (
        None, "unknown: device NOWHERE-1 is neither managed by Intune nor registered in Entra ID")
    only_intune_id = (await fact(lookup, alert(devices=[DeviceEntity(id="6d1f0c9e-3b4a-4c2d-9e8f-7a6b5c4d3e2f")]),
                                 Needs(device=True))).device
    assert only_intune_id.detail.endswith("Intune does not manage it, and Entra ID cannot be asked without its "
                                          "Entra device id or name")
    assert device_reads(server) == ["intune", "entra", "intune"]


async def test_an_intune_failure_falls_back_to_entra_id_and_says_so(lookup, server: SandboxServer):
    fault(server, method="GET", pathRegex="managedDevices", status=403, times=1,
          code="Forbidden", message="no Intune licence")
    kiosk = (await fact(lookup, alert(devices=[DeviceEntity(name="CONTOSO-KIOSK-07")]), Needs(device=True))).device
    assert kiosk.detail == ("device CONTOSO-KIOSK-07 runs windows (from Entra ID: Windows; its Intune record could "
                            "not be read: Graph answered 403 (Forbidden))")
    fault(server, method="GET", pathRegex="/devices$", status=403, times=1, code="Authorization_RequestDenied",
          message="Insufficient privileges")
    failed = (await fact(lookup, alert(devices=[DeviceEntity(name="CONTOSO-SHARED-02")]), Needs(device=True))).device
    assert (failed.value, failed.detail) == (None, "unknown: the platform of device CONTOSO-SHARED-02 could not be "
                                                   "read: Intune does not manage it; Entra ID: Graph answered 403 "
                                                   "(Authorization_RequestDenied)")


async def test_reads_are_cached_per_tenant_and_subject(lookup, server: SandboxServer):
    await fact(lookup, alert([MEGAN]))
    before = len(calls(server))
    again = await fact(lookup, alert([MEGAN]))
    assert again.user.value == "admin" and len(calls(server)) == before and lookup.reads == 1
    await fact(lookup, alert([ADELE]))
    assert lookup.reads == 2 and len(calls(server)) > before


async def test_a_graph_failure_is_unknown_with_its_reason_and_not_cached(lookup, server: SandboxServer):
    fault(server, method="GET", pathRegex="transitiveMemberOf", status=403, times=1,
          code="Authorization_RequestDenied", message="Insufficient privileges")
    failed = (await fact(lookup, alert([MEGAN]))).user
    assert failed.value is None
    assert failed.detail == ("unknown: the directory roles of user megan.bowen@contoso-demo.onmicrosoft.com could not "
                             "be read: Graph answered 403 (Authorization_RequestDenied)")
    assert (await fact(lookup, alert([MEGAN]))).user.value == "admin"  # the failure was not kept
    assert lookup.reads == 2


async def test_nothing_is_read_without_a_tenant_or_when_the_alert_settles_it(lookup, server: SandboxServer):
    before = len(calls(server))
    no_tenant = await fact(lookup, alert([MEGAN], tenant_id=None))
    assert no_tenant.user.detail == "unknown: the alert has no tenant to ask Graph in"
    settled = await lookup.complete(alert([MEGAN]), SubjectFacts(user=no_tenant.user), USER)
    assert settled.user is no_tenant.user
    assert len(calls(server)) == before and lookup.reads == 0
