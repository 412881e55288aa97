"""Long-lived searcher processes, one per shard, so the shards of a query run at once.

tantivy-py holds the GIL while it searches, so threads cannot search two shards at
the same time; processes can. One pool per index folder per process, shared by every
:class:`~search.tantivy_index.TantivyIndex` opened on that folder (the web app opens
one per request) and safe for concurrent callers: each shard's pipe has a lock, taken
in shard order, so two searches queue instead of mixing their replies. A searcher
starts on the first search, is restarted if it died (the search runs again, once),
and is killed if it does not answer within ``reply_timeout`` (the search fails with
:class:`SearchUnavailable`, never hangs). The pool stops when the last index using it
is closed, and at interpreter exit; a searcher whose parent died sees its pipe close
and exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
import threading
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path

from search.interface import QuerySyntaxError, SearchQuery, SearchResult, SearchUnavailable
from search.query import ParsedQuery
from search.shards import choose, merge, positions

log = logging.getLogger(__name__)

# The package's own folder first on the searcher's path: it runs this very code.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
_ERRORS = {"QuerySyntaxError": QuerySyntaxError, "SearchUnavailable": SearchUnavailable}


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
            raise SearchUnavailable(
                f"The searcher of {self.path.name} did not answer within {timeout:.0f} s.")
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

    def __init__(self, paths: list[Path], reply_timeout: float = 60.0) -> None:
        self._searchers = [_Searcher(p, len(paths)) for p in paths]
        self.reply_timeout = reply_timeout

    def search(self, parsed: ParsedQuery, wanted: SearchQuery, query: SearchQuery
               ) -> SearchResult:
        """``query``'s page: every shard ranks its first ``wanted`` documents at once, then
        the shards holding the documents shown build their hits at once. A searcher that
        died is restarted and the search run again, once. Raises what a shard raised
        (:class:`QuerySyntaxError`, :class:`SearchUnavailable`)."""
        with ExitStack() as held:
            for searcher in self._searchers:
                held.enter_context(searcher.lock)  # in shard order: no deadlock
            try:
                return self._search(parsed, wanted, query)
            except _Died:
                try:
                    return self._search(parsed, wanted, query)
                except _Died as exc:
                    raise SearchUnavailable("A search process died twice; try again.") from exc

    def _search(self, parsed: ParsedQuery, wanted: SearchQuery, query: SearchQuery
                ) -> SearchResult:
        timeout = self.reply_timeout
        for searcher in self._searchers:
            searcher.send(("rank", parsed, wanted), timeout)
        rankings = [s.receive(timeout) for s in self._searchers]
        chosen = choose(rankings, query)  # type: ignore[arg-type]
        shown = positions(chosen)
        for n, at in shown.items():
            self._searchers[n].send(("fetch", at), timeout, fresh_ok=False)
        hits = {n: self._searchers[n].receive(timeout) for n in shown}
        return merge(rankings, chosen, hits)  # type: ignore[arg-type]

    def pids(self) -> list[int | None]:
        return [s.pid for s in self._searchers]

    def close(self) -> None:
        for searcher in self._searchers:
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
