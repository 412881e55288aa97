"""A searcher process of :mod:`search.shard_pool`: one shard, answering over a socket.

    python -m search.shard_worker <shard folder> <shards in the index> <socket fd>

It exits when the socket closes, which happens when its parent closes the pool or
dies: a searcher never outlives the process that started it.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection
from pathlib import Path

from search.interface import QuerySyntaxError, SearchUnavailable
from search.tantivy_shard import TantivyShard


def serve(path: str, share: int, conn: Connection) -> None:
    """A searcher, until its pipe closes. ``("rank", parsed, query)`` ranks (after the
    last commit of any process: the shard reloads itself when one came);
    ``("fetch", positions)`` builds the hits of that ranking. Replies are ``("ok", value)``
    or ``("error", kind, message)``."""
    shard, ranked = None, None
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe or died
        try:
            if request[0] == "rank":
                _, parsed, query = request
                if shard is None:
                    shard = TantivyShard(Path(path), share=share)
                ranking, ranked = shard.rank(parsed, query)
                reply: tuple = ("ok", ranking)
            else:
                if ranked is None:
                    raise SearchUnavailable("The search shard has no ranking to fetch from.")
                reply, ranked = ("ok", ranked.fetch(request[1])), None
        except (QuerySyntaxError, SearchUnavailable) as exc:
            reply = ("error", type(exc).__name__, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, never lost
            reply = ("error", "SearchUnavailable", f"The search shard failed: {exc!r}")
        try:
            conn.send(reply)
        except OSError:
            return  # the parent went away while this shard worked


def main(argv: list[str]) -> int:
    path, share, fd = argv
    with Connection(int(fd)) as conn:
        serve(path, int(share), conn)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
