"""KnownRows (shared/store/known_rows.py): the rows this process wrote last, bounded, handed out as copies."""

from shared.store.known_rows import KnownRows


def row(n: int, **values) -> dict:
    return {"PartitionKey": "p", "RowKey": f"r{n}", **values}


def test_a_known_row_is_a_copy_with_its_etag():
    known = KnownRows()
    known.remember("t", row(1, status="running"), "W/1")

    found = known.known("t", "p", "r1")
    found["status"] = "changed by the caller"

    assert known.known("t", "p", "r1")["status"] == "running" and found.metadata["etag"] == "W/1"
    assert known.known("other table", "p", "r1") is None and known.known("t", "p", "r2") is None


def test_a_write_without_an_etag_or_a_forget_drops_the_row():
    known = KnownRows()
    known.remember("t", row(1), "W/1")
    known.remember("t", row(2), "W/2")

    known.remember("t", row(1), None)
    known.forget("t", "p", "r2")

    assert len(known) == 0


def test_the_least_recently_used_rows_go_first_beyond_the_limit():
    known = KnownRows(limit=2)
    known.remember("t", row(1), "W/1")
    known.remember("t", row(2), "W/2")
    known.known("t", "p", "r1")  # used: r2 is now the oldest

    known.remember("t", row(3), "W/3")

    assert [n for n in (1, 2, 3) if known.known("t", "p", f"r{n}") is not None] == [1, 3]
