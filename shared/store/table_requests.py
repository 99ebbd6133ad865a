"""Intake's hot table requests, built here and sent through the async table client's own pipeline.

The SDK's entity methods spend more CPU around a request than on it: azure-data-tables' generated layer
runs every property of an entity through its msrest-style serializer (and, for a query, every property
of every row back through its deserializer), and `create_entity` asks for the created entity back and
parses it. Measured on Azurite (docs/benchmarks.md, "Intake cost"): a create cost ~1.4-1.8 ms of CPU
through `TableClient.create_entity`, ~1.0-1.2 ms as the same request sent from here.

What stays the SDK's: the pipeline (authentication, managed identity included; retries; request ids;
logging and tracing policies; the transport), the entity encoding (`_add_entity_properties`), the row
decoding (`_convert_to_entity`) and the error mapping (`_decode_error`: a create of an existing entity
raises ResourceExistsError). What is ours: the URL, headers and body of seven operations and of a transaction
(`$batch`), the same as the SDK sends (tests/pipeline/test_table_requests.py compares them on the wire), and
`Prefer: return-no-content` on a create, so the service does not send the entity back.

A transaction is where the SDK costs most: it builds the multipart body with the `email` package, through a
policy pass per part, and parses the multipart answer back the same way (~3x a single write's CPU, mostly
MIME handling; azure-core's sync pipeline adds a thread pool per `$batch`). The body is plain text, so it is
written and read here directly; the outer request still goes through the client's pipeline.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.rest import HttpRequest
from azure.core.serialization import AzureJSONEncoder
from azure.data.tables import RequestTooLargeError, TableEntity, TableTransactionError, UpdateMode
from azure.data.tables._deserialize import _convert_to_entity
from azure.data.tables._error import _decode_error
from azure.data.tables._serialize import _add_entity_properties, _parameter_filter_substitution, _prepare_key
from azure.data.tables.aio import TableClient

from shared.store.known_rows import KnownRows

_NEXT_PARTITION = "x-ms-continuation-NextPartitionKey"
_NEXT_ROW = "x-ms-continuation-NextRowKey"
# An operation of a transaction, as TableClient.submit_transaction takes it: ("create" | "upsert" | "update" |
# "delete", entity[, {"mode": UpdateMode, "etag": str, "match_condition": MatchConditions}]).
Operation = tuple


class _PartResponse:
    """One answer inside a `$batch` response: what _decode_error reads of a response."""

    def __init__(self, status_code: int, reason: str, headers: dict[str, str], body: str):
        self.status_code, self.reason, self.headers, self._body = status_code, reason, headers, body
        self.content_type = headers.get("content-type", "")
        self.request = None

    def text(self, encoding: str | None = None) -> str:
        return self._body

    def body(self) -> bytes:
        return self._body.encode()


def _parts(payload: str, content_type: str) -> list[_PartResponse]:
    """The answers of a `$batch` response (multipart/mixed holding one changeset, itself multipart/mixed)."""
    parts = []
    for boundary_part in _split(payload, content_type):
        headers_text, _, inner = boundary_part.partition("\r\n\r\n")
        headers = _header_lines(headers_text)
        if headers.get("content-type", "").startswith("multipart/mixed"):
            parts.extend(_part_response(p) for p in _split(inner, headers["content-type"]))
        else:
            parts.append(_part_response(boundary_part))
    return parts


def _split(payload: str, content_type: str) -> list[str]:
    boundary = next(p.split("=", 1)[1].strip().strip('"') for p in content_type.split(";")
                    if p.strip().lower().startswith("boundary="))
    sections = payload.split(f"--{boundary}")
    return [s.strip("\r\n") for s in sections[1:] if not s.startswith("--")]


def _header_lines(text: str) -> dict[str, str]:
    headers = {}
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _part_response(part: str) -> _PartResponse:
    """application/http: MIME headers, a blank line, then the status line, headers and body of one answer."""
    _, _, http = part.partition("\r\n\r\n")
    head, _, body = http.partition("\r\n\r\n")
    status_line, _, header_text = head.partition("\r\n")
    _, status, reason = [*status_line.split(" ", 2), ""][:3]
    return _PartResponse(int(status), reason, _header_lines(header_text), body)


class LeanTable:
    """create, upsert, query, get and conditional replace of one table, as TableClient's methods do them, at a
    fraction of their CPU."""

    def __init__(self, client: TableClient, known: KnownRows | None = None):
        self._known = known if known is not None else KnownRows()
        # The SDK's configured pipeline, as the generated client's send_request reaches it, without that method's
        # per-request deepcopy of the request (each request here is new) and its URL serialization (done once).
        generated = client._client
        pipeline = generated._client
        self._send = pipeline.send_request
        url_args = {"url": generated._serialize.url("self._config.url", generated._config.url, "str", skip_quote=True)}
        self._url = functools.partial(pipeline.format_url, **url_args)
        self._path = "/" + quote(client.table_name)
        self._version = client.api_version
        self._table_name = client.table_name
        self._base = f"{client.scheme}://{client._primary_hostname}"  # a transaction's parts use absolute URLs

    @property
    def table_name(self) -> str:
        return self._table_name

    def _headers(self, accept: str) -> dict[str, str]:
        return {"x-ms-version": self._version, "DataServiceVersion": "3.0", "Accept": accept}

    def _entity_path(self, entity: Mapping[str, Any]) -> str:
        keys = (quote(_prepare_key(entity["PartitionKey"]), safe=""), quote(_prepare_key(entity["RowKey"]), safe=""))
        return f"{self._path}(PartitionKey='{keys[0]}',RowKey='{keys[1]}')"

    @staticmethod
    def _body(entity: Mapping[str, Any]) -> str:
        return json.dumps(_add_entity_properties(entity), cls=AzureJSONEncoder)

    async def _call(self, request: HttpRequest) -> Any:
        response = await self._send(request)
        if not 200 <= response.status_code < 300:  # as the SDK: a 201 with the entity is a create too
            raise _decode_error(response)
        return response

    async def create(self, entity: Mapping[str, Any]) -> str | None:
        """Insert Entity; ResourceExistsError when its keys are taken (nothing is written then). The new ETag."""
        headers = self._headers("application/json;odata=minimalmetadata")
        headers.update({"Content-Type": "application/json;odata=nometadata", "Prefer": "return-no-content"})
        response = await self._call(HttpRequest("POST", self._url(self._path), headers=headers,
                                                content=self._body(entity)))
        return response.headers.get("ETag")

    async def upsert(self, entity: Mapping[str, Any], mode: UpdateMode) -> str | None:
        """Insert Or Replace (REPLACE) / Insert Or Merge (MERGE) Entity: no If-Match, so it never conflicts."""
        headers = self._headers("application/json")
        headers["Content-Type"] = "application/json"
        method = "PATCH" if mode is UpdateMode.MERGE else "PUT"
        response = await self._call(HttpRequest(method, self._url(self._entity_path(entity)), headers=headers,
                                                content=self._body(entity)))
        return response.headers.get("ETag")

    # Rows as this process last wrote them (shared/store/known_rows.py): a read-change-replace cycle may start
    # from one instead of a read; the replace's ETag condition still decides.
    def known(self, partition_key: str, row_key: str) -> TableEntity | None:
        return self._known.known(self._table_name, partition_key, row_key)

    def remember(self, entity: Mapping[str, Any], etag: str | None) -> None:
        self._known.remember(self._table_name, entity, etag)

    def forget(self, partition_key: str, row_key: str) -> None:
        self._known.forget(self._table_name, partition_key, row_key)

    async def get(self, partition_key: str, row_key: str) -> TableEntity:
        """Query Entity by its keys (ResourceNotFoundError when absent); the row's ETag is in `.metadata["etag"]`."""
        entity = {"PartitionKey": partition_key, "RowKey": row_key}
        response = await self._call(HttpRequest("GET", self._url(self._entity_path(entity)),
                                                headers=self._headers("application/json;odata=minimalmetadata")))
        return _convert_to_entity(response.json())

    async def replace(self, entity: Mapping[str, Any], etag: str) -> str | None:
        """Update Entity (REPLACE) under If-Match `etag`: ResourceModifiedError when the row changed since it was
        read (nothing is written then), ResourceNotFoundError when it is gone. The new ETag."""
        headers = self._headers("application/json")
        headers.update({"Content-Type": "application/json", "If-Match": etag})
        response = await self._call(HttpRequest("PUT", self._url(self._entity_path(entity)), headers=headers,
                                                content=self._body(entity)))
        return response.headers.get("ETag")

    async def delete(self, partition_key: str, row_key: str) -> None:
        """Delete Entity, whatever its ETag (If-Match: *): ResourceNotFoundError when it is absent."""
        headers = self._headers("application/json;odata=minimalmetadata")
        headers["If-Match"] = "*"
        path = self._entity_path({"PartitionKey": partition_key, "RowKey": row_key})
        await self._call(HttpRequest("DELETE", self._url(path), headers=headers))

    async def transaction(self, operations: Sequence[Operation]) -> list[dict[str, str]]:
        """TableClient.submit_transaction: all or nothing, one partition, at most 100 operations; each operation's
        ETag (`[{"etag": ...}]`). TableTransactionError (its `error_code` and `index`) when one fails, as the SDK's."""
        date = formatdate(usegmt=True)
        changeset, batch = f"changeset_{uuid.uuid4()}", f"batch_{uuid.uuid4()}"
        lines = [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
        for index, operation in enumerate(operations):
            method, path, headers, body = self._part(operation)
            lines += [f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                      f"Content-ID: {index}", "", f"{method} {self._base}{path} HTTP/1.1"]
            if body is not None:
                lines += ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            lines += [f"x-ms-date: {date}", f"Date: {date}", "", body or ""]
        lines += [f"--{changeset}--", "", f"--{batch}--", ""]
        headers = {"x-ms-version": self._version, "DataServiceVersion": "3.0", "MaxDataServiceVersion": "3.0;NetFx",
                   "Content-Type": f"multipart/mixed; boundary={batch}", "Accept": "application/json"}
        # Streamed, as the SDK sends it: the pipeline's content decoding does not read multipart answers.
        response = await self._send(HttpRequest("POST", self._url(f"{self._base}/$batch"), headers=headers,
                                                content="\r\n".join(lines).encode()), stream=True)
        await response.read()
        if response.status_code == 413:
            raise _decode_error(response, error_message="The transaction request was too large",
                                error_type=RequestTooLargeError)
        if response.status_code != 202:
            raise _decode_error(response)
        parts = _parts(response.text(), response.headers.get("content-type", ""))
        failed = [p for p in parts if not 200 <= p.status_code < 300]
        if failed:
            if failed[0].status_code == 413:
                raise _decode_error(response, error_message="The transaction request was too large",
                                    error_type=RequestTooLargeError)
            raise _decode_error(response=failed[0], error_type=TableTransactionError)
        return [{"etag": p.headers["etag"]} if "etag" in p.headers else {} for p in parts]

    def _part(self, operation: Operation) -> tuple[str, str, dict[str, str], str | None]:
        """(method, path, headers, body) of one operation inside a transaction, as the SDK writes it."""
        kind, entity = operation[0], operation[1]
        options = operation[2] if len(operation) > 2 else {}
        if kind == "create":
            return "POST", self._path, self._headers("application/json;odata=minimalmetadata"), self._body(entity)
        if kind == "upsert":
            method = "PUT" if options.get("mode") is UpdateMode.REPLACE else "PATCH"  # the SDK's default: MERGE
            return method, self._entity_path(entity), self._headers("application/json"), self._body(entity)
        if kind == "update":
            conditional = options.get("match_condition") is MatchConditions.IfNotModified
            headers = self._headers("application/json")
            headers["If-Match"] = options["etag"] if conditional else "*"
            method = "PUT" if options.get("mode") is UpdateMode.REPLACE else "PATCH"
            return method, self._entity_path(entity), headers, self._body(entity)
        if kind == "delete":
            headers = self._headers("application/json;odata=minimalmetadata")
            headers["If-Match"] = "*"
            return "DELETE", self._entity_path(entity), headers, None
        raise ValueError(f"unknown transaction operation {kind!r}")

    async def query(self, query_filter: str, parameters: Mapping[str, Any]) -> list[TableEntity]:
        """Query Entities, every page (a page may be empty and still carry a continuation)."""
        # Quoted here, as the SDK's request builders do: azure-core puts params into the URL as they are.
        params = {"$filter": quote(_parameter_filter_substitution(dict(parameters), query_filter), safe="")}
        rows: list[TableEntity] = []
        while True:
            response = await self._call(HttpRequest("GET", self._url(f"{self._path}()"), params=params,
                                                    headers=self._headers("application/json;odata=minimalmetadata")))
            rows.extend(_convert_to_entity(row) for row in response.json().get("value", ()))
            next_partition = response.headers.get(_NEXT_PARTITION)
            if next_partition is None:
                return rows
            params["NextPartitionKey"] = quote(next_partition, safe="")
            next_row = response.headers.get(_NEXT_ROW)
            if next_row is None:
                params.pop("NextRowKey", None)
            else:
                params["NextRowKey"] = quote(next_row, safe="")
