"""Hot-path reads parsed from JSON (shared/graph/reads.py) give the values msgraph-sdk's models give, for every
body the sandbox serves: each seeded user of both tenants, and each mailbox's inbox rules."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.graph import GraphClientFactory, reads
from shared.primitives import mailbox_rules

from .helpers import ADELE_UPN, Probe

FIELDS = ("accountEnabled", "userType", "department", "usageLocation", "assignedLicenses")
TENANTS = (CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID)


async def _user_ids(factory: GraphClientFactory, tenant_id: str) -> list[str]:
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=["id"])
    page = await factory.for_tenant(tenant_id).users.get(RequestConfiguration(query_parameters=query))
    assert page is not None and page.value
    return [u.id for u in page.value if u.id]


def _licenses(user) -> list[tuple]:
    return [(lic.sku_id, list(lic.disabled_plans or [])) for lic in user.assigned_licenses or []]


@pytest.mark.parametrize("tenant_id", TENANTS)
async def test_a_user_read_as_json_equals_the_sdk_model(factory: GraphClientFactory, tenant_id: str) -> None:
    graph = factory.for_tenant(tenant_id)
    compared = 0
    for user_id in await _user_ids(factory, tenant_id):
        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=["id", "userPrincipalName", *FIELDS])
        sdk = await graph.users.by_user_id(user_id).get(RequestConfiguration(query_parameters=query))
        pared = await reads.read_user(graph, user_id, *FIELDS)

        assert sdk is not None and pared is not None
        assert (pared.id, pared.user_principal_name, pared.account_enabled, pared.user_type, pared.department,
                pared.usage_location) == (sdk.id, sdk.user_principal_name, sdk.account_enabled, sdk.user_type,
                                          sdk.department, sdk.usage_location)
        assert _licenses(pared) == _licenses(sdk)
        compared += 1
    assert compared >= 4


async def test_the_seed_has_licensed_and_disabled_values_to_compare(factory: GraphClientFactory) -> None:
    # The comparison above means something only if the seed has set values, not just Nones.
    graph = factory.for_tenant(CONTOSO_TENANT_ID)
    users = [await reads.read_user(graph, uid, *FIELDS) for uid in await _user_ids(factory, CONTOSO_TENANT_ID)]

    assert any(u.assigned_licenses for u in users)
    assert {u.user_type for u in users} >= {"Member", "Guest"}
    assert all(isinstance(u.account_enabled, bool) for u in users)


@pytest.mark.parametrize("tenant_id", TENANTS)
async def test_inbox_rules_read_as_json_equal_the_sdk_models(factory: GraphClientFactory, tenant_id: str) -> None:
    graph = factory.for_tenant(tenant_id)
    compared = 0
    for user_id in await _user_ids(factory, tenant_id):
        try:
            page = await mailbox_rules.inbox_rules(graph, user_id).get()
        except ODataError as exc:  # no mailbox
            assert exc.response_status_code == 404
            continue
        assert page is not None
        sdk = [mailbox_rules.rule_json(rule) for rule in page.value or []]

        assert await mailbox_rules.list_rules(graph, user_id) == sdk
        compared += len(sdk)
    assert compared >= 1


async def test_a_missing_user_raises_the_sdks_odata_error(factory: GraphClientFactory, probe: Probe) -> None:
    with pytest.raises(ODataError) as missing:
        await reads.read_user(factory.for_tenant(CONTOSO_TENANT_ID), "nobody@contoso-demo.onmicrosoft.com")

    assert missing.value.response_status_code == 404
    assert missing.value.error is not None and missing.value.error.code == "Request_ResourceNotFound"


async def test_the_read_asks_graph_for_the_selected_fields_only(factory: GraphClientFactory, probe: Probe) -> None:
    await reads.read_user(factory.for_tenant(CONTOSO_TENANT_ID), ADELE_UPN, "accountEnabled")

    [call] = probe.calls(CONTOSO_TENANT_ID)
    assert (call["method"], call["query"]) == ("GET", {"$select": "id,userPrincipalName,accountEnabled"})


def test_nulls_are_left_out_as_the_sdk_serializes() -> None:
    raw = {"id": "r", "conditions": None,
           "actions": {"forwardTo": [{"emailAddress": {"name": None, "address": "a@b"}}]}}

    assert reads.without_nulls(raw) == {"id": "r", "actions": {"forwardTo": [{"emailAddress": {"address": "a@b"}}]}}
