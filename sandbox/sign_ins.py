"""Entra ID sign-in logs: `GET /auditLogs/signIns` with the shared list options (sandbox/odata.py).

State: `tenant.areas["sign_ins"]` = a list of signIn resources, newest first. Read-only in Graph.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from msgraph.generated.models.sign_in import SignIn

from .graph_enums import graph_properties
from .odata import DATETIME, STRING, Collection, page
from .routing import GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID
from .state import Tenant

AREA = "sign_ins"
ADELE = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
routes = GraphRouteTable()
# Newest first, as Graph lists sign-ins; $top at most 1,000.
SIGN_INS = Collection(
    context="auditLogs/signIns", entity_type="microsoft.graph.signIn", properties=graph_properties(SignIn),
    filterable={"userId": STRING, "userPrincipalName": STRING, "createdDateTime": DATETIME, "appDisplayName": STRING,
                "ipAddress": STRING, "riskLevelDuringSignIn": STRING, "clientAppUsed": STRING, "id": STRING},
    default_page=50, max_top=1000,
)


def _sign_in(n: int, user_id: str, upn: str, minutes_ago: int, country: str, city: str, ip: str, app: str,
             error: int = 0, risk: str = "none") -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return {"id": f"{n:08d}-5e1d-4d8a-9a2e-{user_id[-12:]}", "createdDateTime": at, "userId": user_id,
            "userPrincipalName": upn, "appDisplayName": app, "ipAddress": ip, "clientAppUsed": "Browser",
            "riskLevelDuringSignIn": risk, "status": {"errorCode": error},
            "location": {"city": city, "countryOrRegion": country}}


def seed_tenant(tenant: Tenant) -> None:
    entries: list[dict[str, Any]] = []
    if tenant.id == CONTOSO_TENANT_ID:
        upn = "adele.vance@contoso-demo.onmicrosoft.com"
        entries = [
            _sign_in(1, ADELE, upn, 12, "NG", "Lagos", "102.89.34.7", "Office 365 Exchange Online", risk="high"),
            _sign_in(2, ADELE, upn, 15, "NG", "Lagos", "102.89.34.7", "Microsoft Office", error=50126),
            _sign_in(3, ADELE, upn, 300, "AU", "Sydney", "203.0.113.20", "Microsoft Teams"),
        ]
    tenant.areas[AREA] = entries
    for user_id, days_ago in _LAST_SIGN_IN_DAYS.items():
        user = tenant.users.get(user_id)
        if user is not None and "signInActivity" not in user.props:
            user.props["signInActivity"] = sign_in_activity(days_ago)


# Demo users' last sign-in, in days before the seed (users not listed never signed in: signInActivity null).
# Lynne (Fabrikam) has been away 45 days, for "no sign-in for N days"; the guests never signed in.
_LAST_SIGN_IN_DAYS: dict[str, float] = {
    ADELE: 12 / 1440, "48d31887-5fad-4d73-a9f5-3c356e68a038": 2, "f0c7b7a2-9e3d-4c1a-8d55-6b2f1e9a4c37": 0.5,
    "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b": 1, "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d": 45,
}


def sign_in_activity(days_ago: float) -> dict[str, Any]:
    """A user's signInActivity as Graph returns it (``$select=signInActivity``)."""
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds").replace("+00:00", "Z")
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, at))
    return {"lastSignInDateTime": at, "lastSignInRequestId": request_id, "lastNonInteractiveSignInDateTime": at,
            "lastNonInteractiveSignInRequestId": request_id, "lastSuccessfulSignInDateTime": at,
            "lastSuccessfulSignInRequestId": request_id}


@routes.get("/auditLogs/signIns")
async def list_sign_ins(ctx: HandlerContext) -> GraphResponse:
    with ctx.state.lock:
        body = page(ctx.tenant.areas.get(AREA, []), ctx.request.query, ctx.request.base_url,
                    "/auditLogs/signIns", SIGN_INS)
    return GraphResponse(200, body)
