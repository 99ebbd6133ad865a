"""Saving a change to a playbook, the same way for the API (`PATCH /api/playbooks/{id}`) and the console: the
scope it names must exist, a broad live trigger must be acknowledged, the If-Match version must be current, and
the change's audit event is written in its transaction, then delivered (shared/store/audit.py)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import Principal
from shared.errors import Refused
from shared.models.playbook import Playbook, PlaybookDraft, PlaybookPatch, broad_problem
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


def refuse_broad(playbook: PlaybookDraft) -> None:
    problem = broad_problem(playbook)
    if problem is not None:
        raise Refused(400, "invalid_request", problem, field="trigger")


def update_playbook(deps: Deps, playbook_id: str, patch: PlaybookPatch, if_match: str, who: Principal) -> Playbook:
    """The saved playbook. Raises Refused (400, naming the field), PreconditionFailed (If-Match is not the
    current version), Conflict (another writer saved in between) or NotFound."""
    if patch.trigger is not None:
        check_scope_exists(deps.directory, patch.trigger.tenant_scope)
    event = PendingEvent("playbook.updated", who.name,
                         changed=sorted(patch.model_dump(exclude_unset=True, by_alias=True)))
    updated = deps.playbooks.update(playbook_id, patch, if_match, actor=who.name, check=refuse_broad, audit=event)
    deps.audit.deliver_written(PLAYBOOKS, event)
    return updated
