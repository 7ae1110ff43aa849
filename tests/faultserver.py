"""A fault-injection HTTP server on loopback: routes that hang, drip, truncate, bomb, loop and lie.

Each route is a function that writes the whole response itself on the raw socket file (HTTP/1.0, one
request per connection), so it can misbehave in ways a well-behaved server cannot: stop half-way through
a declared body, send one byte every few hundred milliseconds, declare 50 MB, inflate to 64 MB.
`hits` records every path asked, so a test can prove a request was never made.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

Route = Callable[["FaultHandler"], None]


class FaultHandler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = urlsplit(self.path).path
        self.server.hits.append(path)
        route = self.server.routes.get(path)
        try:
            if route is None:
                self.send_error(404)
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a size limit or a timeout): exactly what some routes provoke

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        logger.debug("%s %s", self.server.base_url, format % args)


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), FaultHandler)
        self.base_url = "http://%s:%d" % (host, self.server_address[1])
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []


@contextmanager
def serve_faults(host: str) -> Iterator[FaultServer]:
    """A running FaultServer on `host` (a loopback address); add routes to `server.routes`."""
    server = FaultServer(host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# --- routes -----------------------------------------------------------------------------------------
def page(body: bytes | str, content_type: str = "text/html; charset=utf-8", status: int = 200,
         headers: dict[str, str] | None = None) -> Route:
    data = body.encode("utf-8") if isinstance(body, str) else body

    def route(handler: FaultHandler) -> None:
        handler.head(status, {"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})})
        handler.wfile.write(data)
    return route


def redirect(location: str, status: int = 302) -> Route:
    return page(b"", status=status, headers={"Location": location})


def hang(seconds: float) -> Route:
    """Accept the request, then say nothing at all."""
    def route(handler: FaultHandler) -> None:
        time.sleep(seconds)
    return route


def drip(interval: float, total: float = 30.0) -> Route:
    """Headers at once, then one byte of body every `interval` seconds: never a whole response in time."""
    def route(handler: FaultHandler) -> None:
        handler.head(200, {"Content-Type": "text/html; charset=utf-8"})
        handler.wfile.write(b"<html><body><p>")
        handler.wfile.flush()
        deadline = time.monotonic() + total
        while time.monotonic() < deadline:
            time.sleep(interval)
            handler.wfile.write(b"x")
            handler.wfile.flush()
    return route


def truncated(body: bytes, declared: int) -> Route:
    """Declare `declared` bytes, send `body` (fewer), close."""
    def route(handler: FaultHandler) -> None:
        handler.head(200, {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(declared)})
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True
    return route


def bomb(encoding: str, inflated_size: int) -> Route:
    """A small body that inflates to `inflated_size` bytes of zeros (gzip or deflate)."""
    if encoding == "gzip":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    else:
        compressor = zlib.compressobj(9)
    block = bytes(1024 * 1024)
    data = b"".join(compressor.compress(block) for _ in range(inflated_size // len(block))) + compressor.flush()

    def route(handler: FaultHandler) -> None:
        handler.head(200, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": encoding,
                           "Content-Length": str(len(data))})
        handler.wfile.write(data)
    return route


def huge(size: int, declare_length: bool) -> Route:
    """`size` bytes of HTML, streamed in 64 KB pieces (with or without a Content-Length)."""
    chunk = b"<p>" + b"word " * 13105 + b"</p>"  # 64 KB

    def route(handler: FaultHandler) -> None:
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if declare_length:
            headers["Content-Length"] = str(size)
        handler.head(200, headers)
        sent = 0
        while sent < size:
            handler.wfile.write(chunk)
            sent += len(chunk)
    return route
