"""Entra ID devices and their registered owners on the sandbox, through the production client, as Graph serves
them: $filter on deviceId, the owner as a user directoryObject, 404 for an unknown device, [] for no owner."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.devices.devices_request_builder import DevicesRequestBuilder
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User

from sandbox.entra_devices import KIOSK_AAD_ID, SHARED_AAD_ID
from sandbox.intune import ADELE_LAPTOP_AAD_ID
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from shared.graph import GraphClientFactory


async def _device(factory: GraphClientFactory, device_id: str):
    graph = factory.for_tenant(CONTOSO_TENANT_ID)
    query = DevicesRequestBuilder.DevicesRequestBuilderGetQueryParameters(filter=f"deviceId eq '{device_id}'")
    found = await graph.devices.get(RequestConfiguration(query_parameters=query))
    return graph, found.value


@pytest.mark.parametrize(("device_id", "owner"), [(KIOSK_AAD_ID, "megan.bowen"), (ADELE_LAPTOP_AAD_ID, "adele.vance")])
async def test_a_devices_registered_owner_is_a_user(factory: GraphClientFactory, device_id: str, owner: str) -> None:
    graph, [device] = await _device(factory, device_id)
    assert device.device_id == device_id
    owners = await graph.devices.by_device_id(device.id).registered_owners.get()
    [user] = owners.value
    assert isinstance(user, User) and user.mail == f"{owner}@{CONTOSO_DOMAIN}"


async def test_no_owner_is_an_empty_list_and_an_unknown_device_is_404(factory: GraphClientFactory) -> None:
    graph, [device] = await _device(factory, SHARED_AAD_ID)
    assert (await graph.devices.by_device_id(device.id).registered_owners.get()).value == []
    assert (await _device(factory, "00000000-0000-4000-8000-000000000000"))[1] == []
    with pytest.raises(ODataError) as raised:
        await graph.devices.by_device_id("00000000-0000-4000-8000-000000000000").registered_owners.get()
    assert raised.value.response_status_code == 404 and raised.value.error.code == "Request_ResourceNotFound"
