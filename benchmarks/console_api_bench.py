"""Console API reads with 10,000 runs stored: GET /api/runs pages and GET /api/metrics/playbooks, store side.

Method: a fresh in-memory Azurite on free ports; RUNS run-list rows (shared/store/run_index.py; 20 playbooks,
created over 30 days, 1 % lost, 10 % with errors) and the daily counter rows those runs' ends would have
written, stored in transactions of 100 (not through intake: this measures the reads). Then each query is
timed REPEAT times: wall p50/p95 and CPU time per call of this process (the client side: the SDK's request
building and parsing, pydantic), with the load average. No index scan grows with the run count except a
rare filter's short pages (bounded by MAX_READS reads per call).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from azure.data.tables import TableServiceClient

from devhost.stack import throwaway_azurite
from shared.models.run import Run, RunStatus
from shared.run_listing import RUN_LIST_PARTITION, RunQuery
from shared.run_metrics import first_day, playbook_metrics
from shared.store.run_index import RunIndex, list_row, metrics_row_key
from shared.store.tables import ALERTS, Tables, put_json

NOW = datetime.now(UTC)
FAILURES = '{"1|disable_user|Forbidden":{"n":1,"message":"x"}}'


def seed(tables: Tables, runs: int, playbooks: list[str]) -> list[dict]:
    """Store the run-list rows and counters of `runs` runs; the run rows they were made from (each in its own
    alert's partition: benchmarks/console_pages_bench.py stores those too)."""
    rows, counters, entities = [], {}, []
    for n in range(runs):
        playbook_id = playbooks[n % len(playbooks)]
        status = RunStatus.LOST if n % 100 == 0 else RunStatus.COMPLETED_WITH_ERRORS if n % 10 == 1 \
            else RunStatus.SUCCEEDED
        created = NOW - timedelta(minutes=n * 30 * 24 * 60 / runs)
        alert_id = "al-" + uuid.uuid4().hex
        run = Run(id=f"ru-{alert_id[3:]}-{playbook_id}", alert_id=alert_id, playbook_id=playbook_id,
                  playbook_name="P", playbook_version=1, tenant_id=str(uuid.UUID(int=n % 50)), status=status,
                  created_at=created, completed_at=created, step_count=3)
        entity = put_json({"PartitionKey": alert_id, "RowKey": f"run|{run.id}", "status": status.value,
                           "playbookId": playbook_id, "rev": 2}, "doc", run.model_dump(mode="json", by_alias=True))
        rows.append(list_row(entity))
        entities.append(entity)
        key = metrics_row_key(created.date(), playbook_id)
        counter = counters.setdefault(key, {"PartitionKey": RUN_LIST_PARTITION, "RowKey": key,
                                            "playbookId": playbook_id, "day": created.date().isoformat(),
                                            "runs": 0, "failures": FAILURES})
        counter["runs"] += 1
    rows += list(counters.values())
    table = tables(ALERTS)
    for start in range(0, len(rows), 100):
        table.submit_transaction([("upsert", row) for row in rows[start:start + 100]])
    return entities


def timed(label: str, repeat: int, call) -> None:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        found = call()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    walls.sort()
    print(f"{label}: {found} items, wall p50 {statistics.median(walls):.1f} ms p95 "
          f"{walls[int(0.95 * (len(walls) - 1))]:.1f} ms, CPU {statistics.median(cpus):.1f} ms per call")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs stored (default 10,000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per query (default 20)")
    args = parser.parse_args()
    with throwaway_azurite() as connection_string:
        service = TableServiceClient.from_connection_string(connection_string)
        tables = Tables(service, prefix="bench")
        playbooks = [uuid.uuid4().hex for _ in range(20)]
        seed(tables, args.runs, playbooks)
        index = RunIndex(tables)
        print(f"{args.runs} runs, 20 playbooks; load average {os.getloadavg()[0]:.2f}")

        def page(**params):
            return lambda: len(index.page(RunQuery.from_params(params))[0])

        timed("GET /runs (50 newest)", args.repeat, page())
        timed("GET /runs?status=failed (1 % of runs)", args.repeat, page(status="failed"))
        timed("GET /runs?playbookId=... (5 %)", args.repeat, page(playbookId=playbooks[3]))
        week_ago = (NOW - timedelta(days=7)).isoformat()
        timed("GET /runs?since=7 days ago&status=completedWithErrors", args.repeat,
              page(since=week_ago, status="completedWithErrors"))
        today = NOW.date()
        timed("GET /metrics/playbooks (read + aggregate)", args.repeat,
              lambda: len(playbook_metrics(index.metrics_rows(first_day(today)), {}, today)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
