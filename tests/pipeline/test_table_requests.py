"""shared/store/table_requests.py sends what the SDK's entity methods send, and reads back what they read."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.core.pipeline.transport import AioHttpTransport
from azure.data.tables import EdmType, EntityProperty, TableTransactionError, UpdateMode
from azure.data.tables._serialize import _prepare_key
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


async def test_a_get_sends_the_sdks_request_and_reads_the_same_entity(table):
    client, lean, transport = table
    await client.create_entity(every_type(AWKWARD, "run|1"))
    transport.sent.clear()

    expected = await client.get_entity(AWKWARD, "run|1")
    got = await lean.get(AWKWARD, "run|1")

    assert transport.sent[0] == transport.sent[1]
    assert (got, got.metadata) == (expected, expected.metadata) and got.metadata["etag"]


async def test_a_conditional_replace_sends_the_sdks_request(table):
    client, lean, transport = table
    await client.create_entity(every_type(AWKWARD, "run|1"))
    etag = (await client.get_entity(AWKWARD, "run|1")).metadata["etag"]
    transport.sent.clear()

    await client.update_entity({**every_type(AWKWARD, "run|1"), "text": "sdk0"}, mode=UpdateMode.REPLACE, etag=etag,
                               match_condition=MatchConditions.IfNotModified)
    etag = (await client.get_entity(AWKWARD, "run|1")).metadata["etag"]
    await lean.replace({**every_type(AWKWARD, "run|1"), "text": "lean"}, etag)

    (sdk_method, sdk_url, sdk_headers, sdk_body), _, (method, url, headers, body) = transport.sent
    assert (method, url, body.replace("lean", "sdk0")) == (sdk_method, sdk_url, sdk_body)
    assert {**headers, "if-match": ""} == {**sdk_headers, "if-match": ""} and headers["if-match"] == etag
    assert (await client.get_entity(AWKWARD, "run|1"))["text"] == "lean"


async def test_a_replace_of_a_row_changed_since_it_was_read_raises_and_writes_nothing(table):
    client, lean, _ = table
    await client.create_entity(every_type("p", "run|1"))
    stale = (await lean.get("p", "run|1")).metadata["etag"]
    await client.upsert_entity({**every_type("p", "run|1"), "text": "cancelled meanwhile"}, mode=UpdateMode.REPLACE)

    with pytest.raises(ResourceModifiedError):
        await lean.replace({**every_type("p", "run|1"), "text": "running"}, stale)

    assert (await client.get_entity("p", "run|1"))["text"] == "cancelled meanwhile"
    with pytest.raises(ResourceNotFoundError):
        await lean.get("p", "missing")


def _comparable(body: bytes | str, key: str = "", etag: str = "") -> str:
    """A $batch body with its boundaries and clock taken out (they differ per request), and its partition key and
    ETag in any of their spellings (JSON, URL, as is)."""
    text = body.decode() if isinstance(body, bytes) else body
    text = re.sub(r"(batch|changeset)_[0-9a-f-]{36}", r"\1_X", text)
    text = re.sub(r"(x-ms-date|Date): [^\r]*GMT", r"\1: D", text)
    if etag:
        text = text.replace(etag, "ETAG")
    for spelling in ((json.dumps(key)[1:-1], quote(_prepare_key(key), safe=""), key) if key else ()):
        text = text.replace(spelling, "KEY")
    return text


def _operations(partition: str, etag: str) -> list[tuple]:
    return [("create", every_type(partition, "a")), ("upsert", {"PartitionKey": partition, "RowKey": "c", "x": 1}),
            ("upsert", {"PartitionKey": partition, "RowKey": "d", "x": 1}, {"mode": UpdateMode.REPLACE}),
            ("update", {"PartitionKey": partition, "RowKey": "b", "x": 2},
             {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}),
            ("update", {"PartitionKey": partition, "RowKey": "e", "y": 2}),
            ("delete", {"PartitionKey": partition, "RowKey": "f"})]


async def test_a_transaction_sends_the_sdks_batch_and_reads_its_etags(table):
    client, lean, transport = table
    keys = (AWKWARD, "z" + AWKWARD[1:])  # the same length: the same Content-Length
    for partition in keys:
        for row in "bef":
            await client.create_entity({"PartitionKey": partition, "RowKey": row})
    etags = [(await client.get_entity(p, "b")).metadata["etag"] for p in keys]
    transport.sent.clear()

    by_sdk = await client.submit_transaction(_operations(keys[0], etags[0]))
    by_lean = await lean.transaction(_operations(keys[1], etags[1]))

    (_, sdk_url, sdk_headers, sdk_body), (_, url, headers, body) = transport.sent
    assert _comparable(body, keys[1], etags[1]) == _comparable(sdk_body, keys[0], etags[0])
    assert "KEY" in _comparable(body, keys[1]) and "ETAG" in _comparable(body, etag=etags[1])
    assert url == sdk_url
    assert {k: _comparable(v) for k, v in headers.items()} == {k: _comparable(v) for k, v in sdk_headers.items()}
    assert [set(r) for r in by_lean] == [set(r) for r in by_sdk] == [{"etag"}] * 5 + [set()]
    assert by_lean[3]["etag"] == (await client.get_entity(keys[1], "b")).metadata["etag"]
    assert {r["RowKey"]: r.get("x") async for r in client.query_entities("PartitionKey eq @pk",
                                                                          parameters={"pk": keys[1]})} == \
        {"a": None, "b": 2, "c": 1, "d": 1, "e": None}


@pytest.mark.parametrize("failing", ["create of an existing row", "replace under a stale etag"])
async def test_a_failed_transaction_raises_the_sdks_error_and_writes_nothing(table, failing):
    client, lean, _ = table
    await client.create_entity(every_type("p", "a"))
    stale = (await client.get_entity("p", "a")).metadata["etag"]
    await client.upsert_entity({**every_type("p", "a"), "text": "changed"}, mode=UpdateMode.REPLACE)
    second = (("create", every_type("p", "a")) if failing.startswith("create") else
              ("update", every_type("p", "a"), {"mode": UpdateMode.REPLACE, "etag": stale,
                                                "match_condition": MatchConditions.IfNotModified}))
    operations = [("upsert", {"PartitionKey": "p", "RowKey": "z"}), second]
    errors = []
    for submit in (client.submit_transaction, lean.transaction):
        with pytest.raises(TableTransactionError) as raised:
            await submit(operations)
        errors.append(raised.value)

    sdk, ours = errors
    assert (ours.error_code, ours.index, ours.status_code, ours.message.split("\n")[0]) == \
        (sdk.error_code, sdk.index, sdk.status_code, sdk.message.split("\n")[0]) == \
        ((("EntityAlreadyExists", 1, 409) if failing.startswith("create") else ("UpdateConditionNotSatisfied", 1, 412))
         + (sdk.message.split("\n")[0],))
    assert [r["RowKey"] async for r in client.query_entities("PartitionKey eq 'p'")] == ["a"]


async def test_a_delete_sends_the_sdks_request(table):
    client, lean, transport = table
    for row in ("sdk0", "lean"):
        await client.create_entity(every_type(AWKWARD, row))
    transport.sent.clear()

    await client.delete_entity(AWKWARD, "sdk0")
    await lean.delete(AWKWARD, "lean")

    (sdk_method, sdk_url, sdk_headers, _), (method, url, headers, _) = transport.sent
    assert (method, url.replace("lean", "sdk0"), headers) == (sdk_method, sdk_url, sdk_headers)
    assert [r async for r in client.query_entities("PartitionKey eq @pk", parameters={"pk": AWKWARD})] == []
    with pytest.raises(ResourceNotFoundError):
        await lean.delete(AWKWARD, "lean")
