"""Hot-path Graph reads: msgraph-sdk's models against JSON into small typed models (shared/graph/reads.py).

Method: the sandbox runs as its own process (its CPU is not counted); this process reads, through one
GraphClientFactory client, Adele's user (`$select=id,userPrincipalName,accountEnabled`) and her inbox rules
(4 rules), BENCH_READS times each way, after a warm-up that loads the SDK's model modules. Figures: CPU of
this process per read (`time.process_time`) and wall per read, median of 3 rounds; then the parse alone
(the same bodies, `timeit`): the SDK's `JsonParseNode(...).get_object_value(Model)` against `json.loads` plus
the typed model.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import timeit
from collections.abc import Awaitable, Callable

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.message_rule_collection_response import MessageRuleCollectionResponse
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from benchmarks.sandbox_process import running_sandbox
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID
from shared.graph import GraphAuthMode, GraphClientFactory, GraphSettings, reads
from shared.primitives import mailbox_rules

READS = int(os.environ.get("BENCH_READS", "100"))
ADELE = f"adele.vance@{CONTOSO_DOMAIN}"


async def sdk_user(graph) -> object:
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
        select=["id", "userPrincipalName", "accountEnabled"])
    return await graph.users.by_user_id(ADELE).get(RequestConfiguration(query_parameters=query))


async def sdk_rules(graph) -> list:
    page = await mailbox_rules.inbox_rules(graph, ADELE).get()
    return [mailbox_rules.rule_json(r) for r in page.value or []]  # what list_rules returned before


async def json_user(graph) -> object:
    return await reads.read_user(graph, ADELE, "accountEnabled")


async def json_rules(graph) -> list:
    return await mailbox_rules.list_rules(graph, ADELE)


async def measure(read: Callable[[object], Awaitable[object]], graph) -> tuple[float, float]:
    rounds = []
    for _ in range(3):
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _ in range(READS):
            await read(graph)
        rounds.append(((time.process_time() - cpu0) / READS * 1000, (time.perf_counter() - t0) / READS * 1000))
    return statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)


async def main(graph_url: str) -> None:
    factory = GraphClientFactory(GraphSettings(base_url=graph_url, auth_mode=GraphAuthMode.LOCAL_TOKEN,
                                               client_id="riposte-bench"))
    graph = factory.for_tenant(CONTOSO_TENANT_ID)
    for read in (sdk_user, sdk_rules, json_user, json_rules):  # warm-up: model modules, connection
        await read(graph)
    print(f"Graph reads through the client, {READS} each, median of 3 rounds (CPU of this process / wall):")
    for label, sdk, pared in (("user", sdk_user, json_user), ("inbox rules (4)", sdk_rules, json_rules)):
        (sdk_cpu, sdk_wall), (json_cpu, json_wall) = await measure(sdk, graph), await measure(pared, graph)
        print(f"  {label}: SDK models {sdk_cpu:.2f} ms CPU / {sdk_wall:.2f} ms wall; "
              f"JSON {json_cpu:.2f} ms CPU / {json_wall:.2f} ms wall")
    await factory.aclose()


def parse_only() -> None:
    user = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,accountEnabled)"
            "/$entity", "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "userPrincipalName": ADELE,
            "accountEnabled": True}
    rule = {"id": "AQAAAJ5dZp8=", "displayName": "..", "sequence": 1, "isEnabled": True, "hasError": False,
            "isReadOnly": False, "conditions": {"bodyOrSubjectContains": ["invoice", "payment"]},
            "actions": {"forwardTo": [{"emailAddress": {"name": "Accounts", "address": "exfil@protonmail.example"}}],
                        "markAsRead": True}}
    user_bytes, rules_bytes = json.dumps(user).encode(), json.dumps({"value": [rule] * 3}).encode()
    cases = (
        ("one user", lambda: JsonParseNode(json.loads(user_bytes)).get_object_value(User),
         lambda: reads.GraphUser.model_validate(json.loads(user_bytes))),
        ("three rules", lambda: JsonParseNode(json.loads(rules_bytes)).get_object_value(MessageRuleCollectionResponse),
         lambda: [reads.without_nulls(r) for r in json.loads(rules_bytes)["value"]]),
    )
    print("Parse only (timeit, best of 3 x 50):")
    for label, sdk, pared in cases:
        sdk(), pared()
        best = [min(timeit.repeat(fn, number=50, repeat=3)) / 50 * 1000 for fn in (sdk, pared)]
        print(f"  {label}: SDK {best[0]:.2f} ms, JSON {best[1]:.3f} ms")


if __name__ == "__main__":
    with running_sandbox() as origin:
        asyncio.run(main(f"{origin}/v1.0"))
        parse_only()
