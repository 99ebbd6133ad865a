"""shared.auth: reading the App Service principal, the local principal, and which roles grant what."""

from __future__ import annotations

import base64
import json

import pytest

from shared.auth import GRANTS, AuthError, Permission, Principal, Role, authorize, resolve_principal
from shared.settings import AppSettings, Environment, load_settings
from tests.api.helpers import principal_header

DEV = AppSettings(environment=Environment.DEVELOPMENT)
PROD = AppSettings(environment=Environment.PRODUCTION)
LOCAL_ENV = {"RIPOSTE_LOCAL_PRINCIPAL_ROLES": "PLAYBOOKS_READ, PLAYBOOKS_MANAGE ,SECURITY_MANAGE",
             "RIPOSTE_LOCAL_PRINCIPAL_NAME": "dev@local"}
ROLE_CLAIM = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"


def encoded(doc) -> dict[str, str]:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(raw).decode()}


# What App Service sets when its authentication is on; the header is trusted in production only then.
BEHIND_EASY_AUTH = {"WEBSITE_AUTH_ENABLED": "True"}


def with_env(settings: AppSettings, env: dict[str, str]) -> AppSettings:
    """The settings `load_settings` reads from this environment, in the given settings' environment."""
    return load_settings({"RIPOSTE_ENVIRONMENT": settings.environment.value, **env})


def resolve(headers, settings=PROD, env=None) -> Principal:
    return resolve_principal(headers, with_env(settings, BEHIND_EASY_AUTH if env is None else env))


def assert_unauthenticated(headers, settings=PROD, env=None) -> AuthError:
    with pytest.raises(AuthError) as caught:
        resolve(headers, settings, env)
    assert caught.value.status == 401 and caught.value.code == "unauthenticated"
    return caught.value


# --- the App Service principal -------------------------------------------------------------------
def test_roles_and_name_from_the_helper_header():
    principal = resolve(principal_header("PLAYBOOKS_READ", "SECURITY_MANAGE", name="alice@msp.example"))
    assert principal == Principal(name="alice@msp.example", roles=frozenset({"PLAYBOOKS_READ", "SECURITY_MANAGE"}))


def test_role_claims_follow_role_typ():
    doc = {"auth_typ": "aad", "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
           "role_typ": ROLE_CLAIM,
           "claims": [{"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "val": "bob@msp.example"},
                      {"typ": ROLE_CLAIM, "val": "PLAYBOOKS_MANAGE"},
                      {"typ": "groups", "val": "PLAYBOOKS_READ"},  # not a role claim
                      {"typ": "scp", "val": "SECURITY_MANAGE"}]}
    principal = resolve(encoded(doc))
    assert principal.name == "bob@msp.example"
    assert principal.roles == frozenset({"PLAYBOOKS_MANAGE"})


def test_plain_roles_claims_count_whatever_role_typ_says():
    doc = {"role_typ": ROLE_CLAIM, "claims": [{"typ": "roles", "val": "PLAYBOOKS_READ"}]}
    assert resolve(encoded(doc)).roles == frozenset({"PLAYBOOKS_READ"})


def test_missing_role_typ_defaults_to_roles():
    doc = {"claims": [{"typ": "roles", "val": "PLAYBOOKS_READ"}, {"typ": ROLE_CLAIM, "val": "PLAYBOOKS_MANAGE"}]}
    assert resolve(encoded(doc)).roles == frozenset({"PLAYBOOKS_READ"})


def test_name_falls_back_to_preferred_username_then_unknown():
    doc = {"claims": [{"typ": "preferred_username", "val": "carol@msp.example"}]}
    assert resolve(encoded(doc)).name == "carol@msp.example"
    assert resolve(encoded({"claims": []})) == Principal(name="unknown", roles=frozenset())


def test_header_name_is_case_insensitive():
    value = principal_header("PLAYBOOKS_READ")["X-MS-CLIENT-PRINCIPAL"]
    assert resolve({"x-ms-client-principal": value}).roles == frozenset({"PLAYBOOKS_READ"})


@pytest.mark.parametrize("value", [
    "%%% not base64 %%%",
    base64.b64encode(b"not json").decode(),
    base64.b64encode(b"\xff\xfe\x00garbage").decode(),
    base64.b64encode(b"[]").decode(),
    base64.b64encode(b'"a string"').decode(),
    base64.b64encode(b"null").decode(),
    base64.b64encode(json.dumps({"claims": "roles"}).encode()).decode(),
    base64.b64encode(json.dumps({"claims": {"typ": "roles"}}).encode()).decode(),
    base64.b64encode(json.dumps({"claims": [{"typ": "roles"}]}).encode()).decode(),
    base64.b64encode(json.dumps({"claims": [{"typ": "roles", "val": ["a", "list"]}]}).encode()).decode(),
    base64.b64encode(json.dumps({"claims": ["roles"]}).encode()).decode(),
    "eyJjbGFpbXMiOiBbXX0",  # {"claims": []} without its padding
], ids=["not-base64", "not-json", "not-utf8", "array", "string", "null", "claims-string", "claims-object",
        "claim-without-val", "unhashable-val", "claim-not-object", "missing-padding"])
def test_malformed_principal_is_401(value):
    error = assert_unauthenticated({"X-MS-CLIENT-PRINCIPAL": value})
    assert "malformed" in error.message


def test_malformed_principal_is_401_even_in_development_with_a_local_principal():
    assert_unauthenticated({"X-MS-CLIENT-PRINCIPAL": "%%%"}, DEV, LOCAL_ENV)


def test_no_principal_in_production_is_401():
    assert_unauthenticated({}, PROD)
    assert_unauthenticated({"X-MS-CLIENT-PRINCIPAL": ""}, PROD)


# --- the local principal -------------------------------------------------------------------------
def test_local_principal_in_development():
    principal = resolve({}, DEV, LOCAL_ENV)
    assert principal == Principal(name="dev@local", roles=frozenset(r.value for r in Role))


def test_local_principal_name_defaults():
    principal = resolve({}, DEV, {"RIPOSTE_LOCAL_PRINCIPAL_ROLES": "PLAYBOOKS_READ"})
    assert principal.name == "local-developer" and principal.roles == frozenset({"PLAYBOOKS_READ"})


def test_local_principal_is_refused_in_production():
    assert_unauthenticated({}, PROD, LOCAL_ENV)
    with pytest.raises(AuthError) as caught:
        authorize({}, with_env(PROD, LOCAL_ENV), Permission.READ)
    assert caught.value.status == 401


def test_development_without_a_local_principal_is_401():
    assert_unauthenticated({}, DEV, {})
    assert_unauthenticated({}, DEV, {"RIPOSTE_LOCAL_PRINCIPAL_ROLES": ""})


def test_a_local_principal_without_roles_may_do_nothing():
    env = {"RIPOSTE_LOCAL_PRINCIPAL_ROLES": " , "}
    assert resolve({}, DEV, env).roles == frozenset()
    with pytest.raises(AuthError) as caught:
        authorize({}, with_env(DEV, env), Permission.READ)
    assert caught.value.status == 403


def test_a_presented_principal_wins_over_the_local_one():
    principal = resolve(principal_header("PLAYBOOKS_READ", name="reader"), DEV, LOCAL_ENV)
    assert principal.name == "reader" and principal.roles == frozenset({"PLAYBOOKS_READ"})
    with pytest.raises(AuthError) as caught:
        authorize(principal_header("PLAYBOOKS_READ"), with_env(DEV, LOCAL_ENV), Permission.MANAGE)
    assert caught.value.status == 403


def test_the_local_principal_is_read_with_the_other_settings(monkeypatch):
    monkeypatch.setenv("RIPOSTE_ENVIRONMENT", "development")
    monkeypatch.setenv("RIPOSTE_LOCAL_PRINCIPAL_ROLES", "SECURITY_MANAGE")
    monkeypatch.delenv("RIPOSTE_LOCAL_PRINCIPAL_NAME", raising=False)
    settings = load_settings()
    assert resolve_principal({}, settings) == Principal(name="local-developer", roles=frozenset({"SECURITY_MANAGE"}))
    with pytest.raises(AuthError):
        resolve_principal({}, settings.model_copy(update={"environment": Environment.PRODUCTION}))


# --- grants --------------------------------------------------------------------------------------
def test_grants_are_what_the_product_promises():
    assert GRANTS == {
        Permission.READ: frozenset({Role.PLAYBOOKS_READ, Role.PLAYBOOKS_MANAGE, Role.SECURITY_MANAGE}),
        Permission.MANAGE: frozenset({Role.PLAYBOOKS_MANAGE}),
        Permission.RUN: frozenset({Role.SECURITY_MANAGE}),
    }


@pytest.mark.parametrize("roles", [(), ("PLAYBOOKS_READ",), ("PLAYBOOKS_MANAGE",), ("SECURITY_MANAGE",),
                                   ("PLAYBOOKS_READ", "SECURITY_MANAGE"), ("playbooks_manage", "Admin")])
@pytest.mark.parametrize("permission", list(Permission))
def test_authorize_follows_grants(roles, permission):
    headers = principal_header(*roles)
    expected = bool(set(roles) & {r.value for r in GRANTS[permission]})
    assert Principal(name="x", roles=frozenset(roles)).may(permission) is expected
    if expected:
        assert authorize(headers, with_env(PROD, BEHIND_EASY_AUTH), permission).roles == frozenset(roles)
    else:
        with pytest.raises(AuthError) as caught:
            authorize(headers, with_env(PROD, BEHIND_EASY_AUTH), permission)
        assert caught.value.status == 403 and caught.value.code == "forbidden"
        for role in GRANTS[permission]:
            assert role.value in caught.value.message


def test_in_production_the_principal_header_is_trusted_only_behind_app_service_authentication():
    header = {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(
        {"claims": [{"typ": "roles", "val": "SECURITY_MANAGE"}]}).encode()).decode()}
    production = AppSettings(environment=Environment.PRODUCTION)
    with pytest.raises(AuthError) as refused:
        resolve_principal(header, production)  # authentication off: anyone could send the header
    assert refused.value.status == 401
    principal = resolve_principal(header, with_env(production, {"WEBSITE_AUTH_ENABLED": "True"}))
    assert "SECURITY_MANAGE" in principal.roles
