"""Making the NormalizedAlert: sizes capped (truncate, never fail) and the model's own validation turned
into a PayloadError, so no pydantic error ever leaves this package."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.alert_payloads import lenient
from shared.alert_payloads.entities import EntityCollector
from shared.alert_payloads.errors import PayloadError
from shared.models.alert import AlertSource, AlertStatus, NormalizedAlert, Severity
from shared.validation import field_path

MAX_TITLE = 1024
MAX_DESCRIPTION = 32_768
MAX_CATEGORY = 100
MAX_SOURCE_CATEGORY = 256
MAX_HINTS = 20  # subscription / workspace ids per alert


def build_alert(
    *,
    source: AlertSource,
    source_alert_id: str,
    category: str,
    severity: Severity,
    status: AlertStatus,
    title: str,
    created_at: datetime,
    raw: dict[str, Any],
    description: str | None = None,
    source_category: str | None = None,
    tenant_id: str | None = None,
    subscription_ids: list[str | None] | None = None,
    workspace_ids: list[str | None] | None = None,
    entities: EntityCollector | None = None,
) -> NormalizedAlert:
    try:
        return NormalizedAlert(
            source=source,
            source_alert_id=source_alert_id,
            tenant_id=tenant_id,
            subscription_ids=_unique(subscription_ids),
            workspace_ids=_unique(workspace_ids),
            category=lenient.truncate(category, MAX_CATEGORY),
            source_category=lenient.truncate(source_category, MAX_SOURCE_CATEGORY) if source_category else None,
            severity=severity,
            status=status,
            title=lenient.truncate(title, MAX_TITLE),
            description=lenient.truncate(description or "", MAX_DESCRIPTION),
            created_at=created_at,
            entities=(entities or EntityCollector()).build(),
            raw=raw,
        )
    except ValidationError as exc:  # a bug here, not the sender's fault; still never a 500
        err = exc.errors()[0]
        raise PayloadError(f"cannot build the alert: {err['msg']}",
                           field_path(tuple(err["loc"])) if err["loc"] else None) from exc


def _unique(values: list[str | None] | None) -> list[str]:
    return list(dict.fromkeys(v for v in values or [] if v))[:MAX_HINTS]
