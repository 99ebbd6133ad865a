"""Authentication like Graph (401s), tenant isolation, and the guard rails of the client factory."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import time
import warnings

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from sandbox.tokens import TokenRejected, mint_token, parse_bearer
from shared.graph import (
    GraphAuthMode,
    GraphClientFactory,
    GraphSettings,
    InvalidTenantIdError,
    LocalTokenCredential,
    LocalTokenNotAllowedError,
    load_graph_settings,
)
from shared.graph.credentials import mint_unsigned_token

from .helpers import ADELE_UPN, Probe, bearer, calls


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _graph_error(response: httpx.Response) -> dict:
    assert response.headers["request-id"]
    return response.json()["error"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer @@@.@@@.",
        f"Bearer {_b64({'alg': 'RS256'})}.{_b64({'tid': CONTOSO_TENANT_ID})}.c2ln",  # signed: not ours
    ],
    ids=["missing", "empty", "basic", "no-dots", "garbled", "signed"],
)
def test_missing_or_garbled_token_is_401(control: httpx.Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = control.get(f"/v1.0/users/{ADELE_UPN}", headers=headers)

    assert response.status_code == 401
    assert _graph_error(response)["code"] == "InvalidAuthenticationToken"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert calls(control)[-1]["status"] == 401


def test_expired_token_is_401(control: httpx.Client) -> None:
    response = control.get(f"/v1.0/users/{ADELE_UPN}", headers=bearer(lifetime_s=-5))

    assert response.status_code == 401
    assert "expired" in _graph_error(response)["message"]


def test_wrong_audience_or_unknown_tenant_is_401(control: httpx.Client) -> None:
    wrong_aud = mint_unsigned_token(CONTOSO_TENANT_ID, "x", time.time() + 60, audience="https://management.azure.com")
    unknown_tenant = mint_unsigned_token("33333333-3333-4333-8333-333333333333", "x", time.time() + 60)

    for token in (wrong_aud, unknown_tenant):
        response = control.get(f"/v1.0/users/{ADELE_UPN}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert _graph_error(response)["code"] == "InvalidAuthenticationToken"


def test_valid_token_is_accepted(control: httpx.Client) -> None:
    # The positive control for the 401 tests above.
    response = control.get(f"/v1.0/users/{ADELE_UPN}", headers=bearer())

    assert response.status_code == 200
    assert response.json()["userPrincipalName"] == ADELE_UPN


async def test_tenant_b_token_cannot_read_tenant_a_user(factory: GraphClientFactory, probe: Probe) -> None:
    adele_id = (await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).get()).id

    for key in (ADELE_UPN, adele_id):
        with pytest.raises(ODataError) as caught:
            await factory.for_tenant(FABRIKAM_TENANT_ID).users.by_user_id(key).get()
        assert caught.value.response_status_code == 404

    fabrikam_calls = probe.calls(FABRIKAM_TENANT_ID)
    assert [c["status"] for c in fabrikam_calls] == [404, 404]


async def test_factory_caches_one_client_per_tenant(factory: GraphClientFactory) -> None:
    contoso = factory.for_tenant(CONTOSO_TENANT_ID)

    assert factory.for_tenant(CONTOSO_TENANT_ID.upper()) is contoso
    assert factory.for_tenant(FABRIKAM_TENANT_ID) is not contoso


def test_factory_gives_each_event_loop_its_own_client(graph_settings: GraphSettings) -> None:
    factory = GraphClientFactory(graph_settings)

    async def use_once(close: bool) -> str | None:
        user = await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).get()
        if close:
            await factory.aclose()
        return user.user_principal_name if user else None

    # The first loop ends without aclose(): its client's connections die with it. The second loop must get
    # a fresh client; reusing the first one would fail with "Event loop is closed".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the first loop's sockets, abandoned on purpose
        assert asyncio.run(use_once(close=False)) == asyncio.run(use_once(close=True)) == ADELE_UPN
        gc.collect()


@pytest.mark.parametrize("tenant_id", ["common", "contoso-demo.onmicrosoft.com", "", "1111"])
async def test_factory_rejects_non_guid_tenant_ids(factory: GraphClientFactory, tenant_id: str) -> None:
    with pytest.raises(InvalidTenantIdError):
        factory.for_tenant(tenant_id)


@pytest.mark.parametrize("base_url", ["https://graph.microsoft.com/v1.0", "https://127.0.0.1.nip.io/v1.0"])
def test_local_token_refused_for_non_loopback_graph(base_url: str) -> None:
    settings = GraphSettings(base_url=base_url, auth_mode=GraphAuthMode.LOCAL_TOKEN)

    with pytest.raises(LocalTokenNotAllowedError, match="loopback"):
        GraphClientFactory(settings)


def test_settings_from_env() -> None:
    settings = load_graph_settings({
        "GRAPH_BASE_URL": "http://127.0.0.1:7081/v1.0/",
        "GRAPH_AUTH_MODE": "local_token",
    })
    assert (settings.base_url, settings.auth_mode, settings.host) == (
        "http://127.0.0.1:7081/v1.0", GraphAuthMode.LOCAL_TOKEN, "127.0.0.1")
    assert settings.scope == "https://graph.microsoft.com/.default"

    default = load_graph_settings({"GRAPH_CLIENT_ID": "app"})
    assert default.auth_mode is GraphAuthMode.FEDERATED_MANAGED_IDENTITY
    assert default.base_url == "https://graph.microsoft.com/v1.0"


@pytest.mark.parametrize(
    "env",
    [
        {"GRAPH_AUTH_MODE": "federated_managed_identity"},  # no client id
        {"GRAPH_AUTH_MODE": "certificate", "GRAPH_CLIENT_ID": "app"},  # no certificate
        {"GRAPH_AUTH_MODE": "password", "GRAPH_CLIENT_ID": "app"},
        {"GRAPH_BASE_URL": "http://graph.example.com/v1.0", "GRAPH_CLIENT_ID": "app"},  # plain http off-box
    ],
)
def test_settings_refuse_incomplete_or_unsafe_config(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"GRAPH_|Input should be"):
        load_graph_settings(env)


async def test_local_token_credential_mints_the_tenant_token() -> None:
    async with LocalTokenCredential(CONTOSO_TENANT_ID, "riposte-tests") as credential:
        token = await credential.get_token("https://graph.microsoft.com/.default")

    _, payload, signature = token.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert signature == ""
    assert (claims["tid"], claims["appid"], claims["aud"]) == (
        CONTOSO_TENANT_ID, "riposte-tests", "https://graph.microsoft.com")
    assert claims["exp"] == token.expires_on > time.time()


def test_cli_minted_token_round_trips() -> None:

    claims = parse_bearer(f"Bearer {mint_token(FABRIKAM_TENANT_ID.upper(), app_id='curl')}")

    assert (claims.tenant_id, claims.app_id) == (FABRIKAM_TENANT_ID, "curl")
    with pytest.raises(TokenRejected, match="expired"):
        parse_bearer(f"Bearer {mint_token(FABRIKAM_TENANT_ID, lifetime_s=-1)}")
