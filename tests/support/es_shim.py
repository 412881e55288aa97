"""A loopback HTTP shim between the official Elasticsearch client and the osmem stand-in.

Test-only. The Elasticsearch 8/9 clients send
``application/vnd.elasticsearch+json; compatible-with=N`` (and ``+x-ndjson`` for
bulk), which osmem (an OpenSearch look-alike) rejects; and they refuse a server
whose responses lack ``X-Elastic-Product: Elasticsearch``. The shim rewrites the
media types to plain ``application/json`` / ``application/x-ndjson`` in both
directions, sets the product header (once), and forwards everything else untouched.
The product code talks to it exactly as it would to a real cluster.
"""

from __future__ import annotations

import http.client
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_VND = re.compile(r"application/vnd\.elasticsearch\+(x-ndjson|json)[^,]*")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "proxy-connection", "te", "trailer", "upgrade"}
_REPLACED = {"date", "server", "x-elastic-product"}  # set once by this shim


def plain_media_type(value: str) -> str:
    """``application/vnd.elasticsearch+json; compatible-with=9`` -> ``application/json``."""
    return _VND.sub(lambda m: "application/" + m.group(1), value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int] = ("127.0.0.1", 9200)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass  # keep test output clean

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: plain_media_type(v) for k, v in self.headers.items()
                   if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except OSError:
            self.send_error(502, "osmem stand-in unreachable")
            return
        finally:
            conn.close()
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in _HOP | _REPLACED:
                self.send_header(key, plain_media_type(value))
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward


class EsShim:
    """``with EsShim("http://127.0.0.1:1234") as shim: client = Elasticsearch(shim.url)``."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        handler = type("Handler", (_Handler,), {"upstream": (parts.hostname, parts.port)})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> EsShim:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> EsShim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
