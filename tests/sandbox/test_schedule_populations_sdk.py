"""Scheduled playbooks' population queries against the sandbox, through the production client factory and
msgraph-sdk's request builders: server-side $filter, paging, and what is checked on each page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from sandbox.models import TenantSpec, UserSpec
from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.schedules import populations
from shared.schedules.models import GuestsNeverSignedIn, InactiveUsers, MfaNotRegistered, NoncompliantDevices
from shared.schedules.populations import population

from .helpers import Probe

INACTIVE, MFA = InactiveUsers(query="inactiveUsers", days=30), MfaNotRegistered(query="mfaNotRegistered")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def graph_calls(probe: Probe, tenant_id: str) -> list[dict]:
    return [c for c in probe.calls(tenant_id) if not c["path"].startswith("/_sandbox")]


async def test_inactive_users_are_filtered_by_graph(factory, probe):
    now = datetime.now(UTC)
    found = await population(factory.for_tenant(FABRIKAM_TENANT_ID), INACTIVE, now)
    assert [t.name for t in found] == ["lynne.robbins@fabrikam-demo.onmicrosoft.com"]  # away 45 days
    assert found[0].episode == probe.user("lynne.robbins@fabrikam-demo.onmicrosoft.com", FABRIKAM_TENANT_ID)[
        "signInActivity"]["lastSignInDateTime"]
    (call,) = graph_calls(probe, FABRIKAM_TENANT_ID)
    assert call["query"]["$filter"].startswith("signInActivity/lastSignInDateTime le ")
    assert "signInActivity" in call["query"]["$select"]
    assert await population(factory.for_tenant(FABRIKAM_TENANT_ID), InactiveUsers(query="inactiveUsers", days=60),
                            now) == []


async def test_every_page_is_read_and_disabled_accounts_are_skipped(factory, sandbox_server, probe, monkeypatch):
    monkeypatch.setattr(populations, "PAGE_SIZE", 100)  # 999 in production: fewer users make two pages
    long_ago = {"lastSignInDateTime": iso(datetime.now(UTC) - timedelta(days=90))}
    users = [UserSpec(userPrincipalName=f"user{i}@paging.example", displayName=f"User {i}", signInActivity=long_ago,
                      accountEnabled=i != 7)
             for i in range(130)]
    tenant_id = str(uuid.uuid4())
    sandbox_server.state.add_tenant(TenantSpec(id=tenant_id, displayName="Paging", domain="paging.example",
                                               users=users))
    found = await population(factory.for_tenant(tenant_id), INACTIVE, datetime.now(UTC))
    assert len(found) == 129 and "user7@paging.example" not in {t.name for t in found}
    calls = graph_calls(probe, tenant_id)
    assert len(calls) == 2 and calls[0]["query"]["$top"] == "100"  # the second through @odata.nextLink
    mfa = await population(factory.for_tenant(tenant_id), MFA, datetime.now(UTC))
    assert len(mfa) == 130  # nobody registered a method: two pages of the report's 100


async def test_users_without_mfa_are_members_only(factory, probe):
    found = await population(factory.for_tenant(FABRIKAM_TENANT_ID), MFA, datetime.now(UTC))
    names = {t.name for t in found}
    assert "lynne.robbins@fabrikam-demo.onmicrosoft.com" in names
    assert not any("#EXT#" in n for n in names)  # guests register MFA at home
    (call,) = graph_calls(probe, FABRIKAM_TENANT_ID)
    assert call["path"].endswith("/reports/authenticationMethods/userRegistrationDetails")
    assert call["query"]["$filter"] == "isMfaRegistered eq false and userType eq 'member'"


async def test_guests_who_never_signed_in(factory):
    found = await population(factory.for_tenant(CONTOSO_TENANT_ID), GuestsNeverSignedIn(query="guestsNeverSignedIn"),
                             datetime.now(UTC))
    assert [t.name for t in found] == ["alex.wilber_fabrikam.com#EXT#@contoso-demo.onmicrosoft.com"]
    assert found[0].episode == "never"


async def test_devices_count_from_the_end_of_their_grace_period(factory, async_control):
    now = datetime.now(UTC)
    path = f"/_sandbox/intune/tenants/{CONTOSO_TENANT_ID}/managedDevices"
    for name, since in (("OLD-DRIFT", now - timedelta(hours=30)), ("NEW-DRIFT", now - timedelta(hours=2))):
        response = await async_control.post(path, json={
            "userId": "megan.bowen@contoso-demo.onmicrosoft.com", "deviceName": name,
            "complianceState": "noncompliant", "complianceGracePeriodExpirationDateTime": iso(since)})
        assert response.status_code == 201, response.text
    query = NoncompliantDevices(query="noncompliantDevices", hours=24)
    found = await population(factory.for_tenant(CONTOSO_TENANT_ID), query, now)
    # MEGAN-MBP is non-compliant too, but shows no grace period: not counted (docs/alert-sources.md).
    assert [t.name for t in found] == ["OLD-DRIFT"]
    assert found[0].user_principal_name == "megan.bowen@contoso-demo.onmicrosoft.com"
    assert found[0].episode == iso(now - timedelta(hours=30))


async def test_a_revoked_consent_raises_for_the_caller_to_record(factory, async_control):
    response = await async_control.post(f"/_sandbox/tenants/{CONTOSO_TENANT_ID}/revokeConsent", json={"status": 403})
    assert response.status_code in (200, 201, 204), response.text
    with pytest.raises(ODataError) as caught:
        await population(factory.for_tenant(CONTOSO_TENANT_ID), MFA, datetime.now(UTC))
    assert caught.value.response_status_code == 403


async def test_guests_invited_recently_or_who_signed_in_are_not_found(factory, sandbox_server):
    now = datetime.now(UTC)

    def guest(name: str, invited_days_ago: int, **props) -> UserSpec:
        return UserSpec(userPrincipalName=f"{name}_home.example#EXT#@guests.example", displayName=name,
                        userType="Guest", createdDateTime=iso(now - timedelta(days=invited_days_ago)), **props)

    tenant_id = str(uuid.uuid4())
    sandbox_server.state.add_tenant(TenantSpec(id=tenant_id, displayName="Guests", domain="guests.example", users=[
        guest("old", 40), guest("new", 2), guest("active", 40, signInActivity={"lastSignInDateTime": iso(now)}),
        guest("gone", 40, accountEnabled=False)]))
    found = await population(factory.for_tenant(tenant_id),
                             GuestsNeverSignedIn(query="guestsNeverSignedIn", days=30), now)
    assert [t.display_name for t in found] == ["old"]
