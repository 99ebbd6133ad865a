"""A technician reveals, once, the passwords a run's step set: the API's POST /api/runs/{id}/steps/{index}/password
and the console's "Reveal password" both call `reveal_step`, so both consume the same one reveal and audit alike."""

from __future__ import annotations

from shared import passwords
from shared.passwords import RevealResult, RevealStore
from shared.store.alerts import AlertStore
from shared.store.audit import AuditLog


def reveal_step(run_id: str, step_index: int, actor: str, *, alerts: AlertStore, vault: RevealStore,
                audit: AuditLog) -> RevealResult:
    """The step's passwords (status 200) or why not (404/410/503, shared/passwords.reveal). Every attempt that
    reached a password step is audited as `password.reveal`, without the value. NotFound for an unknown run."""
    run = alerts.get_run(run_id)
    outcome = passwords.reveal(run, step_index, vault)
    if outcome.audit is not None:
        audit.record("password.reveal", run_id, outcome.audit, actor)
    return outcome
