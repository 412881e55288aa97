"""The HTTP server of ``chartvault serve``: cheroot (CherryPy's WSGI server), threaded.

Cheroot hands the app the request body as an unread stream, so the app decides on
the headers (who is asking, how much) before a byte of an upload is read; a server
that buffers whole bodies first (waitress spools them to a temporary file) would
let anyone fill the disk before the sign-in check. When the app answers without
reading a large body (a refusal), the connection is closed rather than the rest
of the body read and thrown away.
"""

from __future__ import annotations

from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi

# An unread body up to this size is read and dropped so the connection can be reused;
# beyond it the connection is closed (the refused sender gets its answer either way).
DRAIN_LIMIT = 64 * 1024


class _Request(cheroot_server.HTTPRequest):
    def send_headers(self) -> None:
        remaining = getattr(self.rfile, "remaining", 0) or 0
        if remaining > DRAIN_LIMIT or self.chunked_read:
            self.close_connection = True
        super().send_headers()


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


def make_server(app: Any, host: str, port: int, *, threads: int, max_body: int
                ) -> wsgi.Server:
    """A cheroot server for ``app``; a body declared larger than ``max_body`` is refused
    (413) by the server itself."""
    server = wsgi.Server((host, port), app, numthreads=threads, server_name="chartvault",
                         timeout=60, request_queue_size=64)
    server.ConnectionClass = _Connection
    server.max_request_body_size = max_body
    return server


def serve(app: Any, host: str, port: int, *, threads: int = 8, max_body: int) -> None:
    """Serve until interrupted (KeyboardInterrupt or SystemExit stop it cleanly)."""
    server = make_server(app, host, port, threads=threads, max_body=max_body)
    try:
        server.start()
    finally:
        server.stop()
