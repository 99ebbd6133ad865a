"""Riposte's Azure Functions app: one Blueprint per area, registered here and nowhere else."""

import azure.durable_functions as df
import azure.functions as func

from activities.flow_steps import bp as flow_step_activities
from activities.playbook_steps import bp as playbook_step_activities
from activities.selftest import bp as selftest_activities
from orchestrations.playbook_run import bp as playbook_run_orchestrations
from orchestrations.selftest import bp as selftest_orchestrations
from shared import process_heap
from shared.graph import warmup as graph_warmup
from triggers.alert_queue import bp as alert_queue_triggers
from triggers.alerts import bp as alert_triggers
from triggers.approvals import bp as approval_triggers
from triggers.audit import bp as audit_triggers
from triggers.automation import bp as automation_triggers
from triggers.console import bp as console_triggers
from triggers.directory import bp as directory_triggers
from triggers.health import bp as health_triggers
from triggers.ingest_credentials import bp as ingest_credential_triggers
from triggers.metrics import bp as metrics_triggers
from triggers.notifications import bp as notification_triggers
from triggers.password_reveal import bp as password_reveal_triggers
from triggers.playbook_runs import bp as playbook_run_triggers
from triggers.playbook_templates import bp as playbook_template_triggers
from triggers.playbook_versions import bp as playbook_version_triggers
from triggers.playbooks import bp as playbook_triggers
from triggers.pollers import bp as poller_triggers
from triggers.primitives import bp as primitive_triggers
from triggers.reconcile import bp as reconcile_triggers
from triggers.runs import bp as run_triggers
from triggers.schedules import bp as schedule_triggers
from triggers.selftest import bp as selftest_triggers
from triggers.sources import bp as source_triggers

# Function-level keys by default: a route is anonymous only when it says so (the management API
# is anonymous to the host because App Service authentication and app roles guard it).
app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

BLUEPRINTS = (
    health_triggers,
    selftest_triggers,
    alert_triggers,
    alert_queue_triggers,
    playbook_triggers,
    playbook_version_triggers,
    playbook_run_triggers,
    playbook_template_triggers,
    automation_triggers,
    directory_triggers,
    ingest_credential_triggers,
    source_triggers,
    run_triggers,
    password_reveal_triggers,
    approval_triggers,
    audit_triggers,
    metrics_triggers,
    primitive_triggers,
    reconcile_triggers,
    poller_triggers,
    notification_triggers,
    schedule_triggers,
    console_triggers,
    selftest_orchestrations,
    playbook_run_orchestrations,
    selftest_activities,
    playbook_step_activities,
    flow_step_activities,
)

for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)

# The first Graph response of a process would otherwise import ~1,000 model classes (seconds). Once they are
# in, the start-up heap is frozen out of full GC collections, which walked it for 100-180 ms on the event loop.
graph_warmup.start(then=process_heap.freeze_startup_heap)
