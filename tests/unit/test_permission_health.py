"""A tenant's Graph permission health from its sources' polls and the playbooks that cover it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.models.playbook import PlaybookDraft
from shared.permission_health import Grant, permission_health
from shared.sources.catalog import SourceName
from shared.sources.models import SourceConfig, SourceError, SourcesConfig, SourceState

T0 = datetime(2026, 12, 1, tzinfo=UTC)
TENANT = str(uuid.uuid4())


def playbook(scope: dict, *actions: str):
    draft = PlaybookDraft.model_validate({"name": "P", "trigger": {"category": "security", "tenantScope": scope},
                                          "actions": [{"type": a} if a != "notify_email" else
                                                      {"type": a, "to": ["soc@msp.example"]} for a in actions]})
    return draft


def grants(health) -> dict[str, Grant]:
    return {h.permission: h.grant for h in health}


def test_a_refusal_since_the_last_success_marks_the_sources_permission_refused():
    config = SourcesConfig(sources={SourceName.ALERTS_V2: SourceConfig(enabled=True),
                                    SourceName.RISKY_USERS: SourceConfig(enabled=True),
                                    SourceName.INCIDENTS: SourceConfig(enabled=False)})
    refused = SourceError(at=T0, code="consent_revoked", status=403, reason="no")
    states = {SourceName.ALERTS_V2: SourceState(last_success_at=T0 - timedelta(hours=1), last_error=refused),
              # refused once, then polled successfully: granted again
              SourceName.RISKY_USERS: SourceState(last_success_at=T0 + timedelta(hours=1), last_error=refused),
              SourceName.INCIDENTS: SourceState(last_error=refused)}  # off: not needed, not shown
    health = permission_health(TENANT, set(), config, states, [])
    assert grants(health) == {"SecurityAlert.Read.All": Grant.REFUSED, "IdentityRiskyUser.Read.All": Grant.GRANTED}
    assert health[0].permission == "SecurityAlert.Read.All" and "HTTP 403" in health[0].evidence


def test_a_throttled_source_says_nothing_of_consent_and_a_new_one_is_not_checked():
    config = SourcesConfig(sources={SourceName.ALERTS_V2: SourceConfig(enabled=True),
                                    SourceName.MANAGED_DEVICES: SourceConfig(enabled=True)})
    throttled = SourceError(at=T0, code="throttled", status=429, reason="slow down")
    health = permission_health(TENANT, set(), config, {SourceName.ALERTS_V2: SourceState(last_error=throttled)}, [])
    assert set(grants(health).values()) == {Grant.UNCHECKED}


def test_playbooks_count_where_their_scope_covers_the_tenant_and_home_tenant_steps_do_not():
    mine = playbook({"type": "tenant", "tenantId": TENANT}, "disable_user", "notify_email")
    other = playbook({"type": "tenant", "tenantId": str(uuid.uuid4())}, "wipe_device")
    grouped = playbook({"type": "group", "groupId": "west"}, "revoke_user_sessions")
    health = permission_health(TENANT, {"west"}, SourcesConfig(), {}, [mine, other, grouped])
    needed = {h.permission: h.needed_by for h in health}
    assert "User.EnableDisableAccount.All" in needed and "User.RevokeSessions.All" in needed
    assert not any("wipe" in by for bys in needed.values() for by in bys)
    assert not any("notify_email" in by for bys in needed.values() for by in bys)  # sent from the home tenant
    assert set(grants(health).values()) == {Grant.UNCHECKED}
    assert permission_health(TENANT, set(), SourcesConfig(), {}, [grouped]) == []  # not in the group


def test_subject_conditions_need_their_reads():
    draft = PlaybookDraft.model_validate({"name": "P", "actions": [{"type": "notify_email", "to": ["soc@msp.example"]}],
                                          "trigger": {"userTypes": ["admin"], "devicePlatforms": ["iOS"]}})
    needed = {h.permission: h.needed_by for h in permission_health(TENANT, set(), SourcesConfig(), {}, [draft])}
    assert needed == {"Directory.Read.All": ["playbook P (trigger.userTypes)"],
                      "User.Read.All": ["playbook P (trigger.userTypes)"],
                      "DeviceManagementManagedDevices.Read.All": ["playbook P (trigger.devicePlatforms)"],
                      "Device.Read.All": ["playbook P (trigger.devicePlatforms)"]}  # Entra ID's /devices fallback
