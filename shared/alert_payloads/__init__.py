"""Alert payloads: detect a payload's source format and normalize it into NormalizedAlerts.

Pure functions, no I/O. Formats and mappings: docs/alert-sources.md."""

from shared.alert_payloads.detect import detect_format
from shared.alert_payloads.errors import PayloadError
from shared.alert_payloads.event_grid import unwrap_event
from shared.alert_payloads.normalize import normalize_payload

__all__ = ["PayloadError", "detect_format", "normalize_payload", "unwrap_event"]
