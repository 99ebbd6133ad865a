"""reset_mfa_registration: delete every MFA method of the alert's users, so they must register again.

Graph facts (graph-contract.md 4, 5a-5h): `GET /users/{id}/authentication/methods` lists the methods with
their `@odata.type`; each type is deleted in its own collection (`DELETE .../authentication/
phoneMethods/{id}` etc., 204). There is no v1.0 API for the default method nor for "require
re-register MFA": deleting each method is the documented way. Graph refuses to delete the default
method while others exist (400 badRequest "Cannot delete default method with other methods
configured..."), and a mobile number while an alternateMobile one exists; since the default is not
visible in v1.0, methods are deleted in an order that puts the usual defaults (phone, Authenticator)
last, and those refused with 400 are tried again once the others are gone. The password method is
kept (it is not an MFA method and has no delete).

Permissions: UserAuthenticationMethod.ReadWrite.All (application) for every type. The contract notes
disagreement for FIDO2 (one include names UserAuthMethod-Passkey.ReadWrite.All, another says app-only
is not supported); UserAuthenticationMethod.ReadWrite.All is the broader permission and covers it.
The Authentication Administrator / Privileged Authentication Administrator roles the contract names
apply to delegated calls on others; app-only calls need no directory role.

Not reversible: methods are device-bound registrations (keys, authenticator pairings) an admin cannot
re-create. The result lists, per user, what was removed and what could not be, with Graph's reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.graph.errors import odata_error
from shared.models.alert import UserEntity
from shared.models.run import StepError
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import user_key, user_targets
from shared.primitives.user_common import describe_users, error_entry, label, summarize
from shared.schemas.user_mfa import ResetMfaRegistrationParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.authentication_method import AuthenticationMethod
    from msgraph.generated.users.item.authentication.authentication_request_builder import (
        AuthenticationRequestBuilder,
    )

_NS = "#microsoft.graph."
# @odata.type -> (collection, deletion rank: lower goes first; usual default methods last).
DELETABLE: dict[str, tuple[str, int]] = {
    f"{_NS}emailAuthenticationMethod": ("emailMethods", 0),
    f"{_NS}temporaryAccessPassAuthenticationMethod": ("temporaryAccessPassMethods", 0),
    f"{_NS}fido2AuthenticationMethod": ("fido2Methods", 1),
    f"{_NS}windowsHelloForBusinessAuthenticationMethod": ("windowsHelloForBusinessMethods", 1),
    f"{_NS}softwareOathAuthenticationMethod": ("softwareOathMethods", 2),
    f"{_NS}phoneAuthenticationMethod": ("phoneMethods", 3),
    f"{_NS}microsoftAuthenticatorAuthenticationMethod": ("microsoftAuthenticatorMethods", 4),
}
PASSWORD_TYPE = f"{_NS}passwordAuthenticationMethod"
# Phones: office and alternateMobile before mobile (a user can't have an alternateMobile without a mobile).
_PHONE_RANK = {"office": 0, "alternateMobile": 1, "mobile": 2}


def _enum(value: Any) -> str | None:
    return getattr(value, "value", value)


def method_view(method: AuthenticationMethod) -> dict[str, Any]:
    """Type, id and a label without personal data (no phone number or address)."""
    kind = method.odata_type or ""
    out: dict[str, Any] = {"id": method.id, "type": kind.removeprefix(_NS)}
    name = getattr(method, "display_name", None)
    phone_type = _enum(getattr(method, "phone_type", None))
    if phone_type:
        out["phoneType"] = phone_type
    elif name:
        out["displayName"] = name
    return out


def _rank(method: dict[str, Any]) -> tuple[int, int]:
    collection_rank = DELETABLE[_NS + method["type"]][1]
    return collection_rank, _PHONE_RANK.get(method.get("phoneType") or "", 0)


async def _delete(auth: AuthenticationRequestBuilder, method: dict[str, Any]) -> None:
    collection, method_id = DELETABLE[_NS + method["type"]][0], method["id"]
    if collection == "emailMethods":
        await auth.email_methods.by_email_authentication_method_id(method_id).delete()
    elif collection == "temporaryAccessPassMethods":
        await auth.temporary_access_pass_methods.by_temporary_access_pass_authentication_method_id(method_id).delete()
    elif collection == "fido2Methods":
        await auth.fido2_methods.by_fido2_authentication_method_id(method_id).delete()
    elif collection == "windowsHelloForBusinessMethods":
        await auth.windows_hello_for_business_methods.by_windows_hello_for_business_authentication_method_id(
            method_id).delete()
    elif collection == "softwareOathMethods":
        await auth.software_oath_methods.by_software_oath_authentication_method_id(method_id).delete()
    elif collection == "phoneMethods":
        await auth.phone_methods.by_phone_authentication_method_id(method_id).delete()
    else:
        await auth.microsoft_authenticator_methods.by_microsoft_authenticator_authentication_method_id(
            method_id).delete()


async def _reset_for_user(graph: GraphServiceClient, user: UserEntity) -> dict[str, Any]:
    entry = label(user)
    auth = graph.users.by_user_id(user_key(user)).authentication
    try:
        page = await auth.methods.get()
    except odata_error() as exc:
        return entry | error_entry(exc)
    before = [method_view(m) for m in (page.value if page else None) or []]
    kept = [m for m in before if _NS + m["type"] not in DELETABLE]  # the password; types this code does not know
    queue = sorted((m for m in before if _NS + m["type"] in DELETABLE), key=_rank)
    removed: list[dict[str, Any]] = []
    failed: dict[str, tuple[dict[str, Any], StepError]] = {}
    while queue:
        refused, progress = [], False
        for method in queue:
            try:
                await _delete(auth, method)
            except odata_error() as exc:
                if exc.response_status_code != 404:  # 404: gone since the listing, which is what was wanted
                    failed[method["id"]] = (method, from_odata(exc))
                    if exc.response_status_code == 400:  # the default method, or a mobile before its alternate
                        refused.append(method)
                    continue
            removed.append(method)
            failed.pop(method["id"], None)
            progress = True
        if not progress:  # nothing more can go: the rest stays, with Graph's reason
            break
        queue = refused
    not_removed = [method | {"error": error.model_dump()} for method, error in failed.values()]
    gone = {m["id"] for m in removed}
    entry |= {"methods": {"before": before, "after": [m for m in before if m["id"] not in gone]},
              "removed": removed, "notRemoved": not_removed, "kept": kept}
    if not_removed:
        errors = [error for _, error in failed.values()]
        # A permission or availability problem explains more than the refusals it caused (a default kept).
        first = next((e for e in errors if e.code != "graph_error"), errors[0])
        code = first.code if first.code != "graph_error" else "mfa_methods_not_removed"
        entry["error"] = {"code": code, "message": f"{len(not_removed)} method(s) could not be removed; first: "
                                                   f"{first.message}"}
    return entry


async def reset_mfa_registration(params: ResetMfaRegistrationParams, ctx: StepContext) -> StepOutcome:
    users = user_targets(ctx.alert, params)
    if isinstance(users, StepOutcome):
        return users
    graph = ctx.tenant_graph()
    return summarize([await _reset_for_user(graph, user) for user in users])


def describe_reset_mfa(params: ResetMfaRegistrationParams, ctx: StepContext) -> str:
    names = describe_users(ctx, params.max_targets)
    if names is None:
        return "Would skip: the alert names no user whose MFA methods to reset."
    return (f"Would delete every MFA method (Authenticator, phone, FIDO2, OATH, email, Windows Hello, Temporary "
            f"Access Pass; not the password) of: {', '.join(names)} in tenant {ctx.alert.tenant_id}, the default "
            "method last, so they must register MFA again at next sign-in. This cannot be undone.")


register(Primitive(
    "reset_mfa_registration", ResetMfaRegistrationParams,
    "Delete every MFA method of each user named by the alert (not the password), so they must register again "
    "(e.g. after an attacker registered their own authenticator). Cannot be undone.",
    ("UserAuthenticationMethod.ReadWrite.All",), (),
    idempotent=True, needs_user=True,
    handler=reset_mfa_registration, describe=describe_reset_mfa,
))
