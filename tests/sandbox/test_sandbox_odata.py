"""The sandbox's OData list options, as Graph applies them: $filter (comparisons with and/or/not and
parentheses, typed literals), $orderby, $select, $top and paging with @odata.nextLink."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from sandbox.errors import GraphError
from sandbox.odata import BOOL, DATETIME, STRING, Collection, page, parse_filter

THINGS = Collection(context="things", entity_type="microsoft.graph.thing",
                    properties=frozenset({"id", "createdDateTime", "severity", "enabled", "activity"}),
                    filterable={"createdDateTime": DATETIME, "severity": STRING, "enabled": BOOL,
                                "activity/lastDateTime": DATETIME},
                    default_page=2, max_top=3)
ITEMS = [
    {"id": "a", "createdDateTime": "2024-05-02T09:12:10.4533333Z", "severity": "High", "enabled": True,
     "activity": {"lastDateTime": "2024-01-01T00:00:00Z"}},
    {"id": "b", "createdDateTime": "2024-05-02T09:12:10.4533334Z", "severity": "low", "enabled": False,
     "activity": None},
    {"id": "c", "createdDateTime": "2024-05-03T00:00:00Z", "severity": "medium", "enabled": True,
     "activity": {"lastDateTime": "2024-06-01T00:00:00Z"}},
]
BASE = "http://127.0.0.1:1/v1.0"


def ids(text: str) -> list[str]:
    predicate = parse_filter(text, THINGS)
    return [i["id"] for i in ITEMS if predicate(i)]


@pytest.mark.parametrize(("text", "expected"), [
    ("createdDateTime gt 2024-05-02T09:12:10.4533333Z", ["b", "c"]),  # Graph's 7 digits: 100 ns apart counts
    ("createdDateTime ge 2024-05-02T09:12:10.453333Z", ["a", "b", "c"]),
    ("createdDateTime lt 2024-05-03T00:00:00+00:00", ["a", "b"]),
    ("severity eq 'high'", ["a"]),  # string equality ignores case, as Entra ID does
    ("severity eq 'high' or severity eq 'low'", ["a", "b"]),
    ("(severity eq 'high' or severity eq 'low') and enabled eq true", ["a"]),
    ("not (severity eq 'high') AND createdDateTime le 2024-05-03T00:00:00Z", ["b", "c"]),
    ("activity/lastDateTime le 2024-02-01T00:00:00Z", ["a"]),
    ("activity/lastDateTime eq null", ["b"]),
])
def test_filter_selects_what_graph_would(text, expected):
    assert ids(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("title eq 'x'", "does not support filtering"),
    ("startswith(severity,'h')", "function"),
    ("createdDateTime ge '2024-05-02T00:00:00Z'", "incompatible types"),
    ("severity eq high", "incompatible types"),
    ("createdDateTime ge 2024-13-02T00:00:00Z", "not a valid DateTimeOffset"),
    ("severity eq 'high' and", "unexpected end"),
    ("severity like 'high'", "operator"),
])
def test_a_filter_graph_would_refuse_is_a_400_saying_why(text, reason):
    with pytest.raises(GraphError) as caught:
        parse_filter(text, THINGS)
    assert caught.value.status == 400 and caught.value.code == "BadRequest"
    assert reason in caught.value.message


def test_pages_follow_next_link_until_the_last():
    query = {"$orderby": "createdDateTime desc", "$select": "id,severity"}
    first = page(ITEMS, query, BASE, "/things", THINGS)
    assert [v["id"] for v in first["value"]] == ["c", "b"]  # b is 100 ns after a
    assert first["value"][0] == {"id": "c", "severity": "medium"}
    assert first["@odata.context"] == f"{BASE}/$metadata#things(id,severity)"
    link = urlsplit(first["@odata.nextLink"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{BASE}/things"
    second = page(ITEMS, dict(parse_qsl(link.query)), BASE, "/things", THINGS)
    assert [v["id"] for v in second["value"]] == ["a"]
    assert "@odata.nextLink" not in second


def test_top_count_and_limits():
    body = page(ITEMS, {"$top": "1", "$count": "true", "$filter": "enabled eq true"}, BASE, "/things", THINGS)
    assert body["@odata.count"] == 2 and [v["id"] for v in body["value"]] == ["a"]
    assert "@odata.nextLink" in body
    with pytest.raises(GraphError, match="limit of '3' for Top query"):
        page(ITEMS, {"$top": "4"}, BASE, "/things", THINGS)
    with pytest.raises(GraphError, match="Could not find a property named 'nope'"):
        page(ITEMS, {"$select": "id,nope"}, BASE, "/things", THINGS)
    with pytest.raises(GraphError, match="skiptoken"):
        page(ITEMS, {"$skiptoken": "!!"}, BASE, "/things", THINGS)


def test_projection_never_shares_state_with_the_store():
    body = page(ITEMS, {}, BASE, "/things", THINGS)
    body["value"][0]["activity"]["lastDateTime"] = "changed"
    assert ITEMS[0]["activity"]["lastDateTime"] == "2024-01-01T00:00:00Z"
