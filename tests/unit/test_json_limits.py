"""Nesting is bounded before the parser recurses: deep JSON is a ValueError (400), never RecursionError."""

import json

import pytest

from shared.json_limits import MAX_DEPTH, TooDeep, loads, nesting_depth


@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
def test_deep_nesting_is_refused_as_too_deep(opener, closer):
    with pytest.raises(TooDeep):
        loads(opener * 5000 + "1" + closer * 5000)


def test_the_limit_itself_is_accepted():
    doc = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert loads(doc) == json.loads(doc)
    with pytest.raises(TooDeep):
        loads("[" + doc + "]")


def test_brackets_inside_strings_are_text():
    text = json.dumps({"title": "[[[{{{" * 1000, "quote": 'a \\" [[[ "'})
    assert nesting_depth(text) == 1
    assert loads(text.encode())["title"].startswith("[[[")


def test_unbalanced_input_is_still_a_value_error():
    with pytest.raises(ValueError):
        loads('["unterminated')
    with pytest.raises(ValueError):
        loads("]]]")
