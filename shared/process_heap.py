"""The app process's start-up heap, kept out of the garbage collector's full collections.

A worker imports function_app and warms msgraph-sdk's models once (shared/graph/warmup.py): ~140,000
objects (modules, classes, functions, deserializer tables) that live as long as the process. CPython's
full (generation 2) collection walks every tracked object, and it runs whenever the heap has grown by a
quarter: on the local stack each one held the event loop for 100-180 ms, in the middle of whatever
containment run was under way (the p99 of docs/benchmarks.md, "Issue 12, fifth pass"). `gc.freeze()`
moves what exists into the permanent generation, which no collection walks; objects made later are
collected as before, and a frozen object freed by reference counting is still freed. No collection first:
it would hold the GIL for as long as the pauses it removes, and what it would have found at that moment (a few
dozen cycles left over from imports) is a bounded, one-time cost.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Freeze every object that exists now; how many are frozen."""
    gc.freeze()
    return gc.get_freeze_count()
