"""GET /users/{id}/manager on the sandbox, through the production client, as Graph answers it: the manager
(a user, with @odata.type), and 404 Request_ResourceNotFound when the user has none or does not exist."""

from __future__ import annotations

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User

from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from shared.graph import GraphClientFactory

from .helpers import ADELE_UPN


async def test_the_manager_is_a_user_with_the_default_properties(factory: GraphClientFactory) -> None:
    manager = await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).manager.get()
    assert isinstance(manager, User)  # the SDK reads @odata.type
    assert manager.user_principal_name == manager.mail == f"admin@{CONTOSO_DOMAIN}"


@pytest.mark.parametrize("user", [f"megan.bowen@{CONTOSO_DOMAIN}", f"nobody@{CONTOSO_DOMAIN}"])
async def test_no_manager_or_no_user_is_404(factory: GraphClientFactory, user: str) -> None:
    with pytest.raises(ODataError) as raised:
        await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(user).manager.get()
    assert raised.value.response_status_code == 404
    assert raised.value.error.code == "Request_ResourceNotFound"
