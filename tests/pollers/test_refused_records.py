"""A polled record that cannot become an alert is skipped (the tenant's feed goes on) and logged as the
`alert.refused` event, as a refused delivery is: code, field, tenant, and the record's source and Graph id."""

from __future__ import annotations

import logging

from shared.sources.catalog import SourceName
from triggers.pollers import deliver_polled_records

TENANT = "11111111-1111-4111-8111-111111111111"


async def test_an_unreadable_record_is_skipped_and_logged_as_refused(caplog):
    caplog.set_level(logging.INFO, logger="riposte.events")
    deliver = deliver_polled_records(client=None, deliveries=None)  # nothing is delivered: the record is refused first

    assert await deliver(TENANT, SourceName.ALERTS_V2, {"id": "da637-rec", "severity": 42}) == 0

    [refused] = [r for r in caplog.records if getattr(r, "event", None) == "alert.refused"]
    assert (refused.levelname, refused.code, refused.tenantId, refused.source, refused.recordId) == (
        "WARNING", "invalid_alert", TENANT, SourceName.ALERTS_V2.value, "da637-rec")
    assert "a polled alerts_v2 record was refused" in refused.getMessage()
