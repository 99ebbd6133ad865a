"""User-supplied regular expressions: RE2 only (linear time: no pattern can hang the engine).

`Re2Pattern` is the field type for any pattern a playbook carries; it is checked when the playbook is
saved, with a reason a person can act on.
"""

from __future__ import annotations

from typing import Annotated

import re2
from pydantic import AfterValidator, Field

MAX_PATTERN_LENGTH = 512


def compile_re2(pattern: str) -> re2._Regexp:
    options = re2.Options()
    options.max_mem = 1 << 20  # 1 MiB per compiled program: huge repetitions are refused, not built
    options.log_errors = False
    options.never_capture = True  # the same matches, far faster on some patterns; groups are never read
    return re2.compile(pattern, options)


def _valid(pattern: str) -> str:
    try:
        compile_re2(pattern)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"invalid regular expression (RE2 syntax): {detail}") from None
    return pattern


# The length limits live in the schema too, so docs and UIs show them.
Re2Pattern = Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_LENGTH), AfterValidator(_valid)]
