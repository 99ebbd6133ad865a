"""Where the local stack's Azurite keeps data: in memory unless asked to keep it (docs/devhost.md, "Local data")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devhost.stack import (
    KEPT_DATA_WARNING_BYTES,
    ROOT,
    LocalStack,
    azurite_storage_args,
    data_size_bytes,
    parse_args,
    stack_from_args,
    storage_notice,
)


def test_the_stack_keeps_nothing_on_disk_by_default():
    stack = stack_from_args(parse_args([]))
    assert stack.in_memory_storage is True
    assert azurite_storage_args(stack.in_memory_storage, stack.data_dir) == ["--inMemoryPersistence"]
    assert LocalStack().in_memory_storage is True


def test_keep_data_puts_azurite_in_the_data_dir():
    stack = stack_from_args(parse_args(["--keep-data"]))
    assert stack.in_memory_storage is False
    assert azurite_storage_args(False, stack.data_dir) == ["--location", str(ROOT / ".azurite")]


def test_in_memory_is_still_accepted_and_cannot_be_combined_with_keep_data():
    assert stack_from_args(parse_args(["--in-memory"])).in_memory_storage is True
    with pytest.raises(SystemExit):
        parse_args(["--in-memory", "--keep-data"])


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize(("variables", "keeps"), [([], False), (["KEEP_DATA=1"], True), (["KEEP_DATA=0"], False),
                                                  (["KEEP_DATA="], False)])
def test_make_run_passes_keep_data_through(variables, keeps):
    printed = subprocess.run(["make", "-n", "run", *variables], cwd=ROOT, capture_output=True, text=True,  # noqa: S603, S607
                             check=True).stdout
    command = printed[printed.index("-m devhost.stack"):]
    assert ("--keep-data" in command) is keeps


def test_the_banner_warns_when_kept_data_has_grown(tmp_path: Path):
    assert "in memory" in storage_notice(True, tmp_path / "absent")
    data = tmp_path / ".azurite"
    data.mkdir()
    (data / "__azurite_db_table__.json").write_bytes(b"x" * 1024)
    assert data_size_bytes(data) == 1024
    assert "make reset" not in storage_notice(False, data)
    (data / "more.json").write_bytes(b"x" * KEPT_DATA_WARNING_BYTES)
    assert "make reset" in storage_notice(False, data)
    assert data_size_bytes(tmp_path / "absent") == 0
