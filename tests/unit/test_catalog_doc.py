"""docs/primitives.md is generated from the registry: it must match it exactly."""

import re
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


# Counts the README and the docs state in prose ("38 response primitives", "(38 today)", "the 14 reversible
# ones"): the catalog's, so a new primitive cannot leave them behind (issue 17: a doc said 4, then 26, then 28).
_COUNTS = re.compile(r"\b(\d+) response primitives|primitives\.md\]\(primitives\.md\) \((\d+) today\)"
                     r"|\bthe (\d+) reversible ones")


def stated_counts(text: str) -> list[tuple[str, int]]:
    return [("reversible" if m.group(3) else "all", int(m.group(1) or m.group(2) or m.group(3)))
            for m in _COUNTS.finditer(text)]


def test_the_primitive_counts_the_docs_state_are_the_catalogs():
    root = DOC.parents[1]
    actual = {"all": len(PRIMITIVES), "reversible": sum(p.undo is not None for p in PRIMITIVES.values())}
    documents = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    stated = [(path.name, kind, n) for path in documents for kind, n in stated_counts(path.read_text(encoding="utf-8"))]
    assert [s for s in stated if actual[s[1]] != s[2]] == []
    assert len(stated) >= 3  # README's two and api.md's: the pattern still finds them


def test_stated_counts_are_read():
    assert stated_counts("- 26 response primitives (x); rollback undoes the 14 reversible ones") == [
        ("all", 26), ("reversible", 14)]
