"""The edge decision journal: round trips, torn tails, invalid lines skipped by readers and
quarantined by writers, CRCs, pending/applied semantics, crash-safe compaction, and real
SIGKILLs of a writer process. (Quarantine format, injected I/O failures, racing processes,
arbitrary bytes and the agent: tests/test_edge_journal_robustness*.py.)"""

from __future__ import annotations

import fcntl
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.edge.journal import (
    Journal,
    JournalEntry,
    JournalError,
    decode_line,
    encode_line,
    parse,
)

REPO = Path(__file__).resolve().parents[1]

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
records = st.dictionaries(st.text(max_size=8), json_scalars, max_size=4)
entries = st.builds(
    JournalEntry, seq=st.integers(1, 10**9), key=st.text(max_size=20),
    at_seconds=st.floats(0, 1e10, allow_nan=False), current_replicas=st.integers(0, 1000),
    desired_replicas=st.integers(0, 1000), reason=st.text(max_size=30), applied=st.booleans(),
    note=st.text(max_size=30))


def decision(seq: int, key: str = "") -> bytes:
    return encode_line(JournalEntry(seq, key or f"ns/k{seq}", 10.0 * seq, 1, 2, "cpu").to_dict())


def write_decisions(path: Path, count: int) -> list[int]:
    with Journal(path) as journal:
        return [journal.record(f"ns/k{n}", 10.0 * n, 1, 2, "cpu").seq
                for n in range(1, count + 1)]


def seqs(path: Path) -> list[int]:
    return [entry.seq for entry in Journal(path).entries()]


# --- round trip ---------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.lists(records, max_size=6))
def test_line_round_trip(items: list[dict[str, Any]]) -> None:
    for item in items:
        assert decode_line(encode_line(item)[:-1]) == item


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 50), st.booleans()),
                max_size=8))
def test_decisions_round_trip(steps: list[tuple[str, int, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Journal(Path(tmp) / "j") as journal:
        expected = []
        for key, desired, applied in steps:
            entry = journal.record(key, 5.0, 1, desired, "cpu")
            if applied:
                journal.mark_applied(entry.seq, "written")
                entry = JournalEntry(entry.seq, key, 5.0, 1, desired, "cpu", True, "written")
            expected.append(entry)
        assert Journal(journal.path).entries() == tuple(expected)  # a fresh reader
        assert Journal(journal.path).read().clean


@given(entries)
def test_entry_dict_round_trip(entry: JournalEntry) -> None:
    assert JournalEntry.from_dict(entry.to_dict()) == entry


@pytest.mark.parametrize("field, value", [
    pytest.param("seq", "1", id="seq-string"),
    pytest.param("desired_replicas", True, id="replicas-bool"),
    pytest.param("key", None, id="key-missing"),
    pytest.param("note", 3, id="note-int"),
])
def test_entry_from_dict_rejects_bad_fields(field: str, value: object) -> None:
    record = JournalEntry(1, "ns/hpa", 10.0, 1, 2, "cpu").to_dict()
    record[field] = value
    with pytest.raises(JournalError, match=field):
        JournalEntry.from_dict(record)


def test_missing_journal_reads_empty(tmp_path: Path) -> None:
    read = Journal(tmp_path / "absent.jsonl").read()
    assert (read.entries, read.torn_bytes, read.bad_lines) == ((), 0, 0)


# --- torn tails: cut, never quarantined ---------------------------------------------------

def test_torn_tail_at_every_byte_offset(tmp_path: Path) -> None:
    full = decision(1) + decision(2) + decision(3)
    last = len(decision(3))
    for kept in range(last):  # kept == last - 1: the whole line but its newline
        path = tmp_path / f"torn-{kept}.jsonl"
        path.write_bytes(full[: len(full) - last + kept])
        read = Journal(path).read()
        assert [e.seq for e in read.entries] == [1, 2], kept
        assert (read.torn_bytes, read.bad_lines) == (kept, 0)
        with Journal(path) as journal:
            assert journal.record("ns/k", 40.0, 1, 2, "cpu").seq == 3
        assert Journal(path).read().clean
        assert seqs(path) == [1, 2, 3]
        assert not journal.quarantine_path.exists()


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 5), cut=st.integers(0, 10**6),
       garbage=st.binary(max_size=40).filter(lambda b: b"\n" not in b))
def test_torn_or_garbage_tail_loses_only_the_last_line(count: int, cut: int,
                                                       garbage: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.jsonl"
        write_decisions(path, count)
        data = path.read_bytes()
        last = len(decision(count))
        # Power loss: part of the unsynced line persisted, the rest is arbitrary bytes.
        path.write_bytes(data[: len(data) - last + cut % last] + garbage)
        assert seqs(path) == list(range(1, count))
        with Journal(path) as journal:
            journal.record("after", 1.0, 1, 2, "cpu")
        assert [e.key for e in Journal(path).entries()][-1] == "after"
        assert seqs(path) == list(range(1, count + 1))


# --- invalid complete lines: readers skip them, writers quarantine them -------------------

GOOD = decision(1)


@pytest.mark.parametrize("bad", [
    pytest.param(GOOD[:12] + bytes([GOOD[12] ^ 0x20]) + GOOD[13:], id="payload-byte-flipped"),
    pytest.param(b"00000000" + GOOD[8:], id="wrong-crc"),
    pytest.param(b"%08X" % zlib.crc32(GOOD[9:-1]) + GOOD[8:], id="crc-in-upper-case"),
    pytest.param(b"\n", id="empty-line"),
    pytest.param(GOOD.replace(b" ", b"", 1), id="no-separator"),
    pytest.param(GOOD[:9] + b"[1]\n", id="crc-of-other-payload"),
    pytest.param(b"%08x [1]\n" % zlib.crc32(b"[1]"), id="payload-not-an-object"),
])
@pytest.mark.parametrize("where", [pytest.param(0, id="first"), pytest.param(1, id="middle"),
                                   pytest.param(2, id="last")])
def test_invalid_line_anywhere_is_skipped_then_quarantined(tmp_path: Path, bad: bytes,
                                                           where: int) -> None:
    lines = [decision(1), decision(2)]
    lines.insert(where, bad)
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b"".join(lines))
    read = Journal(path).read()
    assert [e.seq for e in read.entries] == [1, 2]
    assert [(b.number, b.offset) for b in read.bad] == [(where + 1,
                                                         len(b"".join(lines[:where])))]
    assert path.read_bytes() == b"".join(lines)  # reading changes nothing
    with Journal(path) as journal:
        assert journal.record("ns/k", 1.0, 1, 2, "cpu").seq == 3
    assert path.read_bytes() == decision(1) + decision(2) + Journal(path).read().kept[-1]
    assert seqs(path) == [1, 2, 3]
    assert journal.quarantine_path.exists()


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_crc_detects_any_single_byte_change(position: int, byte: int) -> None:
    line = bytearray(decision(7))
    position %= len(line) - 1  # not the newline
    if line[position] == byte:
        return
    line[position] = byte
    read = parse(bytes(line) + decision(8))
    assert [e.seq for e in read.entries] == [8]
    assert read.bad[0].number == 1 and read.bad[0].offset == 0


# --- decisions: pending / mark_applied ----------------------------------------------------

def apply_steps(journal: Journal, steps: list[tuple[str, Any]]) -> None:
    for op, arg in steps:
        if op == "decide":
            key, desired = arg
            journal.record(key, 100.0, 1, desired, "cpu")
        else:
            journal.mark_applied(arg, "scaled")


@pytest.mark.parametrize("steps, key, expected_seq", [
    pytest.param([], "a", None, id="empty"),
    pytest.param([("decide", ("a", 3))], "a", 1, id="one-decision"),
    pytest.param([("decide", ("a", 3))], "b", None, id="other-key"),
    pytest.param([("decide", ("a", 3)), ("applied", 1)], "a", None, id="applied"),
    pytest.param([("decide", ("a", 3)), ("decide", ("a", 5))], "a", 2, id="latest-wins"),
    pytest.param([("decide", ("a", 3)), ("decide", ("b", 5)), ("applied", 2)], "a", 1,
                 id="other-key-applied"),
    pytest.param([("decide", ("a", 3)), ("decide", ("a", 5)), ("applied", 2)], "a", None,
                 id="older-superseded-by-applied"),
    pytest.param([("decide", ("a", 3)), ("applied", 1), ("decide", ("a", 4))], "a", 2,
                 id="new-after-applied"),
])
def test_pending(tmp_path: Path, steps: list[tuple[str, Any]], key: str,
                 expected_seq: int | None) -> None:
    with Journal(tmp_path / "j.jsonl") as journal:
        apply_steps(journal, steps)
    pending = Journal(tmp_path / "j.jsonl").pending(key)  # a fresh reader sees the same
    assert (pending.seq if pending else None) == expected_seq


def test_mark_applied_is_append_only_and_once(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        entry = journal.record("ns/hpa", 50.0, 2, 4, "cpu above target")
        before = path.read_bytes()
        journal.mark_applied(entry.seq, "scaled 2->4 on reconnect")
        assert path.read_bytes().startswith(before)
        with pytest.raises(JournalError, match="already applied"):
            journal.mark_applied(entry.seq)
        with pytest.raises(JournalError, match="no decision with seq 9"):
            journal.mark_applied(9)
        (folded,) = journal.entries()
    assert folded == JournalEntry(1, "ns/hpa", 50.0, 2, 4, "cpu above target", applied=True,
                                  note="scaled 2->4 on reconnect")


def test_second_writer_is_serialized(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as first, Journal(tmp_path / "j.jsonl") as second:
        assert first.record("a", 1.0, 1, 2, "cpu").seq == 1
        assert second.record("b", 1.0, 1, 2, "cpu").seq == 2  # it sees the first's write
        assert first.record("c", 1.0, 1, 2, "cpu").seq == 3
    assert seqs(tmp_path / "j.jsonl") == [1, 2, 3]


def test_writer_waiting_past_its_timeout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    write_decisions(path, 1)
    holder = os.open(tmp_path / "j.jsonl.lock", os.O_RDWR)  # another process's writer
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with Journal(path, lock_timeout_seconds=0.0) as journal, \
                pytest.raises(JournalError, match="another writer held the journal"):
            journal.record("b", 1.0, 1, 2, "cpu")
        assert seqs(path) == [1]  # readers need no lock
    finally:
        os.close(holder)
    with Journal(path, lock_timeout_seconds=0.0) as journal:
        assert journal.record("b", 1.0, 1, 2, "cpu").seq == 2


def test_failed_append_leaves_no_partial_line(tmp_path: Path) -> None:
    def fail() -> None:
        raise OSError("EIO from fsync")

    path = tmp_path / "j.jsonl"
    write_decisions(path, 1)
    with Journal(path, before_fsync=fail) as journal, pytest.raises(JournalError, match="EIO"):
        journal.record("b", 1.0, 1, 2, "cpu")
    assert path.read_bytes() == decision(1)
    with Journal(path) as journal:
        journal.record("c", 1.0, 1, 2, "cpu")
    assert [e.key for e in Journal(path).entries()] == ["ns/k1", "c"]


# --- compaction ---------------------------------------------------------------------------

def decisions(path: Path) -> Journal:
    journal = Journal(path)
    apply_steps(journal, [("decide", ("a", 2)), ("applied", 1), ("decide", ("a", 3)),
                          ("applied", 2), ("decide", ("b", 4)), ("decide", ("c", 1)),
                          ("applied", 4), ("decide", ("c", 6)), ("decide", ("d", 2)),
                          ("decide", ("d", 5))])
    return journal


def test_compact_keeps_the_latest_per_key(tmp_path: Path) -> None:
    journal = decisions(tmp_path / "j.jsonl")
    before = {e.seq: e for e in journal.entries()}
    pending = {key: journal.pending(key) for key in "abcd"}
    assert journal.compact() == 4
    after = journal.entries()
    # Dropped: 1 (a, applied), 4 (c, applied) and 6 (d, never applied but superseded by 7).
    assert after == tuple(before[seq] for seq in (2, 3, 5, 7))
    assert {key: Journal(journal.path).pending(key) for key in "abcd"} == pending
    assert [e.seq if e else None for e in pending.values()] == [None, 3, 5, 7]
    journal.record("a", 200.0, 3, 1, "after compaction")  # appends go to the new file
    assert Journal(journal.path).entries()[-1].seq == 8
    journal.close()


def test_compact_crash_before_rename_keeps_the_old_journal(tmp_path: Path) -> None:
    class CrashError(Exception):
        pass

    def crash() -> None:
        raise CrashError

    path = tmp_path / "j.jsonl"
    decisions(path).close()
    old_bytes, old_entries = path.read_bytes(), Journal(path).entries()
    with Journal(path, before_rename=crash) as journal, pytest.raises(CrashError):
        journal.compact()
    assert path.read_bytes() == old_bytes
    assert Journal(path).entries() == old_entries
    assert not (tmp_path / "j.jsonl.compact").exists()
    (tmp_path / "j.jsonl.compact").write_bytes(b"half a temp file from a real crash")
    with Journal(path) as journal:
        journal.compact()
        assert {e.seq for e in journal.entries()} < {e.seq for e in old_entries}
    assert not (tmp_path / "j.jsonl.compact").exists()


# --- real crashes: SIGKILL a writer process -----------------------------------------------

CHILD = """
import sys
from autoscaler.edge.journal import Journal

block_at = int(sys.argv[2])
current = 0

def before_fsync():
    if current == block_at:  # written but not yet fsynced: tell the parent, wait for -9
        print("blocked", flush=True)
        sys.stdin.read()

journal = Journal(sys.argv[1], before_fsync=before_fsync)
for seq in range(1, 1_000_000):
    current = seq
    entry = journal.record(f"ns/k{seq}", float(seq), 1, 2, "x" * (seq * 7 % 50))
    assert entry.seq == seq
    print(f"ack {seq}", flush=True)
"""

DEADLINE_SECONDS = 20.0  # bounded waits on the child only; the happy path is far faster


class Child:
    """The writer process, and every line it printed (read without blocking forever)."""

    def __init__(self, path: Path, block_at: int = 0) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(block_at)], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._buffer = b""

    def read_until(self, done: Callable[[list[str]], bool]) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not done(self.lines):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"child stuck; printed {self.lines[-3:]}"
            ready, _, _ = select.select([fd], [], [], remaining)
            chunk = os.read(fd, 65536) if ready else b""
            if ready and not chunk:  # EOF
                return
            *complete, self._buffer = (self._buffer + chunk).split(b"\n")
            self.lines += [line.decode() for line in complete]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.read_until(lambda _: False)  # acks printed before the kill count too: drain to EOF
        self.proc.wait(DEADLINE_SECONDS)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        assert self.proc.returncode == -signal.SIGKILL, self.proc.returncode

    def acked(self) -> list[int]:
        return [int(line.split()[1]) for line in self.lines if line.startswith("ack ")]


def assert_acked_survive(path: Path, acked: list[int]) -> list[int]:
    found = seqs(path)
    assert acked == list(range(1, len(acked) + 1))
    # Every acknowledged record is there; at most the one in flight beyond them.
    assert found[: len(acked)] == acked
    assert len(found) - len(acked) in (0, 1)
    return found


@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in (1, 2)])
def test_sigkill_at_a_random_moment_loses_no_acknowledged_record(tmp_path: Path,
                                                                 seed: int) -> None:
    path = tmp_path / "j.jsonl"
    wanted = random.Random(seed).randint(1, 60)
    child = Child(path)
    child.read_until(lambda lines: len(lines) >= wanted)
    child.kill()
    found = assert_acked_survive(path, child.acked())
    with Journal(path) as journal:  # and the journal takes appends again
        journal.record("after", 1.0, 1, 2, "cpu")
    assert seqs(path) == [*found, found[-1] + 1]


def _tear(path: Path) -> None:  # power loss: only part of the unsynced line reached the disk
    data = path.read_bytes()
    path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1 + 7])


def _zero_fill(path: Path) -> None:  # power loss on ext4: size grew, the data block did not
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[:start] + bytes(len(data) - start))


@pytest.mark.parametrize("damage, in_flight_survives", [
    pytest.param(None, True, id="process-killed-page-cache-keeps-line"),
    pytest.param(_tear, False, id="power-lost-torn-line"),
    pytest.param(_zero_fill, False, id="power-lost-zero-filled-line"),
])
def test_sigkill_between_write_and_fsync(tmp_path: Path, damage: Callable[[Path], None] | None,
                                         in_flight_survives: bool) -> None:
    path = tmp_path / "j.jsonl"
    child = Child(path, block_at=5)
    child.read_until(lambda lines: "blocked" in lines)
    if damage is not None:
        damage(path)
    child.kill()
    assert child.acked() == [1, 2, 3, 4]
    read = Journal(path).read()
    assert [e.seq for e in read.entries] == [1, 2, 3, 4, 5][: 5 if in_flight_survives else 4]
    assert (read.torn_bytes > 0) == (not in_flight_survives)
    assert read.bad_lines == 0  # a crash only ever tears: nothing to quarantine
    with Journal(path) as journal:  # the next writer cuts the torn tail: it starts clean
        entry = journal.record("after", 1.0, 1, 2, "cpu")
    after = Journal(path).read()
    assert after.clean
    last = 5 if in_flight_survives else 4
    assert [e.seq for e in after.entries][-2:] == [last, entry.seq] == [last, last + 1]
