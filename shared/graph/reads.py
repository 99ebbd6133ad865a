"""Hot-path Graph reads: the SDK's request builders make the request, the body is read as JSON into a
small typed model of the fields the caller uses.

msgraph-sdk parses a response through each model's `get_field_deserializers`, and `Entity`'s runs about
2,400 import statements per call: parsing one User costs ~10 ms of CPU, three message rules ~31 ms, on the
event loop that every other run shares (docs/benchmarks.md, "Graph reads"). Reading JSON costs
microseconds. The request is the SDK's (URL, query options, the tenant's authentication, retries), sent
through the adapter's own parts without its per-call layer (shared/graph/direct.py); errors still raise
the SDK's `ODataError`.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from shared.graph import direct
from shared.graph.errors import error_map

if TYPE_CHECKING:
    from msgraph import GraphServiceClient



class GraphModel(BaseModel):
    """Graph's camelCase JSON; properties Riposte does not read are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class AssignedLicense(GraphModel):
    sku_id: uuid.UUID | None = None
    disabled_plans: list[uuid.UUID] | None = None


class GraphUser(GraphModel):
    """The user properties Riposte reads (each is None unless `$select`ed and set)."""

    id: str | None = None
    user_principal_name: str | None = None
    mail: str | None = None
    account_enabled: bool | None = None
    user_type: str | None = None
    department: str | None = None
    usage_location: str | None = None
    assigned_licenses: list[AssignedLicense] | None = None


async def get_json(graph: GraphServiceClient, request: RequestInformation) -> dict[str, Any]:
    """The response body of a GET as a JSON object ({} for an empty body); ODataError as Graph answered."""
    adapter = graph.request_adapter
    if direct.usable(adapter):  # the adapter's own parts, without its per-call layer (direct.py)
        body = await direct.send_bytes(adapter, direct.pinned(request, adapter))
    else:
        body = await adapter.send_primitive_async(request, "bytes", error_map())
    document = json.loads(body) if body else {}
    if not isinstance(document, dict):
        raise ValueError(f"Graph answered {request.url_template} with JSON that is not an object")
    return document


async def list_json(graph: GraphServiceClient, builder: Any, *, max_pages: int,
                    config: RequestConfiguration | None = None) -> list[dict[str, Any]]:
    """The `value` items of a list request, following `@odata.nextLink` for up to `max_pages` pages."""
    request = builder.to_get_request_information(config) if config else builder.to_get_request_information()
    items: list[dict[str, Any]] = []
    for _ in range(max_pages):
        page = await get_json(graph, request)
        items.extend(without_nulls(item) for item in page.get("value") or [] if isinstance(item, dict))
        next_link = page.get("@odata.nextLink")
        if not isinstance(next_link, str) or not next_link:
            break
        request = builder.with_url(next_link).to_get_request_information()
    return items


def without_nulls(value: Any) -> Any:
    """The JSON with null properties left out, as the SDK's models serialize (an unset property is absent)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


async def read_user(graph: GraphServiceClient, key: str, *fields: str) -> GraphUser | None:
    """`GET /users/{key}?$select=id,userPrincipalName,<fields>` (None for an empty answer, as the SDK)."""
    # msgraph's request builders are imported where used: `import function_app` stays light (docs/benchmarks.md).
    from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName", *fields])
    request = graph.users.by_user_id(key).to_get_request_information(RequestConfiguration(query_parameters=query))
    document = await get_json(graph, request)
    return GraphUser.model_validate(document) if document else None
