"""Activity of the durable self-test: a real activity round trip, stamped with the worker's clock."""

from datetime import UTC, datetime

import azure.durable_functions as df

from shared.selftest import ProbeResult

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def selftest_probe(payload: dict) -> dict:
    return ProbeResult(instance_id=payload["instanceId"], ran_at=datetime.now(UTC).isoformat()).model_dump(
        by_alias=True
    )
