"""Ingestion credentials, one partition per tenant (a delivery reads only its tenant's few rows)."""

from __future__ import annotations

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.ingest_credentials import CREDENTIAL_ID, IngestCredential
from shared.store.directory import AlreadyExists, Conflict, NotFound
from shared.store.tables import Tables, get_json, put_json

INGEST_CREDENTIALS = "IngestCredentials"


def _entity(credential: IngestCredential) -> dict:
    return put_json({"PartitionKey": credential.tenant_id, "RowKey": credential.id}, "doc",
                    credential.model_dump(mode="json", by_alias=True))


def _from(entity) -> IngestCredential:
    return IngestCredential.model_validate(get_json(entity, "doc"))


class IngestCredentialStore:
    def __init__(self, tables: Tables):
        self._tables = tables

    @property
    def _table(self):
        return self._tables(INGEST_CREDENTIALS)

    def list(self, tenant_id: str) -> list[IngestCredential]:
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id})
        return sorted((_from(r) for r in rows), key=lambda c: c.created_at)

    def get(self, tenant_id: str, credential_id: str) -> tuple[IngestCredential, str]:
        """The credential and its etag (for a conditional update)."""
        if not CREDENTIAL_ID.match(credential_id):  # never a caller's text as a table key
            raise NotFound(credential_id)
        try:
            entity = self._table.get_entity(tenant_id, credential_id)
        except ResourceNotFoundError:
            raise NotFound(credential_id) from None
        return _from(entity), entity.metadata["etag"]

    def create(self, credential: IngestCredential) -> None:
        try:
            self._table.create_entity(_entity(credential))
        except ResourceExistsError:
            raise AlreadyExists(credential.id) from None

    def replace(self, credential: IngestCredential, etag: str) -> None:
        """Write a changed credential only if nobody changed it since it was read (Conflict otherwise)."""
        try:
            self._table.update_entity(_entity(credential), mode=UpdateMode.REPLACE, etag=etag,
                                      match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            raise Conflict(credential.id) from None
        except ResourceNotFoundError:
            raise NotFound(credential.id) from None

    def delete(self, tenant_id: str, credential_id: str) -> None:
        self._table.delete_entity(tenant_id, credential_id)
