"""A minimal app for engine benchmarks: an orchestrator that chains N no-op activities."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="step")
def noop_step(step: int) -> int:
    return step


@app.orchestration_trigger(context_name="context")
def chain_orchestrator(context: df.DurableOrchestrationContext):
    steps = context.get_input(expected_type=int)
    total = 0
    for step in range(steps):
        total += yield context.call_activity(noop_step, step)
    return total
