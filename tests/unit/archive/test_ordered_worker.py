"""The helper threads behind hashing and writing: order, errors, depth, lifetime."""

from __future__ import annotations

import os
import threading
import time

import pytest

from archive.common import OrderedWorker


def test_calls_run_in_order_on_one_helper_thread():
    seen: list[tuple[int, str]] = []
    with OrderedWorker("test-order", 2) as worker:
        for n in range(50):
            worker.submit(lambda n=n: seen.append((n, threading.current_thread().name)))
        worker.drain()
    assert [n for n, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"test-order"}


def test_an_error_surfaces_in_drain_and_later_calls_still_finish():
    done = []

    def fail():
        raise OSError("disk gone")

    with OrderedWorker("test-error", 4) as worker:
        worker.submit(fail)
        worker.submit(lambda: (time.sleep(0.05), done.append(1)))
        with pytest.raises(OSError, match="disk gone"):
            worker.drain()
    assert done == [1]  # close() waited for the rest


def test_at_most_depth_calls_wait():
    gate = threading.Event()
    started = []
    worker = OrderedWorker("test-depth", 1)
    worker.submit(lambda: (started.append(1), gate.wait(5)))
    blocked = threading.Thread(target=worker.submit, args=(lambda: None,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # the second call waits for the first to finish
    gate.set()
    blocked.join(5)
    assert not blocked.is_alive()
    worker.close()


def _helpers(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_the_helper_is_reused_and_ends_with_its_thread():
    def use():
        for _ in range(3):
            with OrderedWorker("test-lifetime", 1) as worker:
                worker.submit(lambda: None)

    owner = threading.Thread(target=use)
    owner.start()
    owner.join()
    deadline = time.monotonic() + 5
    while _helpers("test-lifetime") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _helpers("test-lifetime") == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_helpers_of_its_own():
    with OrderedWorker("test-fork", 1) as worker:  # the parent's helper exists
        worker.submit(lambda: None)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            seen = []
            with OrderedWorker("test-fork", 1) as worker:
                worker.submit(seen.append, 1)
                worker.drain()
            os._exit(0 if seen == [1] else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
