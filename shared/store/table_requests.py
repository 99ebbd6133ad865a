"""Intake's hot table requests, built here and sent through the async table client's own pipeline.

The SDK's entity methods spend more CPU around a request than on it: azure-data-tables' generated layer
runs every property of an entity through its msrest-style serializer (and, for a query, every property
of every row back through its deserializer), and `create_entity` asks for the created entity back and
parses it. Measured on Azurite (docs/benchmarks.md, "Intake cost"): a create cost ~1.4-1.8 ms of CPU
through `TableClient.create_entity`, ~1.0-1.2 ms as the same request sent from here.

What stays the SDK's: the pipeline (authentication, managed identity included; retries; request ids;
logging and tracing policies; the transport), the entity encoding (`_add_entity_properties`), the row
decoding (`_convert_to_entity`) and the error mapping (`_decode_error`: a create of an existing entity
raises ResourceExistsError). What is ours: the URL, headers and body of four operations, the same as the
SDK sends (tests/pipeline/test_table_requests.py compares them on the wire), and `Prefer:
return-no-content` on a create, so the service does not send the entity back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from azure.core.rest import HttpRequest
from azure.core.serialization import AzureJSONEncoder
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables._deserialize import _convert_to_entity
from azure.data.tables._error import _decode_error
from azure.data.tables._serialize import _add_entity_properties, _parameter_filter_substitution, _prepare_key
from azure.data.tables.aio import TableClient

_NEXT_PARTITION = "x-ms-continuation-NextPartitionKey"
_NEXT_ROW = "x-ms-continuation-NextRowKey"


class LeanTable:
    """create, upsert and query of one table, as TableClient's methods do them, at a fraction of their CPU."""

    def __init__(self, client: TableClient):
        self._send = client._client.send_request  # the generated client: the SDK's configured pipeline
        self._path = "/" + quote(client.table_name)
        self._version = client.api_version

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

    async def create(self, entity: Mapping[str, Any]) -> None:
        """Insert Entity; ResourceExistsError when its keys are taken (nothing is written then)."""
        headers = self._headers("application/json;odata=minimalmetadata")
        headers.update({"Content-Type": "application/json;odata=nometadata", "Prefer": "return-no-content"})
        await self._call(HttpRequest("POST", self._path, headers=headers, content=self._body(entity)))

    async def upsert(self, entity: Mapping[str, Any], mode: UpdateMode) -> None:
        """Insert Or Replace (REPLACE) / Insert Or Merge (MERGE) Entity: no If-Match, so it never conflicts."""
        headers = self._headers("application/json")
        headers["Content-Type"] = "application/json"
        method = "PATCH" if mode is UpdateMode.MERGE else "PUT"
        await self._call(HttpRequest(method, self._entity_path(entity), headers=headers,
                                     content=self._body(entity)))

    async def query(self, query_filter: str, parameters: Mapping[str, Any]) -> list[TableEntity]:
        """Query Entities, every page (a page may be empty and still carry a continuation)."""
        # Quoted here, as the SDK's request builders do: azure-core puts params into the URL as they are.
        params = {"$filter": quote(_parameter_filter_substitution(dict(parameters), query_filter), safe="")}
        rows: list[TableEntity] = []
        while True:
            response = await self._call(HttpRequest("GET", f"{self._path}()", params=params,
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
