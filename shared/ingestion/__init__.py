"""Alert ingestion: detect a payload's source format and normalize it into NormalizedAlerts.

Pure functions, no I/O. Formats and mappings: docs/alert-sources.md."""

from shared.ingestion.detect import detect_format
from shared.ingestion.errors import PayloadError
from shared.ingestion.event_grid import unwrap_event
from shared.ingestion.normalize import normalize_payload

__all__ = ["PayloadError", "detect_format", "normalize_payload", "unwrap_event"]
