"""The edge journal against damage and failing disks: every kind of invalid line quarantined
with its position (table), the quarantine file's format and bounds, I/O failures injected
into compaction, quarantine and append (ENOSPC, EIO: table), bounded memory on huge lines,
and arbitrary damaged bytes (Hypothesis) for which every operation works.

The helpers here (`decision`, `applied`, `fail_syscall`, `quarantine_records`) are shared
with the other tests/test_edge_journal_robustness_*.py files."""

from __future__ import annotations

import base64
import errno
import os
import tempfile
import tracemalloc
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from autoscaler.edge.journal import (
    Journal,
    JournalEntry,
    JournalError,
    Repair,
    decode_line,
    encode_line,
)
from autoscaler.edge.journal import latest_per_key as latest
from autoscaler.edge.journal_files import QUARANTINE_MAX_BYTES
from autoscaler.edge.journal_format import MAX_BAD_DETAILS, MAX_LINE_BYTES


def decision(number: int, name: str = "", **changes: Any) -> bytes:
    """Decision `number`'s line, its fields overridden by `changes` (to make bad ones)."""
    record = JournalEntry(number, name or f"ns/k{number}", 10.0 * number, 1, 2,
                          "cpu").to_dict()
    return encode_line({**record, **changes})


def applied(seq: int) -> bytes:
    return encode_line({"kind": "applied", "seq": seq, "note": "written"})


def framed(payload: bytes) -> bytes:
    """A line whose CRC is right, whatever its payload."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def quarantine_records(journal: Journal) -> list[dict[str, Any]]:
    path = journal.quarantine_path
    data = path.read_bytes() if path.exists() else b""
    return [decode_line(line) for line in data.splitlines()]


def fail_syscall(monkeypatch: pytest.MonkeyPatch, call: str, suffix: str,
                 code: int = errno.ENOSPC, partial: bool = False) -> None:
    """Make `os.<call>` fail with `code` for files whose path ends with `suffix` (fds are
    resolved through /proc/self/fd); `partial`: os.write first writes half, as a disk that
    fills up mid-file does."""
    real = getattr(os, call)
    wrote_half = False

    def fake(*args: Any, **kwargs: Any) -> Any:
        nonlocal wrote_half
        target = args[0]
        name = os.readlink(f"/proc/self/fd/{target}") if isinstance(target, int) else target
        if not str(name).endswith(suffix):
            return real(*args, **kwargs)
        if partial and not wrote_half:
            wrote_half = True
            return real(target, bytes(args[1])[: len(args[1]) // 2])
        raise OSError(code, os.strerror(code), str(name))

    monkeypatch.setattr(os, call, fake)


# --- every kind of invalid line: quarantined with its position, the rest usable ------------

PREFIX = [decision(1), applied(1)]  # decision 1, written
SUFFIX = [decision(2)]


@pytest.mark.parametrize("bad, reason", [
    pytest.param(decision(9)[:20] + bytes([decision(9)[20] ^ 0x01]) + decision(9)[21:],
                 "CRC mismatch", id="one-flipped-bit"),
    pytest.param(b"%08X" % zlib.crc32(decision(9)[9:-1]) + decision(9)[8:], "CRC mismatch",
                 id="crc-in-upper-case"),
    pytest.param(b"garbage from another program\n", "no '<crc> ' prefix", id="garbage-text"),
    pytest.param(b"\x00" * 40 + b"\n", "no '<crc> ' prefix", id="zero-filled-block"),
    pytest.param(b"\n", "no '<crc> ' prefix", id="empty-line"),
    pytest.param(b"x" * (MAX_LINE_BYTES + 1) + b"\n", "longer than", id="huge-line"),
    pytest.param(framed(b"{" * 10), "invalid JSON", id="crc-ok-json-broken"),
    pytest.param(framed(b"\xff\xfe{}"), "invalid JSON", id="crc-ok-not-utf8"),
    pytest.param(framed(b"[" * 30_000 + b"]" * 30_000), "invalid JSON", id="deeply-nested"),
    pytest.param(framed(b'{"kind":"decision","at_seconds":NaN}'), "invalid JSON",
                 id="nan-literal"),
    pytest.param(framed(b"[1]"), "not a JSON object", id="payload-not-an-object"),
    pytest.param(encode_line({"kind": "rollback", "seq": 3}), "unknown record kind",
                 id="unknown-kind"),
    pytest.param(encode_line({"seq": 3}), "unknown record kind", id="kind-missing"),
    pytest.param(decision(3, seq="3"), "'seq' must be a int", id="seq-a-string"),
    pytest.param(decision(3, desired_replicas=True), "'desired_replicas' must be",
                 id="replicas-a-bool"),
    pytest.param(decision(3, desired_replicas=-1), "out of range", id="replicas-negative"),
    pytest.param(decision(3, key=None), "'key' must be a str", id="key-missing"),
    pytest.param(decision(1), "does not follow", id="seq-repeated"),
    pytest.param(encode_line({"kind": "applied", "seq": 7}), "unknown or applied seq 7",
                 id="marker-for-unknown-seq"),
    pytest.param(applied(1), "unknown or applied seq 1", id="marker-twice"),
    pytest.param(encode_line({"kind": "applied", "seq": 1.5}), "'seq' must be",
                 id="marker-seq-a-float"),
])
def test_invalid_line_is_quarantined_with_its_position(tmp_path: Path, bad: bytes,
                                                       reason: str) -> None:
    path = tmp_path / "journal"
    path.write_bytes(b"".join([*PREFIX, bad, *SUFFIX]))
    reports: list[Repair] = []
    journal = Journal(path, on_repair=reports.append)
    read = journal.read()  # readers skip it, and say where it is
    expected = (JournalEntry(1, "ns/k1", 10.0, 1, 2, "cpu", True, "written"),
                JournalEntry(2, "ns/k2", 20.0, 1, 2, "cpu"))
    assert read.entries == expected
    offset = len(b"".join(PREFIX))
    (found,) = read.bad
    assert (found.number, found.offset, found.length) == (3, offset, len(bad))
    assert reason in found.reason
    entry = journal.record("ns/k3", 30.0, 1, 2, "cpu")  # a writer moves it aside first
    assert entry.seq == 3
    assert path.read_bytes() == b"".join([*PREFIX, *SUFFIX, decision(3, "ns/k3")])
    (report,) = reports
    assert (report.quarantined, report.error, report.bad) == (1, "", read.bad)
    assert f"line 3 at byte {offset}" in report.describe()
    (record,) = quarantine_records(journal)
    assert {k: record[k] for k in ("kind", "line", "offset", "length", "journal_size")} == {
        "kind": "quarantined", "line": 3, "offset": offset, "length": len(bad),
        "journal_size": len(b"".join([*PREFIX, bad, *SUFFIX]))}
    assert reason in record["reason"]
    kept = base64.b64decode(record["bytes_b64"])
    assert record["complete"] == (kept == bad[:-1])
    assert bad.startswith(kept) and len(kept) <= MAX_LINE_BYTES
    assert journal.read().clean and journal.repair() is None  # nothing left to do
    journal.close()


def test_line_at_the_cap_is_read_one_byte_more_is_quarantined(tmp_path: Path) -> None:
    line = decision(1, reason="")
    at_cap = decision(1, reason="r" * (MAX_LINE_BYTES + 1 - len(line)))
    assert len(at_cap) == MAX_LINE_BYTES + 1  # newline included
    over = decision(2, reason="r" * (MAX_LINE_BYTES + 2 - len(line)))
    path = tmp_path / "journal"
    path.write_bytes(at_cap + over)
    read = Journal(path).read()
    assert [e.seq for e in read.entries] == [1]
    assert [(b.number, b.offset, b.complete) for b in read.bad] == [(2, len(at_cap), False)]


def test_torn_tail_is_cut_not_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    path.write_bytes(decision(1) + decision(2)[:-5])
    reports: list[Repair] = []
    with Journal(path, on_repair=reports.append) as journal:
        repair = journal.repair()
    assert repair is not None and reports == [repair]
    assert (repair.torn_bytes, repair.bad_lines) == (len(decision(2)) - 5, 0)
    assert "cut a torn last line" in repair.describe()
    assert path.read_bytes() == decision(1)
    assert not journal.quarantine_path.exists()


def test_more_bad_lines_than_listed_are_quarantined_with_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    path.write_bytes(b"\n" * (MAX_BAD_DETAILS + 500) + decision(1))
    with Journal(path) as journal:
        repair = journal.repair()
        assert repair is not None and repair.bad_lines == MAX_BAD_DETAILS + 500
        records = quarantine_records(journal)
    assert [r["line"] for r in records[:-1]] == list(range(1, MAX_BAD_DETAILS + 1))
    assert records[-1] == {"kind": "quarantine_overflow", "lines": 500,
                           "after_line": MAX_BAD_DETAILS}
    assert path.read_bytes() == decision(1)


def test_quarantine_files_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    huge = b"y" * (MAX_LINE_BYTES - 1) + b"\n"  # kept whole: ~87 KiB of base64 each
    with Journal(path) as journal:
        for seq in range(1, 41):
            with path.open("ab") as raw:
                raw.write(huge)
            assert journal.record(f"k{seq}", 1.0, 1, 2, "cpu").seq == seq
        quarantine = journal.quarantine_path
        rotated = quarantine.with_name(quarantine.name + ".1")
        assert rotated.exists()
        assert quarantine.stat().st_size <= QUARANTINE_MAX_BYTES
        assert rotated.stat().st_size <= QUARANTINE_MAX_BYTES
        assert [e.seq for e in journal.entries()] == list(range(1, 41))


def test_reading_a_huge_line_holds_only_a_bounded_part_of_it(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    with path.open("wb") as raw:
        raw.write(decision(1))
        for _ in range(256):  # 16 MiB without a newline, then one
            raw.write(b"z" * 65536)
        raw.write(b"\n" + decision(2))
    tracemalloc.start()
    try:
        read = Journal(path).read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [e.seq for e in read.entries] == [1, 2]
    assert [(b.number, b.length) for b in read.bad] == [(2, 16 * 2**20 + 1)]
    assert peak < 1024 * 1024, peak


# --- failing disks: ENOSPC / EIO in every write path ----------------------------------------

def busy_journal(path: Path) -> bytes:
    with Journal(path) as journal:
        for n in range(6):
            entry = journal.record("ns/a" if n % 2 else "ns/b", float(n), 1, n, "cpu")
            if n < 4:
                journal.mark_applied(entry.seq, "written")
    return path.read_bytes()


@pytest.mark.parametrize("call, code, partial", [
    pytest.param("write", errno.ENOSPC, False, id="temp-write-enospc"),
    pytest.param("write", errno.ENOSPC, True, id="temp-half-written-then-enospc"),
    pytest.param("fsync", errno.ENOSPC, False, id="temp-fsync-enospc"),
    pytest.param("fsync", errno.EIO, False, id="temp-fsync-eio"),
    pytest.param("replace", errno.EIO, False, id="rename-eio"),
])
def test_failed_compaction_keeps_the_old_journal_and_no_temp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, code: int,
        partial: bool) -> None:
    path = tmp_path / "journal"
    old = busy_journal(path)
    old_entries = Journal(path).entries()
    fail_syscall(monkeypatch, call, ".compact", code, partial)
    with Journal(path) as journal, pytest.raises(JournalError, match=os.strerror(code)):
        journal.compact()
    assert path.read_bytes() == old
    assert not path.with_name("journal.compact").exists()
    monkeypatch.undo()  # space freed: the retry works
    with Journal(path) as journal:
        assert journal.compact() == 2
        assert journal.entries() == tuple(latest(old_entries))


@pytest.mark.parametrize("suffix, call", [
    pytest.param(".quarantine", "write", id="quarantine-write-enospc"),
    pytest.param(".quarantine", "fsync", id="quarantine-fsync-enospc"),
    pytest.param(".compact", "write", id="rewrite-write-enospc"),
    pytest.param(".compact", "replace", id="rewrite-rename-fails"),
])
def test_failed_quarantine_leaves_the_line_in_place_and_writes_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, call: str) -> None:
    path = tmp_path / "journal"
    damaged = decision(1) + b"bit rot\n" + decision(2)
    path.write_bytes(damaged)
    reports: list[Repair] = []
    journal = Journal(path, on_repair=reports.append)
    fail_syscall(monkeypatch, call, suffix)
    assert journal.record("ns/k3", 30.0, 1, 2, "cpu").seq == 3  # the append still works
    assert path.read_bytes() == damaged + decision(3, "ns/k3")
    assert not path.with_name("journal.compact").exists()
    (report,) = reports
    assert report.quarantined == 0 and os.strerror(errno.ENOSPC) in report.error
    assert "could not be quarantined" in report.describe()
    with pytest.raises(JournalError, match="could not be quarantined"):
        journal.compact()  # never drops the only copy of a bad line
    assert [e.seq for e in journal.entries()] == [1, 2, 3]
    for record in quarantine_records(journal):  # no half record left behind
        assert record["kind"] == "quarantined"
    monkeypatch.undo()
    repair = journal.repair()
    assert repair is not None and repair.quarantined == 1
    assert path.read_bytes() == decision(1) + decision(2) + decision(3, "ns/k3")
    assert quarantine_records(journal)[-1]["line"] == 2
    journal.close()


def test_rewrite_renamed_but_directory_fsync_failed_appends_to_the_new_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal"
    path.write_bytes(decision(1) + b"bit rot\n" + decision(2))
    path.with_name("journal.quarantine").touch()  # exists: only the rename's fsync is left
    fail_syscall(monkeypatch, "fsync", f"/{tmp_path.name}", errno.EIO)  # the directory's
    with Journal(path) as journal:
        assert journal.record("ns/k3", 30.0, 1, 2, "cpu").seq == 3
    monkeypatch.undo()
    assert path.read_bytes() == decision(1) + decision(2) + decision(3, "ns/k3")


@pytest.mark.parametrize("call, partial", [
    pytest.param("write", False, id="append-write-enospc"),
    pytest.param("write", True, id="append-half-written-then-enospc"),
    pytest.param("fsync", False, id="append-fsync-enospc"),
])
def test_failed_append_is_refused_and_leaves_the_journal_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, partial: bool) -> None:
    path = tmp_path / "journal"
    old = busy_journal(path)
    fail_syscall(monkeypatch, call, "/journal", partial=partial)
    with Journal(path) as journal, pytest.raises(JournalError, match="No space left"):
        journal.record("ns/c", 1.0, 1, 2, "cpu")
    monkeypatch.undo()
    assert path.read_bytes() == old


def test_unreadable_journal_is_a_journal_error(tmp_path: Path) -> None:
    (tmp_path / "journal").mkdir()  # e.g. a hostPath mounted wrongly
    with Journal(tmp_path / "journal") as journal:
        for operation in (journal.read, journal.repair, journal.compact):
            with pytest.raises(JournalError, match="failed"):
                operation()


# --- arbitrary damaged bytes ----------------------------------------------------------------

@st.composite
def valid_journals(draw: st.DrawFn) -> list[bytes]:
    lines: list[bytes] = []
    decided: list[int] = []
    for step in draw(st.lists(st.sampled_from("abcm"), max_size=12)):
        if step == "m" and decided:
            lines.append(applied(decided.pop(draw(st.integers(0, len(decided) - 1)))))
        elif step != "m":
            seq = len(lines) + 1
            lines.append(decision(seq, f"ns/{step}"))
            decided.append(seq)
    return lines


huge_lines = st.builds(lambda size, byte, end: bytes([byte]) * size + end,
                       st.sampled_from([MAX_LINE_BYTES - 1, MAX_LINE_BYTES, MAX_LINE_BYTES + 1,
                                        3 * MAX_LINE_BYTES]),
                       st.sampled_from(b"x{\n\x00"), st.sampled_from([b"", b"\n"]))
foreign_lines = st.one_of(
    st.binary(max_size=60).map(lambda b: b + b"\n"),
    st.dictionaries(st.sampled_from(["kind", "seq", "key", "note", "x"]),
                    st.none() | st.integers(-3, 30) | st.text(max_size=5)
                    | st.sampled_from(["decision", "applied"]), max_size=5).map(encode_line),
    huge_lines)
mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("zero"), st.integers(0, 10**6), st.integers(1, 200)),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), foreign_lines),
    st.tuples(st.just("splice"), st.integers(0, 10**6), st.binary(min_size=1, max_size=30)))


def damage(lines: list[bytes], steps: list[tuple[str, int, Any]]) -> bytes:
    for op, where, arg in steps:
        if op in ("duplicate", "insert"):
            index = where % (len(lines) + 1)
            line = arg if op == "insert" else (lines[index - 1] if index else b"")
            lines = [*lines[:index], line, *lines[index:]]
            continue
        data = bytearray(b"".join(lines))
        at = where % (len(data) + 1)
        if op == "flip" and at < len(data):
            data[at] ^= 1 << arg
        elif op == "truncate":
            del data[at:]
        elif op == "zero":
            data[at:at + arg] = bytes(len(data[at:at + arg]))
        elif op == "splice":
            data[at:at] = arg
        lines = [bytes(data)]
    return b"".join(lines)


@settings(max_examples=150, deadline=None)
@given(lines=valid_journals(), steps=st.lists(mutations, min_size=1, max_size=4))
def test_any_damage_leaves_every_operation_working(lines: list[bytes],
                                                   steps: list[tuple[str, int, Any]]) -> None:
    data = damage(lines, steps)
    # Durability is the crash tests' subject; here fsync would only make examples slow.
    with tempfile.TemporaryDirectory() as tmp, mock.patch("os.fsync"):
        path = Path(tmp) / "journal"
        path.write_bytes(data)
        reports: list[Repair] = []
        journal = Journal(path, on_repair=reports.append)
        before = journal.read()
        event(f"bad lines: {min(before.bad_lines, 3)}, torn: {before.torn_bytes > 0}")
        assert path.read_bytes() == data and before.size == len(data)
        repair = journal.repair()
        after = journal.read()
        assert after.clean and after.entries == before.entries  # only moved the damage out
        assert reports == ([] if before.clean else [repair])
        quarantined = quarantine_records(journal)
        assert [(r["line"], r["offset"]) for r in quarantined
                if r["kind"] == "quarantined"] == [(b.number, b.offset) for b in before.bad]
        for record in quarantined[: len(before.bad)]:
            head = base64.b64decode(record["bytes_b64"])
            assert data[record["offset"]:record["offset"] + len(head)] == head
        entry = journal.record("ns/new", 1.0, 1, 2, "cpu")
        assert entry.seq == before.last_seq + 1 and journal.pending("ns/new") == entry
        assert journal.compact() == len(latest((*before.entries, entry)))
        assert journal.entries() == tuple(latest((*before.entries, entry)))
        journal.close()
