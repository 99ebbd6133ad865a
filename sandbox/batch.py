"""``POST /v1.0/$batch`` (graph-contract.md §2.17).

Inner requests run through the same pipeline as top-level calls (faults, call log, handlers).
Two deliberate choices make client bugs visible instead of lucky:
- independent requests run in *reverse* request order, so a client that loses ``dependsOn``
  sees its dependant run first;
- responses come back in reverse request order, so a client that relies on order breaks.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import GraphError, bad_request, error_body
from .routing import GraphRequest, GraphResponse, GraphRouteTable, HandlerContext, split_path

MAX_BATCH_REQUESTS = 20
HTTP_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})

routes = GraphRouteTable()


class BatchItem(BaseModel):
    # No populate_by_name: "depends_on" (msgraph-core's bug) must be ignored like Graph ignores it.
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    method: str
    url: str = Field(min_length=1)
    headers: dict[str, str] | None = None
    body: Any = None
    depends_on: list[str] | None = Field(default=None, alias="dependsOn")


class BatchPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    requests: list[BatchItem]


def _parse(ctx: HandlerContext) -> list[BatchItem]:
    raw = ctx.request.json_object()
    try:
        items = BatchPayload.model_validate(raw).requests
    except ValidationError as exc:
        raise bad_request(f"Invalid batch payload format: {exc.errors()[0]['msg']}", code="BadRequest") from exc
    if not items:
        raise bad_request("Invalid batch payload format: no requests.", code="BadRequest")
    if len(items) > MAX_BATCH_REQUESTS:
        raise bad_request(f"Number of individual requests exceeded the limit of {MAX_BATCH_REQUESTS}.",
                          code="BadRequest")
    ids = [item.id.lower() for item in items]  # ids are not case-sensitive
    if len(set(ids)) != len(ids):
        raise bad_request("Batch request contains duplicate request ids.", code="BadRequest")
    for item in items:
        if item.method.upper() not in HTTP_METHODS:
            raise bad_request(f"Invalid method '{item.method}' in request id {item.id}.", code="BadRequest")
        if item.body is not None and not _header(item.headers, "content-type"):
            raise bad_request(f"Write request id : {item.id} does not contain Content-Type header or body.",
                              code="BadRequest")
        for dep in item.depends_on or []:
            if dep.lower() not in ids:
                raise bad_request(f"Request id {item.id} depends on unknown request id '{dep}'.", code="BadRequest")
    _execution_order(items)  # raises on cycles before anything runs
    return items


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    return next((v for k, v in (headers or {}).items() if k.lower() == name), None)


def _execution_order(items: list[BatchItem]) -> list[BatchItem]:
    """Dependencies first; among ready requests the *last* one goes first (see module docstring)."""
    pending = {item.id.lower(): item for item in items}
    position = {item.id.lower(): i for i, item in enumerate(items)}
    done: set[str] = set()
    order: list[BatchItem] = []
    while pending:
        ready = [key for key, item in pending.items() if all(d.lower() in done for d in item.depends_on or [])]
        if not ready:
            raise bad_request("Batch request contains a dependsOn cycle.", code="BadRequest")
        key = max(ready, key=position.__getitem__)
        order.append(pending.pop(key))
        done.add(key)
    return order


def _inner_body(item: BatchItem) -> bytes | None:
    if item.body is None:
        return None
    if isinstance(item.body, str) and "json" not in (_header(item.headers, "content-type") or "").lower():
        try:  # non-JSON bodies travel base64-encoded
            return base64.b64decode(item.body, validate=True)
        except (binascii.Error, ValueError):
            return item.body.encode()
    return json.dumps(item.body).encode()


def _inner_request(item: BatchItem, outer: GraphRequest, parent_request_id: str) -> GraphRequest | GraphError:
    url = item.url if item.url.startswith("/") else "/" + item.url
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return bad_request("Batch request URLs must be relative, e.g. '/users/{id}'.", code="BadRequest")
    segments = split_path(parts.path)
    if segments and segments[0].lower() == "$batch":
        return bad_request("A batch cannot contain another batch.", code="BadRequest")
    return GraphRequest(
        method=item.method.upper(),
        segments=segments,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={k.lower(): v for k, v in (item.headers or {}).items()},
        body=_inner_body(item),
        tenant_id=outer.tenant_id,
        app_id=outer.app_id,
        batched=True,
        batch_item_id=item.id,
        parent_request_id=parent_request_id,
        base_url=outer.base_url,
    )


def _error_response(err: GraphError, item: BatchItem) -> GraphResponse:
    """An item answered without running (424, or a URL no handler can take). Not in the call log, but its ids are
    those of an item that ran (pipeline.py): its own request id, and its own client-request-id (the item's header,
    else its request id), never the batch's."""
    request_id = str(uuid.uuid4())
    client_request_id = _header(item.headers, "client-request-id") or request_id
    body = error_body(err.code, err.message, request_id, client_request_id, err.status)
    headers = {"Content-Type": "application/json", **err.headers, "request-id": request_id,
               "client-request-id": client_request_id}
    return GraphResponse(err.status, body, headers)


def _as_entry(item: BatchItem, response: GraphResponse) -> dict[str, Any]:
    headers = dict(response.headers)
    entry: dict[str, Any] = {"id": item.id, "status": response.status, "headers": headers}
    if response.body is not None:
        headers.setdefault("Content-Type", "application/json")
        entry["body"] = response.body
    return entry


@routes.post("/$batch")
async def batch(ctx: HandlerContext) -> GraphResponse:
    items = _parse(ctx)
    results: dict[str, GraphResponse] = {}
    for item in _execution_order(items):
        failed = [d for d in item.depends_on or [] if not 200 <= results[d.lower()].status < 300]
        if failed:
            err = GraphError(424, "FailedDependency", f"Request failed because dependent request '{failed[0]}' "
                             "failed.")
            results[item.id.lower()] = _error_response(err, item)
            continue
        inner = _inner_request(item, ctx.request, ctx.request_id)
        if isinstance(inner, GraphError):
            results[item.id.lower()] = _error_response(inner, item)
            continue
        results[item.id.lower()] = await ctx.pipeline.execute(inner)
    responses = [_as_entry(item, results[item.id.lower()]) for item in reversed(items)]
    return GraphResponse(200, {"responses": responses}, {"Content-Type": "application/json"})
