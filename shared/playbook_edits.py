"""Saving a change to a playbook, the same way for the API (`PATCH /api/playbooks/{id}`) and the console: the
scope it names must exist, http_request steps may call only allow-listed hosts, no outbound step may name an
address Riposte may not reach, a broad live trigger must be
acknowledged, the If-Match version must be current, and
the change's audit event is written in its transaction, then delivered (shared/store/audit.py)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import Principal
from shared.errors import Refused
from shared.models.playbook import Playbook, PlaybookDraft, PlaybookPatch, broad_problem
from shared.outbound_guard import host_allowed, url_refusal
from shared.schemas.http_request import HttpRequestParams
from shared.schemas.webhook import CallWebhookParams
from shared.store.audit import AuditLog, PendingEvent
from shared.store.directory import DirectoryStore
from shared.store.playbooks import PlaybookStore
from shared.store.tables import PLAYBOOKS
from shared.tenant_references import check_scope_exists


@dataclass(frozen=True)
class Deps:
    """What saving reads and writes (the caller passes shared/services.py's)."""

    playbooks: PlaybookStore
    directory: DirectoryStore
    audit: AuditLog
    # The hosts http_request steps may call (settings.http_request_hosts); empty: none.
    request_hosts: frozenset[str] = frozenset()
    # The hosts any outbound step may reach at a loopback or private address (settings.outbound_private_hosts).
    private_hosts: frozenset[str] = frozenset()


def refuse_broad(playbook: PlaybookDraft) -> None:
    problem = broad_problem(playbook)
    if problem is not None:
        raise Refused(400, "invalid_request", problem, field="trigger")


def refuse_unlisted_hosts(actions: list | None, allowed: frozenset[str],
                          private_hosts: frozenset[str] = frozenset()) -> None:
    """An http_request step to a host the deployment does not allow, or an http_request or call_webhook step whose
    URL names an address Riposte may not reach (loopback or private, unless RIPOSTE_OUTBOUND_PRIVATE_HOSTS lists
    it), is refused when the playbook is saved; and again when it runs (the lists may shrink, and a name is
    checked against the addresses it resolves to then: shared/outbound_guard.py)."""
    for i, action in enumerate(actions or []):
        if isinstance(action, HttpRequestParams) and not host_allowed(action.host, allowed):
            listed = ", ".join(sorted(allowed)) or "none"
            raise Refused(400, "invalid_request", f"{action.host} is not on this deployment's allow-list of hosts "
                          f"http_request steps may call (RIPOSTE_HTTP_REQUEST_HOSTS: {listed})",
                          field=f"actions[{i}].url")
        if isinstance(action, HttpRequestParams | CallWebhookParams):
            problem = url_refusal(action.url, private_hosts)
            if problem:
                raise Refused(400, "invalid_request", f"{problem}: Riposte does not call it",
                              field=f"actions[{i}].url")


def update_playbook(deps: Deps, playbook_id: str, patch: PlaybookPatch, if_match: str, who: Principal) -> Playbook:
    """The saved playbook. Raises Refused (400, naming the field), PreconditionFailed (If-Match is not the
    current version), Conflict (another writer saved in between) or NotFound."""
    if patch.trigger is not None:
        check_scope_exists(deps.directory, patch.trigger.tenant_scope)
    refuse_unlisted_hosts(patch.actions, deps.request_hosts, deps.private_hosts)
    event = PendingEvent("playbook.updated", who.name,
                         changed=sorted(patch.model_dump(exclude_unset=True, by_alias=True)))
    updated = deps.playbooks.update(playbook_id, patch, if_match, actor=who.name, check=refuse_broad, audit=event)
    deps.audit.deliver_written(PLAYBOOKS, event)
    return updated
