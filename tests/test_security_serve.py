"""`serve` stays up under idle and trickling connections (issue 18, item 5): 150 idle TCP connections and
one request sent a byte at a time do not keep `/healthz` from answering, and each loses its connection after
the idle or request timeout. Real sockets against a real `aggregator serve` process."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from tests.test_serve import fill, serving


def healthz(host: str, port: int, timeout: float = 3) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (it reads b"" or a reset)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(4096) == b"" or True  # any answer (an error page) also ends the connection
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_idle_and_trickling_connections_do_not_take_serve_offline(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    fill(db)
    with serving(db, tmp_path, "--idle-timeout", "4", "--request-timeout", "3") as server, \
            ExitStack() as stack:
        host, port = server.host, server.port
        idle = [stack.enter_context(socket.create_connection((host, port), timeout=5)) for _ in range(150)]
        trickle = stack.enter_context(socket.create_connection((host, port), timeout=5))
        trickle_closed: list[float] = []
        started = time.monotonic()

        def drip() -> None:
            for byte in b"GET /feed.json HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
                try:
                    trickle.send(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.2)
            trickle_closed.append(time.monotonic() - started)

        dripping = threading.Thread(target=drip, daemon=True)
        dripping.start()
        # /healthz answers at once, again and again, while all of them hold their connections
        for _ in range(5):
            began = time.monotonic()
            assert healthz(host, port) == 200
            assert time.monotonic() - began < 2
            time.sleep(0.3)
        # the trickle is cut off after the request timeout (3 s, checked every second), long before its
        # 40 s of bytes are sent
        dripping.join(timeout=15)
        assert trickle_closed and trickle_closed[0] < 8, trickle_closed
        # the idle connections are closed after the idle timeout
        assert all(closed_within(sock, 8) for sock in idle)
        assert healthz(host, port) == 200
