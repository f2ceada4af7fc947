"""The stack lock: exclusive between processes, released by any exit, refused in one line."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from tap_cicd.errors import LockError
from tap_cicd.local.state import StateStore

PROCESSES = 4
ACQUISITIONS = 250
"""Per process: 1,000 acquisitions in all, in about a second."""


def hammer(home: str, start: Event) -> tuple[int, int, int]:
    """Take the lock ``ACQUISITIONS`` times; return (acquisitions, refusals, double holds).

    Inside the lock: claim an "inside" marker that must be free, and increment a counter with
    a read and a write that a second holder would interleave with (and lose updates)."""
    store = StateStore(Path(home))
    inside, counter = Path(home) / "inside", Path(home) / "counter"
    acquired = refused = doubled = 0
    start.wait()
    while acquired < ACQUISITIONS:
        try:
            with store.lock("dev"):
                try:
                    os.close(os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    doubled += 1
                count = int(counter.read_text() or "0")
                counter.write_text(str(count + 1))
                inside.unlink(missing_ok=True)
                acquired += 1
        except LockError:
            refused += 1
            time.sleep(0.0001)  # let the holder run rather than spin against it
    return acquired, refused, doubled


def test_no_two_processes_ever_hold_the_lock(tmp_path: Path) -> None:
    (tmp_path / "counter").write_text("0")
    # spawn: a fresh interpreter per worker (fork in a threaded pytest process is unsafe).
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    started = time.monotonic()
    with context.Pool(PROCESSES) as pool:
        results = pool.starmap_async(hammer, [(str(tmp_path), start)] * PROCESSES)
        start.set()
        figures = results.get(timeout=30)
    elapsed = time.monotonic() - started
    acquired = sum(a for a, _r, _d in figures)
    refused = sum(r for _a, r, _d in figures)
    doubled = sum(d for _a, _r, d in figures)
    print(f"{PROCESSES} processes, {acquired} acquisitions, {refused} refusals, "
          f"{doubled} double holds, {elapsed:.2f} s")  # fmt: skip
    assert doubled == 0
    assert int((tmp_path / "counter").read_text()) == acquired == PROCESSES * ACQUISITIONS
    assert refused > 0, "the processes never competed: the test proves nothing"


def test_a_live_holder_is_refused_and_the_lock_file_stays(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    lock = tmp_path / "state" / "dev.lock"
    with store.lock("dev"):
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(LockError) as caught, store.lock("dev"):
            pass
        with store.lock("prod"):  # another stack's lock is another lock
            pass
    assert str(caught.value) == (
        f"stack 'dev' is locked by process {os.getpid()} (another tap up, refresh or destroy "
        "is running); wait for it to finish and try again"
    )
    assert caught.value.exit_code == 5
    assert lock.read_text() == ""  # released: kept, without a holder to name
    with store.lock("dev"):
        assert lock.read_text() == str(os.getpid())


def test_a_holder_that_has_not_written_its_pid_yet(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    (tmp_path / "state").mkdir()
    lock = tmp_path / "state" / "dev.lock"
    lock.write_text("123")  # a stale pid from before the current holder
    with lock.open("r+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        holder.truncate(0)  # the holder's first step after locking
        with (
            pytest.raises(LockError, match=r"^stack 'dev' is locked by another process "),
            store.lock("dev"),
        ):
            pass


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(  # noqa: S603 - this interpreter, our own code
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from tap_cicd.local.state import StateStore\n"
            "with StateStore(Path(sys.argv[1])).lock('dev'):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with (
            pytest.raises(LockError, match=f"locked by process {holder.pid} "),
            StateStore(tmp_path).lock("dev"),
        ):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no finally, no cleanup: only the kernel releases
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    with StateStore(tmp_path).lock("dev"):
        assert (tmp_path / "state" / "dev.lock").read_text() == str(os.getpid())


def test_a_lock_file_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "state" / "dev.lock").mkdir(parents=True)  # a directory cannot be opened O_RDWR
    with pytest.raises(LockError) as caught, StateStore(tmp_path).lock("dev"):
        pass
    assert str(caught.value) == (
        f"stack 'dev' cannot be locked: {tmp_path / 'state' / 'dev.lock'} cannot be opened "
        f"(IsADirectoryError: Is a directory); fix permissions in {tmp_path / 'state'}"
    )


def test_the_lock_is_released_when_the_body_raises(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    with pytest.raises(RuntimeError), store.lock("dev"):
        raise RuntimeError
    with store.lock("dev"):
        pass


def test_a_holder_of_another_user_counts_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    from tap_cicd.local import state as state_module

    def denied(_pid: int, _signal: int) -> None:
        raise PermissionError

    monkeypatch.setattr(state_module.os, "kill", denied)
    assert state_module._alive(1)


def test_a_lock_file_of_another_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tap_cicd.local import state as state_module

    def not_owner(_descriptor: int, _mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(state_module.os, "fchmod", not_owner)
    with (
        pytest.raises(LockError, match=r"\(PermissionError: Operation not permitted\)"),
        StateStore(tmp_path).lock("dev"),
    ):
        pass
