"""Where Graph delivers a tenant's change notifications: the app's own HTTPS endpoints (webhooks), or an
Azure Event Grid partner topic (docs/alert-sources.md, "Delivery through Event Grid").

RIPOSTE_GRAPH_NOTIFICATION_URL is either the app's base URL or Graph's Event Grid form,
`EventGrid:?azuresubscriptionid=<guid>&resourcegroup=<name>&partnertopic=<name>&location=<region>`, whose
`partnertopic` holds `{tenantId}`: Graph creates one partner topic per subscription's tenant and app
(its events' `source` is `/tenants/{tenant}/applications/{app}`), so each customer tenant gets its own,
e.g. `partnertopic=riposte-{tenantId}`. Event Grid delivery has no validation handshake: Graph creates
the partner topic instead of calling an endpoint.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

SCHEME = "eventgrid:"
TENANT_PLACEHOLDER = "{tenantId}"
PARAMETERS = ("azuresubscriptionid", "resourcegroup", "partnertopic", "location")
TOPIC_NAME = re.compile(r"[A-Za-z0-9-]{3,50}")  # Event Grid's rule for topic names
RESOURCE_GROUP = re.compile(r"[-\w._()]{1,90}")
LOCATION = re.compile(r"[a-z0-9]{2,40}")  # a region's name (westeurope), not its display name


def is_event_grid(url: str | None) -> bool:
    return bool(url) and url.lower().startswith(SCHEME)


def check_event_grid(url: str) -> str:
    """The Event Grid form as given, or ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.path or not parts.query:
        raise ValueError("an Event Grid notification URL is 'EventGrid:?azuresubscriptionid=...&resourcegroup=..."
                         "&partnertopic=...&location=...'")
    query = {k.lower(): v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    for name in PARAMETERS:
        if len(query.get(name, [])) != 1 or not query[name][0]:
            raise ValueError(f"the Event Grid notification URL needs one '{name}'")
    extra = sorted(set(query) - set(PARAMETERS))
    if extra:
        raise ValueError(f"the Event Grid notification URL has an unknown parameter '{extra[0]}'")
    try:
        uuid.UUID(query["azuresubscriptionid"][0])
    except ValueError:
        raise ValueError("azuresubscriptionid must be the Azure subscription's GUID") from None
    if not RESOURCE_GROUP.fullmatch(query["resourcegroup"][0]):
        raise ValueError("resourcegroup is not a resource group name")
    if not LOCATION.fullmatch(query["location"][0]):
        raise ValueError("location must be a region name such as 'westeurope' (not its display name)")
    topic = query["partnertopic"][0]
    if topic.count(TENANT_PLACEHOLDER) != 1:
        raise ValueError("partnertopic must contain '{tenantId}' once: each customer tenant has its own partner topic")
    if not TOPIC_NAME.fullmatch(topic.replace(TENANT_PLACEHOLDER, str(uuid.UUID(int=0)))):
        raise ValueError("partnertopic with a tenant id in place of '{tenantId}' must be 3 to 50 letters, digits "
                         "or hyphens")
    return url


def for_tenant(url: str, tenant_id: str) -> str:
    """The tenant's own partner topic in the Event Grid form."""
    return url.replace(TENANT_PLACEHOLDER, tenant_id.lower())
