"""The console's audit log: newest first, filtered by actor, action, target and time, paged through the store,
bad filters refused at their field, attacker text escaped."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared import services

pytestmark = pytest.mark.stack
XSS = '</script><script>alert(1)</script><img src=x onerror=alert(1)>'


@pytest.fixture
def console(app_devhost):
    with httpx.Client(base_url=app_devhost.origin, timeout=20, follow_redirects=False) as c:
        yield c


def rows(page: httpx.Response) -> list[tuple[str, str]]:
    """(action, target) of each row shown."""
    found = re.findall(r'<th scope="row"><a href="/audit\?action=[^"]*">([^<]*)</a></th>\s*<td>(?:<a [^>]*>)?([^<]*)',
                       page.text)
    return [(html.unescape(a), html.unescape(t)) for a, t in found]


def older_link(page: httpx.Response) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next">Older</a>', page.text)
    return html.unescape(found.group(1)) if found else None


@pytest.fixture
def events():
    """Five events of one actor, a minute apart (newest last), one of them by another actor."""
    actor = f"auditor-{uuid.uuid4().hex[:8]}@msp.example"
    now = datetime.now(UTC)
    log = services.audit()
    run_id = "ru-" + uuid.uuid4().hex
    made = [("tenant.replaced", str(uuid.uuid4())), ("playbook.rollback", run_id), ("group.created", "west"),
            ("approval.decision", run_id), ("tenant.deleted", str(uuid.uuid4()))]
    for minutes, (action, target) in enumerate(made):
        log.record(action, target, {"n": minutes}, actor, at=now - timedelta(minutes=10 - minutes))
    log.record("tenant.created", made[0][1], {}, "someone-else", at=now - timedelta(minutes=3))
    return actor, made[::-1], now


def test_one_actors_events_newest_first_page_by_page(console, events):
    actor, newest_first, _ = events
    first = console.get("/audit", params={"actor": actor, "limit": "2"})
    assert first.status_code == 200
    assert rows(first) == newest_first[:2]
    second = console.get(older_link(first))
    assert rows(second) == newest_first[2:4]
    assert f"actor={actor}".replace("@", "%40") in older_link(first)  # the filter travels with the page
    third = console.get(older_link(second))
    assert rows(third) == newest_first[4:]
    assert 'rel="next"' not in third.text or rows(console.get(older_link(third))) == []
    assert "Newest</a>" in second.text


def test_filters_by_action_target_and_time(console, events):
    actor, newest_first, now = events
    by_action = console.get("/audit", params={"actor": actor, "action": "group.created"})
    assert rows(by_action) == [("group.created", "west")]
    run_id = newest_first[1][1]
    assert rows(console.get("/audit", params={"actor": actor, "target": run_id})) == [
        ("approval.decision", run_id), ("playbook.rollback", run_id)]
    # A browser's datetime-local value (no zone, no seconds) is UTC: only the last two minutes' events.
    since = (now - timedelta(minutes=7, seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
    assert rows(console.get("/audit", params={"actor": actor, "since": since, "until": ""})) == newest_first[:2]
    # Empty boxes (a submitted form sends them all) are no filter.
    every = console.get("/audit", params={"actor": actor, "action": "", "target": "", "since": "", "until": ""})
    assert rows(every) == newest_first


def test_targets_link_to_their_pages(console, events):
    actor, newest_first, _ = events
    page = console.get("/audit", params={"actor": actor}).text
    assert f'href="/runs/{newest_first[1][1]}"' in page
    assert f'href="/tenants/{newest_first[0][1]}"' in page
    assert 'href="/groups/west"' in page


@pytest.mark.parametrize(("params", "field", "reason"), [
    ({"since": "yesterday"}, "since", "ISO 8601"),
    ({"since": "2026-02-01T00:00", "until": "2026-01-01T00:00"}, "until", "later than since"),
    ({"actor": "x" * 300}, "actor", "1 to 256 characters"),
])
def test_a_bad_filter_is_refused_at_its_field(console, params, field, reason):
    page = console.get("/audit", params=params)
    assert page.status_code == 400
    assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true" aria-describedby="e-{field}"', page.text)
    assert reason in html.unescape(re.search(rf'id="e-{field}">([^<]*)<', page.text).group(1))


def test_a_page_link_not_made_here_is_refused(console):
    page = console.get("/audit", params={"continuationToken": "bm90IGEgdG9rZW4"})
    assert page.status_code == 400 and "not a token this API issued" in page.text


def test_attacker_text_in_events_renders_as_text(console):
    actor = f"x-{uuid.uuid4().hex[:8]}"
    services.audit().record("alert.refused", XSS, {"title": XSS}, actor)
    page = console.get("/audit", params={"actor": actor})
    assert page.status_code == 200
    assert XSS not in page.text and "<script>alert" not in page.text and "<img src=x" not in page.text
    assert html.escape(XSS) in page.text
