"""shared/store/table_requests.py sends what the SDK's entity methods send, and reads back what they read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.core.pipeline.transport import AioHttpTransport
from azure.data.tables import EdmType, EntityProperty, UpdateMode
from azure.data.tables.aio import TableServiceClient

from shared.store.async_tables import client_options
from shared.store.table_requests import LeanTable

# Headers that differ per request (ids, clock, signature over them) or per package version.
VARYING = {"x-ms-client-request-id", "x-ms-date", "date", "authorization", "user-agent"}


class Recording(AioHttpTransport):
    """Every request sent: (method, URL, headers but the varying ones, body)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent: list[tuple[str, str, dict[str, str], str | bytes | None]] = []

    async def send(self, request, **kwargs):
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in VARYING}
        self.sent.append((request.method, request.url, headers, request.content))
        return await super().send(request, **kwargs)


@pytest.fixture
async def table(azurite_connection_string):
    transport = Recording(**client_options())
    service = TableServiceClient.from_connection_string(azurite_connection_string, transport=transport)
    name = f"t{uuid.uuid4().hex[:12]}"
    await service.create_table(name)
    client = service.get_table_client(name)
    transport.sent.clear()
    yield client, LeanTable(client), transport
    await service.close()


def every_type(partition: str, row: str = "alert") -> dict:
    return {"PartitionKey": partition, "RowKey": row, "text": "é 'quoted' {braces}", "count": 7, "ratio": 0.25,
            "flag": True, "at": datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=UTC), "blob": b"\x00\xff",
            "big": EntityProperty(2**40, EdmType.INT64), "empty": ""}


# Keys with the characters a key may hold that need escaping in a URL or in OData ('' for ').
AWKWARD = "a'b c é+&=%"


async def test_create_and_upserts_send_the_sdks_requests(table):
    client, lean, transport = table
    for write_sdk, write_lean in [
        (lambda e: client.create_entity(e), lambda e: lean.create(e)),
        (lambda e: client.upsert_entity(e, mode=UpdateMode.REPLACE), lambda e: lean.upsert(e, UpdateMode.REPLACE)),
        (lambda e: client.upsert_entity(e, mode=UpdateMode.MERGE), lambda e: lean.upsert(e, UpdateMode.MERGE)),
    ]:
        await write_sdk(every_type(AWKWARD, "sdk0"))
        await write_lean(every_type(AWKWARD, "lean"))
        (sdk_method, sdk_url, sdk_headers, sdk_body), (method, url, headers, body) = transport.sent[-2:]
        assert (method, url.replace("lean", "sdk0"), body.replace("lean", "sdk0")) == (sdk_method, sdk_url, sdk_body)
        # The one difference: a create does not ask for the entity back.
        assert headers == {**sdk_headers, **({"prefer": "return-no-content"} if method == "POST" else {})}


async def test_a_query_sends_the_sdks_request_and_reads_the_same_rows(table):
    client, lean, transport = table
    await client.create_entity(every_type(AWKWARD))
    await client.create_entity(every_type(AWKWARD, "run|1"))
    await client.create_entity(every_type("another partition"))
    query = "PartitionKey eq @pk and (RowKey eq @alert or (RowKey ge 'run|' and RowKey lt 'run}'))"
    parameters = {"pk": AWKWARD, "alert": "alert"}
    transport.sent.clear()

    expected = [row async for row in client.query_entities(query, parameters=parameters)]
    rows = await lean.query(query, parameters)

    assert transport.sent[0] == transport.sent[1]
    assert [(row, row.metadata) for row in rows] == [(row, row.metadata) for row in expected]
    assert [row["RowKey"] for row in rows] == ["alert", "run|1"]
    assert rows[0]["big"] == EntityProperty(2**40, EdmType.INT64) and rows[0]["blob"] == b"\x00\xff"


async def test_what_the_lean_create_writes_reads_back_as_the_sdks_write(table):
    client, lean, _ = table
    await client.create_entity(every_type("sdk"))
    await lean.create(every_type("lean"))

    by_sdk, by_lean = await client.get_entity("sdk", "alert"), await client.get_entity("lean", "alert")

    assert {**by_lean, "PartitionKey": "sdk"} == by_sdk


async def test_a_create_of_an_existing_entity_raises_and_changes_nothing(table):
    client, lean, _ = table
    await lean.create(every_type("p"))

    with pytest.raises(ResourceExistsError) as raised:
        await lean.create({**every_type("p"), "text": "second"})

    assert raised.value.error_code == "EntityAlreadyExists"
    assert (await client.get_entity("p", "alert"))["text"] == every_type("p")["text"]


async def test_a_query_of_a_missing_table_raises_as_the_sdk_does(table):
    client, _, _ = table
    service = TableServiceClient(endpoint=client._client._config.url, credential=client.credential)
    missing = LeanTable(service.get_table_client("missing" + uuid.uuid4().hex[:8]))
    with pytest.raises(ResourceNotFoundError):
        await missing.query("PartitionKey eq @pk", {"pk": "p"})
    await service.close()


async def test_a_query_follows_continuations(table):
    client, lean, transport = table
    rows = [{"PartitionKey": "many", "RowKey": f"{n:05}"} for n in range(1_050)]  # the service pages at 1,000
    for start in range(0, len(rows), 100):
        await client.submit_transaction([("create", row) for row in rows[start:start + 100]])
    transport.sent.clear()

    found = await lean.query("PartitionKey eq @pk", {"pk": "many"})

    assert [row["RowKey"] for row in found] == [row["RowKey"] for row in rows]
    assert len(transport.sent) == 2 and "NextRowKey=" in transport.sent[1][1]


class IgnoresPrefer(AioHttpTransport):
    """A service that answers a create with the entity (201), as one that ignores `Prefer` would."""

    async def send(self, request, **kwargs):
        request.headers.pop("Prefer", None)
        return await super().send(request, **kwargs)


async def test_a_create_answered_with_the_entity_is_a_create(azurite_connection_string):
    async with TableServiceClient.from_connection_string(azurite_connection_string,
                                                         transport=IgnoresPrefer(**client_options())) as service:
        name = f"t{uuid.uuid4().hex[:12]}"
        await service.create_table(name)
        client = service.get_table_client(name)

        await LeanTable(client).create(every_type("p"))

        assert (await client.get_entity("p", "alert"))["text"] == every_type("p")["text"]
