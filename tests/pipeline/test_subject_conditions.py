"""Subject conditions at intake, against real Table Storage (Azurite): the lookup runs once per alert and only when
a playbook that passed every other condition asks; its facts decide the match and land in the alert's decisions,
an unknown fact included, and are kept with the alert, so a simulation of the stored alert decides on them."""

from __future__ import annotations

import logging

from azure.data.tables import UpdateMode

from shared.alert_recording import AlertRecorder
from shared.matching.snapshot import MatchingCache
from shared.matching.subject import Fact, Needs, SubjectFacts
from shared.models.alert import AlertEntities, AlertStatus, DeviceEntity, Severity, UserEntity
from shared.models.tenant import Tenant
from shared.primitives.context import StepDependencies
from shared.settings import get_settings
from shared.simulation import simulate
from shared.store.alerts import AlertStore
from shared.store.directory import DirectoryStore
from shared.store.playbooks import PlaybookStore
from shared.store.tables import ALERTS
from tests.pipeline.test_alert_recording import T1, normalized, playbook

ALL = {"type": "all"}
ADELE = UserEntity(id="87d349ed-44d7-43e1-9a83-5f2406dee5bd", upn="adele@contoso.com")
LAPTOP = DeviceEntity(name="LT-1")


class FakeLookup:
    """Answers from a table, counting the alerts it was asked about and what for."""

    def __init__(self, user: Fact | None = None, device: Fact | None = None) -> None:
        self.user, self.device = user, device
        self.asked: list[tuple[str, Needs]] = []

    async def complete(self, alert, facts: SubjectFacts, wanted: Needs) -> SubjectFacts:
        self.asked.append((alert.id, facts.missing(wanted)))
        return SubjectFacts(facts.user or (self.user if wanted.user else None),
                            facts.device or (self.device if wanted.device else None))


def recorder(tables, async_tables, lookup) -> AlertRecorder:
    DirectoryStore(tables).create_tenant(Tenant(id=T1, name="One"))
    return AlertRecorder(async_tables, MatchingCache(tables, async_tables), lookup=lookup)


def about(users=(ADELE,), devices=(LAPTOP,), **changes):
    return normalized(tenant_id=T1, entities=AlertEntities(users=list(users), devices=list(devices)), **changes)



async def test_one_lookup_per_alert_shared_by_the_playbooks(tables, async_tables):
    lookup = FakeLookup(Fact("admin", "user adele is admin (from Graph: holds Global Administrator)"),
                        Fact("windows", "device LT-1 runs windows (from Intune: Windows)"))
    admins = playbook(tables, ALL, userTypes=["admin"])
    admin_laptops = playbook(tables, ALL, userTypes=["admin"], devicePlatforms=["windows"])
    guests = playbook(tables, ALL, userTypes=["guest"])
    plain = playbook(tables, ALL)
    result = await recorder(tables, async_tables, lookup).receive(about())
    assert lookup.asked == [(result.alert.id, Needs(user=True, device=True))]
    started = {r.run.playbook_id for r in result.to_start}
    assert started == {admins, admin_laptops, plain}
    decided = {d.playbook_id: d for d in result.decisions}
    assert decided[guests].matched is False
    assert decided[guests].conditions[-1].detail == ("user adele is admin (from Graph: holds Global Administrator); "
                                                     "not one of guest")
    assert [c.name for c in decided[admin_laptops].conditions][-2:] == ["userType", "devicePlatform"]
    assert decided[plain].conditions[-1].name == "title"  # a playbook without subject conditions is untouched
    stored = {d["playbookId"]: d for d in _stored_decisions(tables, result.alert.id)}
    assert stored[guests]["conditions"][-1]["name"] == "userType"  # recorded with the alert


async def test_no_lookup_when_no_candidate_asks(tables, async_tables):
    lookup = FakeLookup(Fact("admin", "x"))
    playbook(tables, ALL, userTypes=["admin"], category="identity")  # never passes the category here
    playbook(tables, ALL, devicePlatforms=["iOS"], minSeverity="high")
    plain = playbook(tables, ALL)
    intake = recorder(tables, async_tables, lookup)
    result = await intake.receive(about(severity=Severity.LOW))
    assert lookup.asked == []
    assert [r.run.playbook_id for r in result.to_start] == [plain]
    await intake.receive(about(status=AlertStatus.RESOLVED, severity=Severity.HIGH))  # a resolved alert reads nothing
    assert lookup.asked == []


async def test_a_duplicate_does_not_look_up_again(tables, async_tables):
    lookup = FakeLookup(Fact("member", "user adele is member (from Graph)"))
    playbook(tables, ALL, userTypes=["member"])
    intake = recorder(tables, async_tables, lookup)
    alert = about()
    assert len((await intake.receive(alert)).to_start) == 1
    again = await intake.receive(alert)
    assert (again.duplicate, len(lookup.asked)) == (True, 1)


async def test_facts_the_alert_carries_are_not_looked_up(tables, async_tables):
    lookup = FakeLookup(Fact("admin", "x"), Fact("windows", "x"))
    wanted = playbook(tables, ALL, userTypes=["guest"], devicePlatforms=["macOS"])
    stated = UserEntity(upn="guest@fabrikam.com", user_type="guest")
    result = await recorder(tables, async_tables, lookup).receive(
        about(users=[stated], devices=[DeviceEntity(name="MBP", platform="macOS")]))
    assert lookup.asked == [(result.alert.id, Needs(user=False, device=False))]  # asked for nothing missing
    assert [r.run.playbook_id for r in result.to_start] == [wanted]


async def test_an_unknown_fact_does_not_match_and_is_recorded(tables, async_tables):
    why = "unknown: the directory roles of user adele could not be read: Graph answered 503"
    pb = playbook(tables, ALL, userTypes=["admin"])
    result = await recorder(tables, async_tables, FakeLookup(Fact(None, why))).receive(about())
    assert result.to_start == []
    [decision] = _stored_decisions(tables, result.alert.id)
    assert (decision["playbookId"], decision["matched"]) == (pb, False)
    assert decision["conditions"][-1] == {"name": "userType", "passed": False, "detail": why}


async def test_an_alert_naming_no_user_is_unknown_without_a_lookup(tables, async_tables):
    lookup = FakeLookup(Fact("admin", "x"))
    playbook(tables, ALL, userTypes=["admin"])
    result = await recorder(tables, async_tables, lookup).receive(about(users=[]))
    assert result.to_start == [] and lookup.asked[0][1] == Needs(False, False)
    assert result.decisions[0].conditions[-1].detail == "unknown: the alert names no user"


async def test_a_rise_in_severity_decides_subject_conditions_too(tables, async_tables):
    lookup = FakeLookup(Fact("member", "user adele is member (from Graph)"))
    members = playbook(tables, ALL, minSeverity="high", userTypes=["member"], reevaluateOnSeverityIncrease=True)
    playbook(tables, ALL, minSeverity="high", userTypes=["admin"], reevaluateOnSeverityIncrease=True)
    intake = recorder(tables, async_tables, lookup)
    alert = about(severity=Severity.LOW)
    assert (await intake.receive(alert)).to_start == [] and lookup.asked == []
    risen = await intake.receive(alert.model_copy(update={"severity": Severity.HIGH}))
    assert [r.run.playbook_id for r in risen.to_start] == [members]
    assert len(lookup.asked) == 1


def _stored_decisions(tables, alert_id: str) -> list[dict]:
    return [d.model_dump(mode="json", by_alias=True) for d in AlertStore(tables).decisions(alert_id)]


async def test_an_unknown_fact_is_logged_with_the_playbooks_and_reason(tables, async_tables, caplog):
    caplog.set_level(logging.WARNING, logger="riposte.events")
    why = "unknown: device LT-1 is neither managed by Intune nor registered in Entra ID"
    pb = playbook(tables, ALL, devicePlatforms=["iOS"])
    playbook(tables, ALL, userTypes=["member"])  # known and matched: not logged
    lookup = FakeLookup(Fact("member", "user adele is member (from Graph)"), Fact(None, why))
    result = await recorder(tables, async_tables, lookup).receive(about())
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "alert.subjectUnknown"]
    assert (record.alertId, record.playbookIds, record.reasons) == (result.alert.id, [pb], [why])


# --- what intake knew, kept with the alert: a simulation of the stored alert decides on it ----------------------
def simulated(tables, playbook_id: str, alert_id: str | None = None, alert=None):
    """POST /api/playbooks/{id}/simulate's answer, for a stored alert (`alert_id`) or one that is not stored."""
    recorded = None
    if alert_id is not None:
        alert, recorded = AlertStore(tables).get_with_subject(alert_id)
    deps = StepDependencies(graph=None, settings=get_settings())
    return simulate(PlaybookStore(tables).get(playbook_id), alert, MatchingCache(tables).current(), deps, recorded)


async def test_intake_keeps_the_facts_it_read_and_a_simulation_of_the_stored_alert_uses_them(tables, async_tables):
    lookup = FakeLookup(Fact("admin", "user adele is admin (from Graph: holds Global Administrator)"))
    admins = playbook(tables, ALL, userTypes=["admin"])
    result = await recorder(tables, async_tables, lookup).receive(about())
    record = AlertStore(tables).decision_record(result.alert.id)
    assert (record.subject.user_type.value, record.subject.user_type.detail, record.subject.device_platform) == (
        "admin", "user adele is admin (from Graph: holds Global Administrator)", None)
    assert record.subject.user_type.at == result.alert.received_at

    simulation = simulated(tables, admins, result.alert.id)
    when = result.alert.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert simulation.would_match is True
    assert simulation.decision.conditions[-1].detail == (
        f"user adele is admin (from Graph: holds Global Administrator), as intake recorded it at {when}; one of admin")
    # A playbook saved since asks for what intake never read: unknown, and why.
    windows = playbook(tables, ALL, devicePlatforms=["windows"])
    assert simulated(tables, windows, result.alert.id).decision.conditions[-1].detail == (
        "unknown: intake did not read the device's platform of this alert (no playbook asked for it when the alert "
        "arrived), and a simulation reads nothing from Graph")
    # An alert that is not stored (a posted payload): intake never saw it.
    assert simulated(tables, admins, alert=result.alert).decision.conditions[-1].detail == (
        "unknown: the alert is not stored, so intake never read the user's type, and a simulation reads nothing "
        "from Graph")


async def test_an_unknown_fact_is_kept_and_the_simulation_says_why(tables, async_tables):
    why = "unknown: device LT-1 is neither managed by Intune nor registered in Entra ID"
    ios = playbook(tables, ALL, devicePlatforms=["iOS"])
    result = await recorder(tables, async_tables, FakeLookup(device=Fact(None, why))).receive(about())
    assert AlertStore(tables).decision_record(result.alert.id).subject.device_platform.value is None
    detail = simulated(tables, ios, result.alert.id).decision.conditions[-1].detail
    assert detail.startswith(f"{why} (intake, at ") and detail.endswith("; a simulation reads nothing from Graph)")


async def test_the_one_entity_layout_keeps_the_facts_too(tables, async_tables):
    """An alert that starts no run is one entity (shared/store/alerts.py): the facts are on its alert row."""
    playbook(tables, ALL, userTypes=["guest"])
    result = await recorder(tables, async_tables, FakeLookup(Fact("member", "user adele is member (from Graph)"))
                            ).receive(about())
    assert result.to_start == []
    _, known = AlertStore(tables).get_with_subject(result.alert.id)
    assert known.user_type.value == "member"


async def test_an_alert_stored_before_facts_were_kept_quotes_its_decisions_and_stays_unknown(tables, async_tables):
    admins = playbook(tables, ALL, userTypes=["admin"])
    result = await recorder(tables, async_tables, FakeLookup(Fact("admin", "user adele is admin (from Graph)"))
                            ).receive(about())
    row = tables(ALERTS).get_entity(result.alert.id, "decisions")
    tables(ALERTS).upsert_entity({k: v for k, v in row.items() if not k.startswith("subject")},
                                 mode=UpdateMode.REPLACE)  # as stored by an earlier version
    detail = simulated(tables, admins, result.alert.id).decision.conditions[-1].detail
    assert detail.startswith('unknown: this alert was stored before intake kept the facts it read; its decisions say '
                             '"user adele is admin (from Graph); one of admin" (intake, at ')
