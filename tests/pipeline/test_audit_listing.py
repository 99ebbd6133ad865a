"""GET /api/audit, store side: newest first across day partitions, filters, time range, bounded paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from shared.alert_listing import InvalidQuery
from shared.audit_listing import AuditQuery, decode_audit_token, encode_audit_token
from shared.store.audit import AuditLog
from tests.table_limits import StrictTables

T0 = datetime(2026, 3, 10, 23, 59, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


@pytest.fixture
def audit(azurite_connection_string, table_prefix) -> AuditLog:
    return AuditLog(StrictTables(TableServiceClient.from_connection_string(azurite_connection_string),
                                 prefix=table_prefix))


def targets(audit: AuditLog, **params) -> list[str]:
    events, _ = audit.page(AuditQuery.from_params(params, NOW))
    return [e["target"] for e in events]


def test_newest_first_across_days_filtered_and_paged(audit):
    # Over three days, with an empty day between: t0 oldest, t4 newest.
    for i, (minutes, action, actor) in enumerate([(-2 * 1440, "playbook.created", "ann"),
                                                  (-2 * 1440 + 1, "tenant.created", "bob"),
                                                  (0, "playbook.updated", "ann"), (2, "playbook.rollback", "bob"),
                                                  (1440 - 61, "group.deleted", "ann")]):
        audit.record(action, f"t{i}", {"i": i}, actor, at=T0 + timedelta(minutes=minutes))
    assert targets(audit) == ["t4", "t3", "t2", "t1", "t0"]
    assert targets(audit, actor="ann") == ["t4", "t2", "t0"]
    assert targets(audit, action="playbook.rollback") == ["t3"]
    assert targets(audit, target="t1") == ["t1"]
    assert targets(audit, since=T0.isoformat(), until=(T0 + timedelta(minutes=2)).isoformat()) == ["t2"]
    seen, params = [], {"limit": "2"}
    for _ in range(4):
        events, next_page = audit.page(AuditQuery.from_params(params, NOW))
        seen += [e["target"] for e in events]
        if next_page is None:
            break
        params = {"limit": "2", "continuationToken": encode_audit_token(*next_page)}
    assert seen == ["t4", "t3", "t2", "t1", "t0"]
    first = audit.page(AuditQuery.from_params({"limit": "1"}, NOW))[0][0]
    assert first["action"] == "group.deleted" and first["actor"] == "ann" and first["details"] == {"i": 4}


def test_a_call_reads_a_bounded_number_of_days(audit):
    audit.record("playbook.created", "old", {}, "ann", at=NOW - timedelta(days=25))
    events, next_page = audit.page(AuditQuery.from_params({}, NOW))  # 30 days back, 10 reads a call
    assert events == [] and next_page is not None
    seen = []
    while next_page is not None:
        events, next_page = audit.page(AuditQuery.from_params(
            {"continuationToken": encode_audit_token(*next_page)}, NOW))
        seen += [e["target"] for e in events]
    assert seen == ["old"]


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"), ({"since": "then"}, "since"), ({"until": "1"}, "until"),
    ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until"),
    ({"since": "2020-01-01T00:00:00Z"}, "since"), ({"actor": "x" * 300}, "actor"),
    ({"continuationToken": "e30"}, "continuationToken"), ({"continuationToken": "!!"}, "continuationToken"),
])
def test_bad_parameters_name_their_field(params, field):
    with pytest.raises(InvalidQuery) as raised:
        AuditQuery.from_params(params, NOW)
    assert raised.value.field == field


def test_a_token_round_trips():
    day = NOW.date()
    assert decode_audit_token(encode_audit_token(day, {"PartitionKey": "a", "RowKey": "b"})) == \
        (day, {"PartitionKey": "a", "RowKey": "b"})
    assert decode_audit_token(encode_audit_token(day, None)) == (day, None)
