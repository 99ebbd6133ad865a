"""axe-core (npm, installed by `make`) run in the page under test: the console must have no serious or critical
violations. The script is evaluated over Playwright's DevTools channel, which the page's CSP does not govern, so
the console's CSP stays strict while it is audited."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@lru_cache(maxsize=1)
def _axe_source() -> str:
    if not AXE.is_file():
        raise AssertionError(f"{AXE} missing: `make test` installs axe-core (npm ci)")
    return AXE.read_text()


def axe_violations(page) -> list[dict]:
    """Every violation axe-core finds on the page as it is now (WCAG 2 A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source() + "\n;undefined")
    return page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")


def assert_accessible(page) -> None:
    """No serious or critical axe-core violation; the message lists what and where."""
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not blocking, "axe-core: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
                                                  for v in blocking)
