"""The order of a delivery's writes around its runs' start (triggers/alert_delivery.Delivery.accept_alerts): the
runs start before the alert's list row and their run-list rows are written (not on containment's critical path),
and the delivery is answered only once they are."""

from __future__ import annotations

from shared.alert_listing import AlertQuery
from shared.run_listing import RunQuery
from shared.store.alerts import AlertStore
from shared.store.audit import AuditLog
from shared.store.run_index import RunIndex
from tests.pipeline.test_alert_recording import T1, normalized, playbook, recorder  # noqa: F401 (fixtures)
from triggers.alert_delivery import Delivery


class ObservingDurable:
    """Starts nothing; records, at each start, whether the alert was listed then."""

    def __init__(self, tables):
        self.store = AlertStore(tables)
        self.runs = RunIndex(tables)
        self.listed_at_start: list[tuple[bool, bool]] = []

    def listed(self) -> tuple[bool, bool]:
        """(the alert is in the alert list, a run is in the run list)"""
        alerts, _ = self.store.list_page(AlertQuery.from_params({}))
        runs, _ = self.runs.page(RunQuery.from_params({}))
        return bool(alerts), bool(runs)

    async def start_new(self, name, instance_id=None, client_input=None):
        assert self.store.get_run(instance_id) is not None  # its run row exists before it starts
        self.listed_at_start.append(self.listed())
        return instance_id


async def test_the_run_starts_before_the_list_row_and_the_delivery_lists_it(tables, recorder):  # noqa: F811
    playbook(tables, {"type": "all"})
    durable = ObservingDurable(tables)
    delivery = Delivery(recorder, tables, AuditLog(tables))

    [summary] = await delivery.accept_alerts([normalized(tenant_id=T1)], durable, None)

    assert durable.listed_at_start == [(False, False)]
    assert len(summary["runIds"]) == 1 and durable.listed() == (True, True)


async def test_receive_still_lists_a_new_alert_and_its_runs(tables, recorder):  # noqa: F811
    playbook(tables, {"type": "all"})
    result = await recorder.receive(normalized(tenant_id=T1))
    assert result.unlisted is None
    [listed], _ = AlertStore(tables).list_page(AlertQuery.from_params({}))
    [run], _ = RunIndex(tables).page(RunQuery.from_params({}))
    assert (listed.id, [run.id]) == (result.alert.id, result.run_ids)
