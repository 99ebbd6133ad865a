"""Entra ID sign-in logs: `GET /auditLogs/signIns` with `$filter` on userId (and createdDateTime) and `$top`.

State: `tenant.areas["sign_ins"]` = a list of signIn resources, newest first. Read-only in Graph.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import bad_request
from .routing import GRAPH_ROOT, GraphResponse, GraphRouteTable, HandlerContext
from .seed import CONTOSO_TENANT_ID
from .state import Tenant

AREA = "sign_ins"
ADELE = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
routes = GraphRouteTable()
_USER = re.compile(r"userId eq '([^']+)'", re.IGNORECASE)
_SINCE = re.compile(r"createdDateTime ge (\S+)", re.IGNORECASE)


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


@routes.get("/auditLogs/signIns")
async def list_sign_ins(ctx: HandlerContext) -> GraphResponse:
    query = ctx.request.query
    entries = ctx.tenant.areas.get(AREA, [])
    wanted = _USER.search(query.get("$filter", ""))
    since = _SINCE.search(query.get("$filter", ""))
    try:
        top = min(int(query.get("$top", "50")), 1000)
    except ValueError:
        raise bad_request("Invalid $top value.") from None
    selected = [e for e in entries if not wanted or e["userId"].lower() == wanted.group(1).lower()]
    if since:
        selected = [e for e in selected if e["createdDateTime"] >= since.group(1)]
    return GraphResponse(200, {"@odata.context": f"{GRAPH_ROOT}/$metadata#auditLogs/signIns",
                               "value": copy.deepcopy(selected[:top])})
