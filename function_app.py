"""Riposte's Azure Functions app: one Blueprint per area, registered here and nowhere else."""

import azure.durable_functions as df
import azure.functions as func

from activities.selftest import bp as selftest_activities
from orchestrations.selftest import bp as selftest_orchestrations
from triggers.health import bp as health_triggers
from triggers.selftest import bp as selftest_triggers

# Function-level keys by default: a route is anonymous only when it says so.
app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (
    health_triggers,
    selftest_triggers,
    selftest_orchestrations,
    selftest_activities,
):
    app.register_functions(blueprint)
