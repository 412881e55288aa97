"""Start the osmem stand-in for Elasticsearch on 127.0.0.1, behind the media-type shim.

No Elasticsearch can run on the development machine; osmem-server (PyPI) is an
in-memory OpenSearch-compatible server. Used by the contract suite's session
fixture and by ``bench/search_bench.py --backend elasticsearch``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from es_shim import EsShim  # noqa: E402


class StandInUnavailable(RuntimeError):
    """osmem could not be started here (no binary for this platform, no free port...)."""


@contextmanager
def elasticsearch_stand_in() -> Iterator[str]:
    """Yield a URL that the official Elasticsearch client can use; stop everything after."""
    try:
        from osmem_server import OsmemError, OsmemServer
    except ImportError as exc:
        raise StandInUnavailable(f"osmem-server is not installed: {exc}") from exc
    try:
        server = OsmemServer.start(japanese=False, addr="127.0.0.1:0")
    except (OsmemError, OSError) as exc:
        raise StandInUnavailable(str(exc)) from exc
    try:
        with EsShim(server.url) as shim:
            yield shim.url
    finally:
        server.close()
        if server.process.stdout is not None:  # the launcher leaves its pipe open
            server.process.stdout.close()
