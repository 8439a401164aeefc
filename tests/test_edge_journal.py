"""The edge decision journal: round trips, torn tails, corrupt middles, CRCs, pending/applied
semantics, crash-safe compaction, and real SIGKILLs of a writer process."""

from __future__ import annotations

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


def write_journal(path: Path, items: list[dict[str, Any]]) -> None:
    with Journal(path) as journal:
        for item in items:
            journal.append(item)


# --- round trip ---------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.lists(records, max_size=6))
def test_round_trip(items: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.jsonl"
        write_journal(path, items)
        read = Journal(path).read()
        assert list(read.records) == items
        assert (read.truncated_bytes, read.corrupt_lines) == (0, 0)


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
    assert (read.records, read.truncated_bytes, read.corrupt_lines) == ((), 0, 0)


# --- torn and corrupt tails ---------------------------------------------------------------

def test_torn_tail_at_every_byte_offset(tmp_path: Path) -> None:
    items = [{"seq": 1, "a": "x"}, {"seq": 2, "b": [1, 2]}, {"seq": 3, "c": "last line"}]
    full = b"".join(encode_line(item) for item in items)
    last = len(encode_line(items[-1]))
    for kept in range(last):  # kept == last - 1: the whole line but its newline
        path = tmp_path / f"torn-{kept}.jsonl"
        path.write_bytes(full[: len(full) - last + kept])
        read = Journal(path).read()
        assert list(read.records) == items[:-1], kept
        assert read.truncated_bytes == kept
        with Journal(path) as journal:
            journal.append({"seq": 4})
        after = Journal(path).read()
        assert [*after.records] == [*items[:-1], {"seq": 4}]
        assert after.truncated_bytes == 0


@settings(max_examples=40, deadline=None)
@given(items=st.lists(records, min_size=1, max_size=5), cut=st.integers(0, 10**6),
       garbage=st.binary(max_size=40).filter(lambda b: b"\n" not in b))
def test_torn_or_garbage_tail_loses_only_the_last_line(
        items: list[dict[str, Any]], cut: int, garbage: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.jsonl"
        write_journal(path, items)
        data = path.read_bytes()
        last = len(encode_line(items[-1]))
        # Power loss: part of the unsynced line persisted, the rest is arbitrary bytes.
        path.write_bytes(data[: len(data) - last + cut % last] + garbage)
        assert list(Journal(path).read().records) == items[:-1]
        with Journal(path) as journal:
            journal.append({"after": True})
        assert list(Journal(path).read().records) == [*items[:-1], {"after": True}]


def test_complete_last_line_failing_its_crc_is_a_reported_tail(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    write_journal(path, [{"n": 1}, {"n": 2}])
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last payload, keeping its newline
    path.write_bytes(bytes(data))
    read = Journal(path).read()
    assert list(read.records) == [{"n": 1}]
    assert read.corrupt_lines == 1
    assert read.truncated_bytes == len(encode_line({"n": 2}))


# --- corrupt middle lines -----------------------------------------------------------------

GOOD = encode_line({"n": 1})


@pytest.mark.parametrize("bad", [
    pytest.param(GOOD[:12] + bytes([GOOD[12] ^ 0x20]) + GOOD[13:], id="payload-byte-flipped"),
    pytest.param(b"00000000" + GOOD[8:], id="wrong-crc"),
    pytest.param(b"%08X" % zlib.crc32(GOOD[9:-1]) + GOOD[8:], id="crc-in-upper-case"),
    pytest.param(b"\n", id="empty-line"),
    pytest.param(GOOD.replace(b" ", b"", 1), id="no-separator"),
    pytest.param(encode_line({"n": 1})[:9] + b"[1]\n", id="crc-of-other-payload"),
    pytest.param(b"%08x [1]\n" % zlib.crc32(b"[1]"), id="payload-not-an-object"),
])
def test_corrupt_middle_line_is_an_error_naming_it(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(GOOD + bad + encode_line({"n": 3}))
    with pytest.raises(JournalError, match=r"line 2 is corrupt"):
        Journal(path).read()
    with pytest.raises(JournalError, match=r"line 2"):
        Journal(path).append({"n": 4})  # never appends past damage
    assert path.read_bytes() == GOOD + bad + encode_line({"n": 3})


@settings(max_examples=200, deadline=None)
@given(record=records, position=st.integers(0, 10**6), byte=st.integers(0, 255))
def test_crc_detects_any_single_byte_change(record: dict[str, Any], position: int,
                                            byte: int) -> None:
    line = bytearray(encode_line(record))
    position %= len(line) - 1  # not the newline
    if line[position] == byte:
        return
    line[position] = byte
    data = bytes(line) + encode_line({"next": 1})
    with pytest.raises(JournalError, match="line 1"):
        parse(data, Path("j"))


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


def test_second_writer_is_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as first:
        first.append({"n": 1})
        with pytest.raises(JournalError, match="another writer"):
            Journal(tmp_path / "j.jsonl").append({"n": 2})


def test_failed_append_leaves_no_partial_line(tmp_path: Path) -> None:
    def fail() -> None:
        raise OSError("EIO from fsync")

    path = tmp_path / "j.jsonl"
    write_journal(path, [{"n": 1}])
    with Journal(path, before_fsync=fail) as journal, pytest.raises(OSError, match="EIO"):
        journal.append({"n": 2})
    with Journal(path) as journal:
        journal.append({"n": 3})
    assert list(Journal(path).read().records) == [{"n": 1}, {"n": 3}]


# --- compaction ---------------------------------------------------------------------------

def decisions(path: Path) -> Journal:
    journal = Journal(path)
    apply_steps(journal, [("decide", ("a", 2)), ("applied", 1), ("decide", ("a", 3)),
                          ("applied", 2), ("decide", ("b", 4)), ("decide", ("c", 1)),
                          ("applied", 4), ("decide", ("c", 6)), ("decide", ("d", 2)),
                          ("decide", ("d", 5))])
    return journal


def test_compact_keeps_latest_per_key_and_unapplied(tmp_path: Path) -> None:
    journal = decisions(tmp_path / "j.jsonl")
    before = {e.seq: e for e in journal.entries()}
    pending = {key: journal.pending(key) for key in "abcd"}
    assert journal.compact() == 5
    after = journal.entries()
    # Dropped: 1 (a, applied, superseded) and 4 (c, applied, superseded).
    assert after == tuple(before[seq] for seq in (2, 3, 5, 6, 7))
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
    assert (tmp_path / "j.jsonl.compact").exists()  # the abandoned temp file is harmless
    with Journal(path) as journal:
        journal.compact()
        assert {e.seq for e in journal.entries()} < {e.seq for e in old_entries}


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
    journal.append({"seq": seq, "pad": "x" * (seq * 7 % 50)})
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
    seqs = [record["seq"] for record in Journal(path).read().records]
    assert acked == list(range(1, len(acked) + 1))
    # Every acknowledged record is there; at most the one in flight beyond them.
    assert seqs[: len(acked)] == acked
    assert len(seqs) - len(acked) in (0, 1)
    return seqs


@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in (1, 2)])
def test_sigkill_at_a_random_moment_loses_no_acknowledged_record(tmp_path: Path,
                                                                 seed: int) -> None:
    path = tmp_path / "j.jsonl"
    wanted = random.Random(seed).randint(1, 60)
    child = Child(path)
    child.read_until(lambda lines: len(lines) >= wanted)
    child.kill()
    seqs = assert_acked_survive(path, child.acked())
    with Journal(path) as journal:  # and the journal takes appends again
        journal.append({"seq": seqs[-1] + 1})
    assert [r["seq"] for r in Journal(path).read().records] == [*seqs, seqs[-1] + 1]


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
    assert [r["seq"] for r in read.records] == [1, 2, 3, 4, 5][: 5 if in_flight_survives else 4]
    assert (read.truncated_bytes > 0) == (not in_flight_survives)
    with Journal(path) as journal:  # reopening cuts the torn tail: the next line starts clean
        journal.append({"seq": 6})
    after = Journal(path).read()
    assert after.truncated_bytes == 0
    assert [r["seq"] for r in after.records][-2:] == [5 if in_flight_survives else 4, 6]
