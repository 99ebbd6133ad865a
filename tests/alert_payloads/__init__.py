"""Tests of alert ingestion; fixtures in payloads/ (see payloads/README.md)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "payloads"


@cache
def _read(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def load_payload(name: str) -> Any:
    """A fresh copy of a fixture (tests mutate them)."""
    return copy.deepcopy(_read(name))


def all_payload_names() -> list[str]:
    return sorted(p.name for p in PAYLOADS.glob("*.json"))
