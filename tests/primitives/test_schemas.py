"""Parameter schemas (shared/schemas/) and the handlers' catalog: one schema per primitive, one handler per schema,
and a playbook validated without loading any handler (issue 13: models depend on schemas, not on primitives)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from shared.api_model import CamelModel
from shared.primitives.catalog import PRIMITIVES, _in_schema_order
from shared.primitives.registry import REGISTRY, Primitive, register
from shared.schemas.primitives import PRIMITIVE_PARAMS, is_destructive


def test_every_primitive_is_registered_with_its_schema_in_the_schemas_order():
    assert list(PRIMITIVES) == list(PRIMITIVE_PARAMS)
    assert all(PRIMITIVES[name].params is schema for name, schema in PRIMITIVE_PARAMS.items())


def test_destructive_is_the_schemas_word():
    assert {n for n, p in PRIMITIVES.items() if p.destructive} == {n for n in PRIMITIVE_PARAMS if is_destructive(n)}
    assert is_destructive("wipe_device") and not is_destructive("notify_email") and not is_destructive("approval")


def test_a_handler_without_a_schema_or_a_schema_without_a_handler_is_refused():
    extra = replace(PRIMITIVES["notify_email"], name="notify_pager")
    with pytest.raises(LookupError, match="handlers without a schema: \\['notify_pager'\\]"):
        _in_schema_order({**REGISTRY, "notify_pager": extra})
    missing = {n: p for n, p in REGISTRY.items() if n != "wipe_device"}
    with pytest.raises(LookupError, match="schemas without a handler: \\['wipe_device'\\]"):
        _in_schema_order(missing)
    other_schema = replace(PRIMITIVES["wipe_device"], params=PRIMITIVE_PARAMS["retire_device"])
    with pytest.raises(LookupError, match="wipe_device is registered with RetireDeviceParams"):
        _in_schema_order({**REGISTRY, "wipe_device": other_schema})


def test_a_schema_that_does_not_say_whether_it_is_destructive_is_refused():
    class Undeclared(CamelModel):
        type: Literal["undeclared_test"]

    class Declared(CamelModel):
        type: Literal["undeclared_test"]
        destructive: ClassVar[bool] = False

    spec = replace(PRIMITIVES["notify_email"], name="undeclared_test", params=Undeclared)
    with pytest.raises(ValueError, match="must declare destructive"):
        register(spec)
    assert "undeclared_test" not in REGISTRY
    assert isinstance(replace(spec, params=Declared), Primitive)


def test_a_playbook_is_validated_without_loading_a_single_handler():
    code = ("import sys\n"
            "from shared.models.playbook import PlaybookDraft\n"
            "PlaybookDraft.model_validate({'name': 'x', 'trigger': {}, 'actions': [{'type': 'wipe_device'},"
            " {'type': 'notify_email', 'to': ['a@b.com']}], 'approvalPolicy': {'approvers': ['c@d.com']}})\n"
            "print(sorted(m for m in sys.modules if m.startswith('shared.primitives')))\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,  # noqa: S603 (our own code)
                            cwd=Path(__file__).resolve().parents[2]).stdout
    assert loaded.strip() == "[]"
