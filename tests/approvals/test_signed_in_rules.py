"""The signed-in approval page without a sign-in: behind App Service authentication the browser is sent to
sign in and brought back; anywhere else it is 401. Plain code, no host."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.approvals import signed_in_page as signed_in
from shared.settings import AppSettings, Environment
from tests.api.helpers import principal_header

APPROVAL_ID = "ap-" + "c" * 32


class NoStore:
    def get(self, approval_id: str):
        raise AssertionError("nothing is read before the caller is known")


async def test_behind_app_service_authentication_the_caller_is_sent_to_sign_in():
    settings = AppSettings(environment=Environment.PRODUCTION, platform_auth_enabled=True,
                           public_base_url="https://riposte.example")
    page = await signed_in.show(APPROVAL_ID, {"as": "ann@msp.example"}, {}, NoStore(), settings, datetime.now(UTC))
    assert page.status == 302
    assert page.location == f"/.auth/login/aad?post_login_redirect_uri=/api/approvals/{APPROVAL_ID}/decide"


async def test_without_a_sign_in_anywhere_else_it_is_401_and_a_post_never_redirects():
    settings = AppSettings(environment=Environment.PRODUCTION, public_base_url="https://riposte.example")
    page = await signed_in.show(APPROVAL_ID, {}, {}, NoStore(), settings, datetime.now(UTC))
    assert page.status == 401 and page.location is None
    behind = settings.model_copy(update={"platform_auth_enabled": True})
    posted = await signed_in.respond(APPROVAL_ID, {"Content-Type": "application/x-www-form-urlencoded"},
                                     b"decision=approve", NoStore(), behind, None, datetime.now(UTC), audit=None)
    assert posted.status == 401


async def test_a_principal_header_is_not_trusted_without_app_service_authentication():
    settings = AppSettings(environment=Environment.PRODUCTION, public_base_url="https://riposte.example")
    page = await signed_in.show(APPROVAL_ID, {}, principal_header(name="ann@msp.example"), NoStore(), settings,
                                datetime.now(UTC))
    assert page.status == 401
