"""docs/primitives.md is generated from the registry: it must match it exactly."""

from pathlib import Path

from shared.primitives.catalog import PRIMITIVES
from shared.primitives.catalog_doc import REGENERATE, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "primitives.md"


def test_docs_list_every_primitive_as_the_registry_describes_it():
    assert DOC.read_text(encoding="utf-8") == render(), f"docs/primitives.md is stale: run `{REGENERATE}`"


def test_every_primitive_has_its_own_section_with_an_example():
    text = render()
    for name, primitive in PRIMITIVES.items():
        assert f"### `{name}`" in text
        assert primitive.summary in text
