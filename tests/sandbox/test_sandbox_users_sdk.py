"""User operations through the production client (GraphClientFactory + msgraph-sdk) against the sandbox."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.user import User
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from sandbox.seed import CONTOSO_TENANT_ID
from shared.graph import GraphClientFactory

from .helpers import ADELE_UPN, SENDER_UPN, Probe


def _select(*fields: str) -> RequestConfiguration:
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=list(fields))
    return RequestConfiguration(query_parameters=query)


async def test_get_user_by_id_and_by_upn(factory: GraphClientFactory, probe: Probe) -> None:
    expected = probe.user(ADELE_UPN)
    client = factory.for_tenant(CONTOSO_TENANT_ID)

    by_upn = await client.users.by_user_id(ADELE_UPN.upper()).get()  # UPN lookups ignore case
    by_id = await client.users.by_user_id(expected["id"]).get()

    assert by_upn is not None and by_id is not None
    assert by_upn.id == by_id.id == expected["id"]
    assert by_id.user_principal_name == expected["userPrincipalName"]
    assert by_id.display_name == expected["displayName"]


async def test_default_properties_exclude_account_enabled_unless_selected(
    factory: GraphClientFactory, probe: Probe
) -> None:
    # Like Graph: accountEnabled is not in the default property set, so code must $select it.
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    plain = await client.users.by_user_id(ADELE_UPN).get()
    selected = await client.users.by_user_id(ADELE_UPN).get(request_configuration=_select("id", "accountEnabled"))

    assert plain is not None and plain.account_enabled is None
    assert selected is not None and selected.account_enabled is probe.user(ADELE_UPN)["accountEnabled"]
    assert selected.display_name is None
    assert probe.calls()[-1]["query"] == {"$select": "id,accountEnabled"}


async def test_guest_upn_with_ext_marker_is_found(factory: GraphClientFactory, probe: Probe) -> None:
    users = probe.users(CONTOSO_TENANT_ID)
    guest = next(u for u in users if u["userType"] == "Guest")
    assert "#EXT#" in guest["userPrincipalName"]

    found = await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(guest["userPrincipalName"]).get(
        request_configuration=_select("id", "userType")
    )

    assert found is not None and (found.id, found.user_type) == (guest["id"], "Guest")


async def test_unknown_user_is_odata_404(factory: GraphClientFactory) -> None:
    with pytest.raises(ODataError) as caught:
        await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id("nobody@contoso-demo.onmicrosoft.com").get()

    assert caught.value.response_status_code == 404
    assert caught.value.error is not None and caught.value.error.code == "Request_ResourceNotFound"


async def test_disable_user(factory: GraphClientFactory, probe: Probe) -> None:
    assert probe.user(ADELE_UPN)["accountEnabled"] is True

    result = await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).patch(User(account_enabled=False))

    assert result is None  # 204 No Content
    assert probe.user(ADELE_UPN)["accountEnabled"] is False
    assert probe.calls()[-1]["status"] == 204


async def test_revoke_sign_in_sessions(factory: GraphClientFactory, probe: Probe) -> None:
    before = probe.user(ADELE_UPN)["signInSessionsValidFromDateTime"]

    response = await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).revoke_sign_in_sessions.post()

    assert response is not None and response.value is True
    assert probe.user(ADELE_UPN)["signInSessionsValidFromDateTime"] > before


async def test_send_mail_lands_in_outbox(factory: GraphClientFactory, probe: Probe) -> None:
    body = SendMailPostRequestBody(
        message=Message(
            subject="Riposte: account disabled",
            body=ItemBody(content_type=BodyType.Html, content="<p>Adele's account was disabled.</p>"),
            to_recipients=[Recipient(email_address=EmailAddress(address="soc@contoso-demo.onmicrosoft.com"))],
            cc_recipients=[Recipient(email_address=EmailAddress(address=ADELE_UPN))],
        ),
        save_to_sent_items=False,
    )

    await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(SENDER_UPN).send_mail.post(body)

    outbox = probe.outbox(CONTOSO_TENANT_ID)
    assert len(outbox) == 1
    mail = outbox[0]
    assert mail["from"] == SENDER_UPN
    assert mail["to"] == ["soc@contoso-demo.onmicrosoft.com"]
    assert mail["cc"] == [ADELE_UPN]
    assert mail["subject"] == "Riposte: account disabled"
    assert mail["body"] == {"contentType": "html", "content": "<p>Adele's account was disabled.</p>"}
    assert mail["saveToSentItems"] is False
    assert probe.calls()[-1]["status"] == 202


async def test_send_mail_without_recipients_is_rejected(factory: GraphClientFactory, probe: Probe) -> None:
    body = SendMailPostRequestBody(message=Message(subject="no one to tell", to_recipients=[]))

    with pytest.raises(ODataError) as caught:
        await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(SENDER_UPN).send_mail.post(body)

    assert caught.value.response_status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "ErrorInvalidRecipients"
    assert probe.outbox() == []


async def test_password_reset_keeps_no_password(factory: GraphClientFactory, probe: Probe) -> None:
    password = "Zq7!tremble-Orbit-42"
    before = probe.user(ADELE_UPN)
    profile = PasswordProfile(password=password, force_change_password_next_sign_in=True)

    await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).patch(User(password_profile=profile))

    after = probe.user(ADELE_UPN)
    assert after["lastPasswordChangeDateTime"] > before["lastPasswordChangeDateTime"]
    assert after["_sandbox"]["forceChangePasswordNextSignIn"] is True
    assert password not in str(after)
    recorded = probe.calls()[-1]["body"]["passwordProfile"]
    assert recorded["password"] == "***"
    assert recorded["forceChangePasswordNextSignIn"] is True
    assert password not in str(probe.calls())


async def test_weak_password_is_rejected_like_graph(factory: GraphClientFactory, probe: Probe) -> None:
    before = probe.user(ADELE_UPN)

    with pytest.raises(ODataError) as caught:
        await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).patch(
            User(password_profile=PasswordProfile(password="password"))
        )

    assert caught.value.response_status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "Request_BadRequest"
    assert "complexity" in (caught.value.error.message or "")
    assert probe.user(ADELE_UPN) == before
