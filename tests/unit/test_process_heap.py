"""The app's start-up heap is frozen out of full GC collections once start-up is over (shared/process_heap.py).

Each check runs in a fresh interpreter: freezing is process-wide, and this process's heap is the test run's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    done = subprocess.run(  # noqa: S603 (the code is this test's own)
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_freezing_takes_what_exists_out_of_every_collection_and_later_objects_stay_collectable():
    out = run(
        "import gc\n"
        "from shared.process_heap import freeze_startup_heap\n"
        "before = [object()]\n"
        "frozen = freeze_startup_heap()\n"
        "after = [object()]\n"
        "tracked = gc.get_objects()\n"
        "print(frozen == gc.get_freeze_count() > 0, any(o is before for o in tracked),"
        " any(o is after for o in tracked))\n"
    )
    assert out == "True False True"


def test_the_app_freezes_its_heap_once_the_msgraph_models_are_warm():
    out = run(
        "import gc, threading\n"
        "import function_app\n"
        "[t.join(120) for t in threading.enumerate() if t.name == 'msgraph-warmup']\n"
        "from msgraph.generated.models.user import User\n"
        "print(gc.get_freeze_count() > 50_000, any(o is User for o in gc.get_objects()))\n"
    )
    assert out == "True False"  # the warmed models are out of the collections' walk
