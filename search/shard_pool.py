"""Long-lived searcher processes, one per shard, so the shards of a query run at once.

tantivy-py holds the GIL while it searches, so threads cannot search two shards at
the same time; processes can. One pool per index folder per process, shared by every
:class:`~search.tantivy_index.TantivyIndex` opened on that folder (the web app opens
one per request) and safe for concurrent callers: each shard's pipe has a lock, taken
in shard order, so two searches queue instead of mixing their replies. A searcher
starts on the first search, is restarted if it died (the request is sent again once),
and is killed if it does not answer within ``reply_timeout`` (the search fails with
:class:`SearchUnavailable`, never hangs). The pool stops when the last index using it
is closed, and at interpreter exit; a searcher whose parent died sees its pipe close
and exits.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path

from search.interface import QuerySyntaxError, SearchQuery, SearchUnavailable
from search.query import ParsedQuery
from search.shards import ShardResult

log = logging.getLogger(__name__)

# forkserver: the parent may hold threads (Flask, the bench's counters), which fork
# would copy mid-flight; the server preloads Tantivy so a searcher starts in ~10 ms.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["search.tantivy_shard"])
_ERRORS = {"QuerySyntaxError": QuerySyntaxError, "SearchUnavailable": SearchUnavailable}


def _serve(path: str, conn: Connection) -> None:
    """A searcher: answers ``(generation, parsed, query)`` with ``("ok", ShardResult)`` or
    ``("error", kind, message)`` until its pipe closes. A new generation means the
    parent committed to this shard: reload first, so the write is visible."""
    from search.tantivy_shard import TantivyShard

    shard, seen = None, None
    while True:
        try:
            generation, parsed, query = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe or died
        try:
            if shard is None:
                shard, seen = TantivyShard(Path(path)), generation
            elif generation != seen:
                shard.reload()
                seen = generation
            reply: tuple = ("ok", shard.search(parsed, query))
        except (QuerySyntaxError, SearchUnavailable) as exc:
            reply = ("error", type(exc).__name__, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, never lost
            reply = ("error", "SearchUnavailable", f"The search shard failed: {exc!r}")
        conn.send(reply)


class _Searcher:
    """One shard's process and the parent's end of its pipe; callers hold ``lock``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def send(self, request: tuple) -> None:
        if self._process is None or not self._process.is_alive():
            self._restart()
        try:
            self._conn.send(request)  # type: ignore[union-attr]
        except OSError:  # died since the check
            self._restart()
            self._conn.send(request)  # type: ignore[union-attr]

    def receive(self, request: tuple, timeout: float) -> ShardResult:
        """The reply to ``request``; sent once more to a fresh process if this one died."""
        try:
            reply = self._reply(timeout)
        except (EOFError, OSError):
            log.warning("search shard %s: searcher process died; restarting", self.path.name)
            self._restart()
            try:
                self._conn.send(request)  # type: ignore[union-attr]
                reply = self._reply(timeout)
            except (EOFError, OSError) as exc:
                self.stop()
                raise SearchUnavailable(
                    f"The searcher of {self.path.name} died twice; try again.") from exc
        if reply[0] == "ok":
            return reply[1]
        raise _ERRORS[reply[1]](reply[2])

    def _reply(self, timeout: float) -> tuple:
        if not self._conn.poll(timeout):  # type: ignore[union-attr]
            self.stop()
            raise SearchUnavailable(
                f"The searcher of {self.path.name} did not answer within {timeout:.0f} s.")
        return self._conn.recv()  # type: ignore[union-attr]

    def _restart(self) -> None:
        self.stop()
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_serve, args=(str(self.path), child), daemon=True,
                                   name=f"chartvault-search-{self.path.name}")
        try:
            process.start()
        except OSError as exc:
            raise SearchUnavailable(f"Could not start a searcher process: {exc}") from exc
        finally:
            child.close()  # the child's end lives in the child only: its death gives EOF
        self._process, self._conn = process, parent

    def stop(self) -> None:
        """Close the pipe (the searcher exits on EOF), then make sure it is gone."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


class ShardPool:
    """Searcher processes for the shards at ``paths``; see the module docstring."""

    def __init__(self, paths: list[Path], reply_timeout: float = 60.0) -> None:
        self._searchers = [_Searcher(p) for p in paths]
        self._generations = [0] * len(paths)
        self.reply_timeout = reply_timeout

    def changed(self, shard: int) -> None:
        """This process committed to ``shard``: its searcher reloads before the next search."""
        self._generations[shard] += 1

    def search(self, parsed: ParsedQuery, query: SearchQuery) -> list[ShardResult]:
        """Every shard's answer, the shards searching at once. Raises what a shard raised
        (:class:`QuerySyntaxError`, :class:`SearchUnavailable`)."""
        requests = [(g, parsed, query) for g in self._generations]
        with ExitStack() as held:
            for searcher, request in zip(self._searchers, requests, strict=True):
                held.enter_context(searcher.lock)  # in shard order: no deadlock
                searcher.send(request)
            return [s.receive(r, self.reply_timeout)
                    for s, r in zip(self._searchers, requests, strict=True)]

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
