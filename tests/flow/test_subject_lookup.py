"""SubjectLookup against the sandbox, through the production Graph client: user types (admin by a directory role,
else Graph's userType) and device platforms (Intune's operatingSystem), GETs only, a per-tenant cache, and a
Graph failure as an unknown fact with its reason (never raised, never cached)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox import SandboxServer
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
    assert facts.device.detail == "device CONTOSO-LT-4127 runs windows (from Graph: Windows)"
    mac = (await fact(lookup, alert(devices=[DeviceEntity(id=MEGAN_MAC_ID)]), Needs(device=True))).device
    assert mac.value == "macOS"
    kiosk = (await fact(lookup, alert(devices=[DeviceEntity(name="CONTOSO-KIOSK-07")]), Needs(device=True))).device
    assert kiosk.detail == "unknown: device CONTOSO-KIOSK-07 is not managed by Intune"


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
