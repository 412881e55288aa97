"""Long-lived searcher processes, one per shard, so the shards of a query run at once.

tantivy-py holds the GIL while it searches, so threads cannot search two shards at
the same time; processes can. One pool per index folder per process, shared by every
:class:`~search.tantivy_index.TantivyIndex` opened on that folder (the web app opens
one per request) and safe for concurrent callers.

A pool has :data:`LANES` lanes, each a searcher process per shard. A search takes a
free lane for its whole run, so concurrent searches run side by side instead of
queueing behind one costly query; a lane's processes start only when a search first
needs it (one caller at a time uses one lane), and searches queue only when every
lane is busy. A searcher is restarted if it died (the search runs again, once), and
killed if it does not answer within ``reply_timeout``, the per-query time budget: the
search is then refused with :class:`QueryTooCostly` (422), never left to hang. The
pool stops when the last index using it is closed, and at interpreter exit; a
searcher whose parent died sees its pipe close and exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path

from search.interface import (
    TIME_BUDGET,
    QuerySyntaxError,
    QueryTooCostly,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)
from search.query import ParsedQuery
from search.shards import choose, merge, positions

log = logging.getLogger(__name__)

# The package's own folder first on the searcher's path: it runs this very code.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
_ERRORS = {"QuerySyntaxError": QuerySyntaxError, "SearchUnavailable": SearchUnavailable}
LANES = 3  # searches of one index that run at once in this process; more wait for a lane


class _Died(Exception):
    """A searcher process died during a request (it has been restarted)."""


class _Searcher:
    """One shard's process and the parent's end of its pipe; callers hold ``lock``."""

    def __init__(self, path: Path, share: int) -> None:
        self.path, self.share = path, share
        self.lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._pending = 0  # replies not read yet (a caller gave up after another's error)

    def send(self, request: tuple, timeout: float, *, fresh_ok: bool = True) -> None:
        """Send ``request``, to a fresh process if this one died; :class:`_Died` instead
        when not ``fresh_ok`` (a fetch needs the process that ranked)."""
        while self._pending:  # a reply nobody read (a search that failed on another
            try:               # shard) must not be taken for this request's reply
                self.receive(timeout)
            except (QuerySyntaxError, SearchUnavailable, _Died):
                pass
        if self._process is None or self._process.poll() is not None:
            self._restart()
            if not fresh_ok:
                raise _Died
        try:
            self._conn.send(request)  # type: ignore[union-attr]
        except OSError as exc:  # died since the check
            self._restart()
            if not fresh_ok:
                raise _Died from exc
            self._conn.send(request)  # type: ignore[union-attr]
        self._pending += 1

    def receive(self, timeout: float) -> object:
        """The reply to the oldest request. Raises what the shard raised, :class:`_Died`
        (restarted: send again), :class:`SearchUnavailable` on timeout (killed)."""
        if not self._conn.poll(timeout):  # type: ignore[union-attr]
            self.stop(wait=0)
            raise QueryTooCostly(
                f"The search took longer than {timeout:.0f} s and was stopped: narrow it "
                "(fewer fuzzy~ or prefix* words, a patient, a type or a date).")
        try:
            reply = self._conn.recv()  # type: ignore[union-attr]
        except (EOFError, OSError) as exc:
            log.warning("search %s: searcher process died; restarting", self.path.name)
            self._restart()
            raise _Died from exc
        self._pending -= 1
        if reply[0] == "ok":
            return reply[1]
        raise _ERRORS[reply[1]](reply[2])

    def _restart(self) -> None:
        """A fresh searcher: ``python -m search.shard_worker`` on one end of a socket pair.
        Not multiprocessing: its spawn and forkserver start methods run the parent's main
        module again in the child (the web app, a script without a main guard), and
        fork would copy the parent's threads mid-flight."""
        self.stop()
        ours, theirs = socket.socketpair()
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT,
                                                           os.environ.get("PYTHONPATH")]))}
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "search.shard_worker", str(self.path),
                 str(self.share), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env=env,
                start_new_session=True)  # the terminal's Ctrl-C is the parent's to handle
        except OSError as exc:
            ours.close()
            raise SearchUnavailable(f"Could not start a searcher process: {exc}") from exc
        finally:
            theirs.close()  # the child's end lives in the child only: its death gives EOF
        self._process, self._conn = process, Connection(ours.detach())

    def stop(self, wait: float = 5.0) -> None:
        """Close the pipe (the searcher exits on EOF); kill it if still there after ``wait`` s."""
        process, conn = self._process, self._conn
        self._process, self._conn, self._pending = None, None, 0
        if conn is not None:
            conn.close()
        if process is not None:
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()  # reaped: no zombie

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


class ShardPool:
    """Searcher processes for the shards at ``paths``; see the module docstring."""

    def __init__(self, paths: list[Path], reply_timeout: float = TIME_BUDGET,
                 lanes: int = LANES) -> None:
        self._lanes = [[_Searcher(p, len(paths)) for p in paths] for _ in range(lanes)]
        self._free: queue.LifoQueue[int] = queue.LifoQueue()
        for lane in reversed(range(lanes)):  # lane 0 on top: a lone caller always uses it
            self._free.put(lane)
        self.reply_timeout = reply_timeout

    def search(self, parsed: ParsedQuery, wanted: SearchQuery, query: SearchQuery
               ) -> SearchResult:
        """``query``'s page, in a free lane: every shard ranks its first ``wanted``
        documents at once, then the shards holding the documents shown build their hits
        at once. A searcher that died is restarted and the search run again, once.
        Raises what a shard raised (:class:`QuerySyntaxError`, :class:`SearchUnavailable`)
        and :class:`QueryTooCostly` past the time budget."""
        lane = self._free.get()
        try:
            searchers = self._lanes[lane]
            with ExitStack() as held:
                for searcher in searchers:
                    held.enter_context(searcher.lock)  # only close() contends for these
                try:
                    return self._search(searchers, parsed, wanted, query)
                except _Died:
                    try:
                        return self._search(searchers, parsed, wanted, query)
                    except _Died as exc:
                        raise SearchUnavailable(
                            "A search process died twice; try again.") from exc
        finally:
            self._free.put(lane)

    def _search(self, searchers: list[_Searcher], parsed: ParsedQuery, wanted: SearchQuery,
                query: SearchQuery) -> SearchResult:
        timeout = self.reply_timeout
        for searcher in searchers:
            searcher.send(("rank", parsed, wanted), timeout)
        rankings = [s.receive(timeout) for s in searchers]
        chosen = choose(rankings, query)  # type: ignore[arg-type]
        shown = positions(chosen)
        for n, at in shown.items():
            searchers[n].send(("fetch", at), timeout, fresh_ok=False)
        hits = {n: searchers[n].receive(timeout) for n in shown}
        return merge(rankings, chosen, hits)  # type: ignore[arg-type]

    def pids(self, lane: int = 0) -> list[int | None]:
        """The searcher processes of one lane (lane 0 serves a lone caller)."""
        return [s.pid for s in self._lanes[lane]]

    def close(self) -> None:
        for searchers in self._lanes:
            for searcher in searchers:
                with searcher.lock:
                    searcher.stop()


_pools: dict[tuple[Path, ...], tuple[ShardPool, int]] = {}
_pools_lock = threading.Lock()


def acquire(paths: list[Path]) -> ShardPool:
    """The pool of these shard folders in this process (made if needed; no process starts
    until the first search). Pair every call with :func:`release`."""
    key = tuple(p.resolve() for p in paths)
    with _pools_lock:
        pool, users = _pools.get(key, (None, 0))
        if pool is None:
            pool = ShardPool(list(key))
        _pools[key] = (pool, users + 1)
        return pool


def release(pool: ShardPool) -> None:
    """One user fewer; the last one stops the searchers."""
    with _pools_lock:
        for key, (known, users) in list(_pools.items()):
            if known is pool:
                if users > 1:
                    _pools[key] = (pool, users - 1)
                    return
                del _pools[key]
                break
    pool.close()


@atexit.register
def _close_all() -> None:
    with _pools_lock:
        pools = [pool for pool, _ in _pools.values()]
        _pools.clear()
    for pool in pools:
        pool.close()
