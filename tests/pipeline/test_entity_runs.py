"""A run on an entity against real Table Storage (Azurite): the tenant checks, the alert that records it (the entity
as the evidence primitives read), the run and its listing (shared/entity_runs.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.alert_listing import AlertQuery
from shared.entity_runs import check_tenant, entity_alert, start_entity_run
from shared.errors import Refused
from shared.models.alert import AlertSource, DeviceEntity, FileEntity
from shared.models.entity import EntityRunRequest
from shared.models.playbook import PlaybookDraft
from shared.models.run import RunStatus, alert_id_of_run
from shared.models.tenant import Tenant, TenantGroup
from shared.run_request import RunRequest
from shared.store.alerts import AlertStore
from shared.store.delivered_alerts import DeliveredAlerts
from shared.store.directory import DirectoryStore
from shared.store.open_runs import OpenRuns
from shared.store.playbooks import PlaybookStore
from shared.validation import describe

T1, T2, T3 = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
AAD_DEVICE, MDE = str(uuid.uuid4()), "a" * 40


@pytest.fixture
def directory(tables) -> DirectoryStore:
    directory = DirectoryStore(tables)
    for tenant in (T1, T2, T3):
        directory.create_tenant(Tenant(id=tenant, name=tenant[:8]))
    directory.create_group(TenantGroup(id="vip", name="VIP", tenant_ids=[T2]))
    return directory


def playbook(tables, scope: dict, **trigger):
    draft = PlaybookDraft.model_validate({"name": f"pb-{uuid.uuid4().hex[:6]}", "actions": [{"type": "wipe_device"}],
                                          "trigger": {"tenantScope": scope, **trigger}})
    return PlaybookStore(tables).create(draft, actor="test")


def open_runs(tables) -> list:
    return OpenRuns(tables).opened_before(datetime.now(UTC) + timedelta(seconds=5))


def device_request(tenant: str) -> EntityRunRequest:
    return EntityRunRequest.model_validate({"entity": {"type": "device", "id": AAD_DEVICE.upper(), "mdeDeviceId": MDE,
                                                       "dnsName": "adele-laptop.contoso.local"}, "tenantId": tenant})


@pytest.mark.parametrize(("scope", "tenant", "refused"), [
    ({"type": "all"}, T3, None),
    ({"type": "tenant", "tenantId": T1}, T1, None),
    ({"type": "tenant", "tenantId": T1}, T2, "tenant_out_of_scope"),
    ({"type": "group", "groupId": "vip"}, T2, None),
    ({"type": "group", "groupId": "vip"}, T1, "tenant_out_of_scope"),
    ({"type": "all"}, str(uuid.uuid4()), "unknown_tenant"),
])
def test_the_tenant_is_registered_and_in_scope(tables, directory, scope, tenant, refused):
    pb = playbook(tables, scope)
    if refused is None:
        check_tenant(directory, pb, tenant)
        return
    with pytest.raises(Refused) as caught:
        check_tenant(directory, pb, tenant)
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, refused, "tenantId")


def test_a_group_deleted_meanwhile_puts_every_tenant_out_of_scope(tables, directory):
    pb = playbook(tables, {"type": "group", "groupId": "vip"})
    directory.delete_group("vip")
    with pytest.raises(Refused, match="not in the playbook's tenant scope"):
        check_tenant(directory, pb, T2)


def test_a_device_entity_becomes_the_device_evidence_device_primitives_resolve(tables, directory):
    pb = playbook(tables, {"type": "all"}, category="malware", minSeverity="high")
    alert = entity_alert(device_request(T1), pb, "tech@yourmsp.com.au", datetime.now(UTC))
    assert alert.entities.devices == [DeviceEntity(id=MDE, name="adele-laptop.contoso.local",
                                                   azure_ad_device_id=AAD_DEVICE)]
    assert (alert.source, alert.tenant_id, alert.category, alert.severity.value) == (AlertSource.ENTITY, T1,
                                                                                     "malware", "high")
    assert "tech@yourmsp.com.au" in alert.description and "device adele-laptop.contoso.local" in alert.title
    other = entity_alert(device_request(T1), pb, "tech@yourmsp.com.au", datetime.now(UTC))
    assert other.id != alert.id  # each request its own record


async def test_a_run_on_an_entity_is_recorded_listed_open_and_started(tables, async_tables, directory):
    pb = playbook(tables, {"type": "tenant", "tenantId": T1})
    started: list[tuple[str, dict]] = []

    async def start(run_id: str, request: dict) -> None:
        assert [r.run_id for r in open_runs(tables)] == [run_id]  # listed open before it starts
        started.append((run_id, request))

    run = await start_entity_run(device_request(T1), pb, "tech@yourmsp.com.au", directory=directory,
                                 delivered=DeliveredAlerts(async_tables), start=start)
    assert run.status is RunStatus.PENDING and run.id.startswith(f"ru-{run.alert_id[3:]}-{pb.id}-m")
    assert alert_id_of_run(run.id) == run.alert_id
    request = RunRequest.model_validate(started[0][1])
    assert started[0][0] == run.id and request.alert.id == run.alert_id
    assert request.alert.entities.devices[0].azure_ad_device_id == AAD_DEVICE
    store = AlertStore(tables)
    stored = store.get_run(run.id)
    assert (stored.started_by, stored.entity.type, stored.entity.mde_device_id) == ("tech@yourmsp.com.au", "device",
                                                                                    MDE)
    alert, record, runs = store.alert_view(run.alert_id)
    assert alert.raw["entity"]["dnsName"] == "adele-laptop.contoso.local"
    assert [d.conditions[0].name for d in record.decisions] == ["entity"] and [r.id for r in runs] == [run.id]
    # its decision says what the list says: no trigger matched
    assert [d.matched for d in record.decisions] == [False]
    # A person started its one run: the alert list does not count it as matched by a playbook.
    listed = {query: [a.id for a in store.list_page(AlertQuery.from_params({"matched": query, "limit": "50"}))[0]]
              for query in ("true", "false")}
    assert run.alert_id in listed["false"] and run.alert_id not in listed["true"]


async def test_a_tenant_out_of_scope_stores_nothing(tables, async_tables, directory):
    pb = playbook(tables, {"type": "tenant", "tenantId": T1})

    async def start(run_id: str, request: dict) -> None:
        raise AssertionError("nothing may start")

    with pytest.raises(Refused):
        await start_entity_run(device_request(T2), pb, "tech", directory=directory,
                               delivered=DeliveredAlerts(async_tables), start=start)
    assert open_runs(tables) == []


@pytest.mark.parametrize(("upn", "kept"), [
    ("Adele.Vance@Contoso-Demo.onmicrosoft.com", "adele.vance@contoso-demo.onmicrosoft.com"),
    ("ann_fabrikam.com#EXT#@contoso-demo.onmicrosoft.com", "ann_fabrikam.com#ext#@contoso-demo.onmicrosoft.com"),
])
def test_a_user_principal_name_is_kept_as_alerts_keep_it(upn, kept):
    request = EntityRunRequest.model_validate({"entity": {"type": "user", "userPrincipalName": upn}, "tenantId": T1})
    assert request.entity.entities().users[0].upn == kept


SHA1 = "5f1e8acedc065031aad553b710838eb366cfee9a"
SHA256 = "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec"


def test_a_file_and_a_url_entity_become_the_file_and_url_evidence_primitives_read():
    file = EntityRunRequest.model_validate({"entity": {"type": "file", "sha1": SHA1.upper(), "sha256": SHA256},
                                            "tenantId": T1}).entity
    assert file.entities().files == [FileEntity(sha1=SHA1, sha256=SHA256)] and file.label() == f"file {SHA256}"
    url = EntityRunRequest.model_validate({"entity": {"type": "url", "url": "https://evil.example/x?a=1"},
                                           "tenantId": T1}).entity
    assert url.entities().urls == ["https://evil.example/x?a=1"]


@pytest.mark.parametrize(("entity", "field"), [
    ({"type": "file"}, "entity"),
    ({"type": "file", "sha1": SHA256}, "entity.sha1"),
    ({"type": "file", "sha256": "z" * 64}, "entity.sha256"),
    ({"type": "url", "url": "ftp://evil.example/"}, "entity.url"),
    ({"type": "url", "url": "https://u:p@evil.example/"}, "entity.url"),
    ({"type": "url"}, "entity.url"),
])
def test_file_and_url_entities_are_validated(entity, field):
    with pytest.raises(ValidationError) as caught:
        EntityRunRequest.model_validate({"entity": entity, "tenantId": T1})
    assert describe(caught.value)[0]["field"] == field
