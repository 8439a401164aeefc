"""Writer processes racing on one journal. The chosen behaviour: writers are *serialized* by
flock on `<journal>.lock`, one operation at a time, each re-reading the journal under the
lock (so a seq always follows every acknowledged decision, whoever wrote it); a writer that
waits longer than its `lock_timeout_seconds` is *refused* with JournalError.

Synchronization is explicit: children print "ready"/"holding" and wait on stdin for the
parent; the parent waits on their output (bounded), never on a sleep."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from autoscaler.edge.journal import Journal

REPO = Path(__file__).resolve().parents[1]
DEADLINE_SECONDS = 60.0  # a bound for a hung child only; the test takes a few seconds

WRITER = """
import sys
from autoscaler.edge.journal import Journal

path, me, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
journal = Journal(path, lock_timeout_seconds=60)
print("ready", flush=True)
sys.stdin.readline()  # the parent releases every writer at once
for n in range(count):
    entry = journal.record(f"{me}/{n}", float(n), 1, n % 5, "race")
    print(f"ack {entry.key} {entry.seq}", flush=True)
    # A reader takes no lock: it must still see every acknowledged write, never a broken
    # state, while the others append and rewrite (and it leaves them a window for the lock).
    assert journal.pending(entry.key) == entry, entry
    if n % 3 == 2:
        journal.mark_applied(entry.seq, "written")
        print(f"applied {entry.key}", flush=True)
    if n % 10 == 9:  # rewrites race the other writers' appends too
        journal.compact()
"""

HOLDER = """
import sys
from autoscaler.edge.journal import Journal, JournalError

def hold():  # inside record: the lock is held, the line written, not yet fsynced
    print("holding", flush=True)
    sys.stdin.readline()

mode = sys.argv[2]
journal = Journal(sys.argv[1], before_fsync=hold if mode == "hold" else None,
                  lock_timeout_seconds=0.0 if mode == "impatient" else 60.0)
try:
    print("ack", journal.record(mode, 1.0, 1, 2, "cpu").seq, flush=True)
except JournalError as exc:
    print("refused", exc, flush=True)
"""


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def expect_line(proc: subprocess.Popen[str], wanted: str) -> None:
    """The child's first line (nothing is buffered yet, so select on the pipe is exact)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], DEADLINE_SECONDS)
    assert ready, f"child printed nothing in {DEADLINE_SECONDS} s"
    line = proc.stdout.readline()
    assert line.strip() == wanted, (line, proc.stderr.read() if proc.stderr else "")


def finish(proc: subprocess.Popen[str], stdin: str | None = None) -> list[str]:
    out, err = proc.communicate(stdin, timeout=DEADLINE_SECONDS)
    assert proc.returncode == 0, err
    assert err == ""
    return out.splitlines()


@pytest.mark.parametrize("writers, count", [pytest.param(3, 100, id="3-processes-x-100")])
def test_racing_processes_lose_no_acknowledged_decision(tmp_path: Path, writers: int,
                                                        count: int) -> None:
    path = tmp_path / "journal"
    procs = [spawn(WRITER, str(path), f"p{k}", str(count)) for k in range(writers)]
    for proc in procs:
        expect_line(proc, "ready")
    for proc in procs:  # all released before any is waited for
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()  # communicate() closes it later
    outputs = [finish(proc) for proc in procs]
    acked = {key: int(seq) for out in outputs for line in out if line.startswith("ack ")
             for key, seq in [line.split()[1:]]}
    applied = {line.split()[1] for out in outputs for line in out
               if line.startswith("applied ")}
    assert len(acked) == writers * count  # every writer got every record acknowledged
    read = Journal(path).read()
    assert read.clean
    keys = Counter(entry.key for entry in read.entries)
    assert set(keys) == set(acked) and set(keys.values()) == {1}  # each present exactly once
    assert {e.key: e.seq for e in read.entries} == acked  # under the seq it was acked with
    assert sorted(acked.values()) == list(range(1, writers * count + 1))
    assert {e.key for e in read.entries if e.applied} == applied


def test_a_writer_is_serialized_behind_the_holder_or_refused_after_its_timeout(
        tmp_path: Path) -> None:
    path = tmp_path / "journal"
    holder = spawn(HOLDER, str(path), "hold")
    expect_line(holder, "holding")  # it holds the lock mid-append
    impatient = finish(spawn(HOLDER, str(path), "impatient"))
    assert impatient[0].startswith("refused") and "another writer held" in impatient[0]
    patient = spawn(HOLDER, str(path), "patient")  # waits for the lock
    assert finish(holder, "\n") == ["ack 1"]
    assert finish(patient) == ["ack 2"]
    assert [(e.key, e.seq) for e in Journal(path).entries()] == [("hold", 1), ("patient", 2)]
