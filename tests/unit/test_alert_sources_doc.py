"""docs/alert-sources.md states the limits the code applies."""

import re
from pathlib import Path

from triggers.alert_delivery import MAX_ALERTS_PER_DELIVERY

DOC = (Path(__file__).resolve().parents[2] / "docs" / "alert-sources.md").read_text(encoding="utf-8")


def test_the_alert_count_per_delivery_is_the_code_s():
    rows = [line for line in DOC.splitlines() if re.match(r"\| Alerts per (payload|delivery) \|", line)]
    assert len(rows) == 1, rows
    assert re.search(rf"\| {MAX_ALERTS_PER_DELIVERY}\b", rows[0]), rows[0]
