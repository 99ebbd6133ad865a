"""Patterns that make backtracking engines take exponential time: RE2 answers in linear time.

No timing assertions (the benchmark prints figures); these tests show such searches complete with the
right answer over the longest title, and that titles longer than the cap are not searched past it.
"""

from __future__ import annotations

import pytest

from shared.matching.index import PlaybookIndex
from shared.matching.naive import naive_match
from shared.matching.patterns import MAX_TITLE_CHARS, compile_pattern
from tests.matching.factories import alert, playbook

LONGEST = MAX_TITLE_CHARS

HOSTILE = [
    ("(a+)+$", "a" * (LONGEST - 1) + "!", False),  # catastrophic backtracking in re/PCRE
    ("(x+x+)+y", "x" * LONGEST, False),
    ("(.*a){20}", "a" * LONGEST, True),
    ("(?i)(.*[a-z]){30}$", "ab" * (LONGEST // 2), True),  # slow with capture groups, even in RE2
    ("(a|b)*a(a|b){20}", "ab" * (LONGEST // 2), True),  # exponential DFA states: RE2 falls back, still linear
    ("((a|b|c|d)*(e|f)*){50}x", "abcdef" * (LONGEST // 6), False),
]


@pytest.mark.parametrize(("pattern", "title", "expected"), HOSTILE)
def test_hostile_pattern_answers_over_the_longest_title(pattern: str, title: str, expected: bool) -> None:
    assert len(title) <= LONGEST
    pb = playbook(title_regex=pattern)
    an_alert = alert(title=title)
    [decision] = PlaybookIndex.build([pb], []).match(an_alert)
    assert decision.matched is expected
    assert naive_match([pb], [], an_alert)[0].matched is expected


def test_pattern_with_captures_matches_as_written() -> None:
    # Captures are compiled away (only "is there a match" matters); the language matched is the same.
    pattern = compile_pattern(r"(?P<user>\w+)@(contoso|fabrikam)\.com")
    assert pattern.search("sign-in by bob@fabrikam.com")
    assert not pattern.search("sign-in by bob@example.com")


def test_title_is_searched_up_to_the_cap_only() -> None:
    # Validation caps titles at 1024 characters; an alert built without it is capped by matching too.
    long_title = "a" * (10 * LONGEST) + "needle"
    an_alert = alert().model_copy(update={"title": long_title})
    index = PlaybookIndex.build([playbook("pb-end", title_regex="needle"), playbook("pb-start", title_regex="^a")], [])
    assert [p.id for p in index.matching(an_alert)] == ["pb-start"]
