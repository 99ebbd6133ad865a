"""Playbooks: the live row ("current") plus one immutable snapshot per version, saved in one transaction.

Runs record the version they ran; the snapshot shows exactly what that version did. Concurrent edits
are detected twice: the client's If-Match (a version ETag) and the table's ETag on the write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.models.playbook import Playbook, PlaybookDraft, PlaybookPatch, TemplateRef
from shared.store.audit import PendingEvent
from shared.store.directory import Conflict, NotFound, bump_revision
from shared.store.tables import PLAYBOOKS, Tables, get_json, put_json

CURRENT = "current"


def version_row(version: int) -> str:
    return f"v{version:08d}"


def etag_of(playbook: Playbook) -> str:
    return f'"v{playbook.version}"'


class PreconditionFailed(Exception):
    """If-Match named a version that is no longer current."""

    def __init__(self, current: Playbook):
        super().__init__(etag_of(current))
        self.current = current


def _entity(playbook: Playbook, row_key: str) -> dict[str, Any]:
    entity = {"PartitionKey": playbook.id, "RowKey": row_key, "name": playbook.name,
              "enabled": playbook.enabled, "version": playbook.version}
    return put_json(entity, "doc", playbook.model_dump(mode="json", by_alias=True))


def _audited(operations: list[tuple], playbook: Playbook, audit: PendingEvent | None) -> list[tuple]:
    """The change's operations and, when asked, its audit event as a pending row in the same partition and
    transaction (shared/store/audit.py): a crash after the change cannot leave it unaudited."""
    if audit is None:
        return operations
    return [*operations, ("create", audit.row(playbook.id, playbook.id, name=playbook.name,
                                              version=playbook.version))]


def _from_entity(entity: dict[str, Any]) -> Playbook:
    return Playbook.model_validate(get_json(entity, "doc"))


class PlaybookStore:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(PLAYBOOKS)

    def list(self) -> list[Playbook]:
        rows = self._table.query_entities(f"RowKey eq '{CURRENT}'")
        return sorted((_from_entity(r) for r in rows), key=lambda p: (p.name.lower(), p.id))

    def _get_with_etag(self, playbook_id: str) -> tuple[Playbook, str]:
        try:
            entity = self._table.get_entity(playbook_id, CURRENT)
        except ResourceNotFoundError:
            raise NotFound(playbook_id) from None
        return _from_entity(entity), entity.metadata["etag"]

    def get(self, playbook_id: str) -> Playbook:
        return self._get_with_etag(playbook_id)[0]

    def get_version(self, playbook_id: str, version: int) -> Playbook:
        try:
            return _from_entity(self._table.get_entity(playbook_id, version_row(version)))
        except ResourceNotFoundError:
            raise NotFound(f"{playbook_id} v{version}") from None

    def versions(self, playbook_id: str, limit: int, token: dict[str, str] | None
                 ) -> tuple[list[Playbook], dict[str, str] | None]:
        """A page of the playbook's saved versions, oldest first (one range read), and the next page's token.
        Versions outlive a deleted playbook: its runs still point at what they ran."""
        pages = self._table.query_entities("PartitionKey eq @pk and RowKey ge 'v' and RowKey lt 'w'",
                                           parameters={"pk": playbook_id}, results_per_page=limit).by_page(token)
        versions = [_from_entity(row) for row in next(pages, [])]
        return versions, pages.continuation_token or None

    def create(self, draft: PlaybookDraft, actor: str, template: TemplateRef | None = None,
               audit: PendingEvent | None = None) -> Playbook:
        now = datetime.now(UTC)
        playbook = Playbook(id=uuid.uuid4().hex, version=1, created_at=now, updated_at=now, updated_by=actor,
                            template=template, **draft.model_dump())
        self._table.submit_transaction(_audited([
            ("create", _entity(playbook, CURRENT)),
            ("create", _entity(playbook, version_row(1))),
        ], playbook, audit))
        bump_revision(self._tables)
        return playbook

    def update(self, playbook_id: str, patch: PlaybookPatch, if_match: str, actor: str,
               check: Callable[[Playbook], None] | None = None, template: TemplateRef | None = None,
               audit: PendingEvent | None = None) -> Playbook:
        """Apply the patch; `check` sees the merged playbook before anything is written (and may raise).
        `template`: the template version the playbook now follows (a template update), else kept as stored."""
        current, table_etag = self._get_with_etag(playbook_id)
        if if_match.strip() not in (etag_of(current), "*"):
            raise PreconditionFailed(current)
        changes = patch.model_dump(exclude_unset=True)
        if template is not None:
            changes["template"] = template.model_dump()
        merged = current.model_dump() | changes | {
            "version": current.version + 1, "updated_at": datetime.now(UTC), "updated_by": actor,
        }
        updated = Playbook.model_validate(merged)
        if check is not None:
            check(updated)
        try:
            self._table.submit_transaction(_audited([
                ("update", _entity(updated, CURRENT),
                 {"mode": UpdateMode.REPLACE, "etag": table_etag, "match_condition": MatchConditions.IfNotModified}),
                ("create", _entity(updated, version_row(updated.version))),
            ], updated, audit))
        except (TableTransactionError, HttpResponseError) as exc:
            # Another writer saved in between (stale table ETag, or its version row exists already).
            raise Conflict(playbook_id) from exc
        bump_revision(self._tables)
        return updated

    def delete(self, playbook_id: str, if_match: str | None, audit: PendingEvent | None = None) -> Playbook:
        """Delete the playbook; the version deleted."""
        current, table_etag = self._get_with_etag(playbook_id)
        if if_match is not None and if_match.strip() not in (etag_of(current), "*"):
            raise PreconditionFailed(current)
        # Version snapshots stay: runs that used this playbook still point at what they ran.
        try:
            if audit is None:
                self._table.delete_entity(playbook_id, CURRENT, etag=table_etag,
                                          match_condition=MatchConditions.IfNotModified)
            else:
                self._table.submit_transaction(_audited([
                    ("delete", {"PartitionKey": playbook_id, "RowKey": CURRENT},
                     {"etag": table_etag, "match_condition": MatchConditions.IfNotModified})], current, audit))
        except (TableTransactionError, HttpResponseError) as exc:
            raise Conflict(playbook_id) from exc
        bump_revision(self._tables)
        return current
