"""`serve` stays up under idle and trickling connections (issue 18, item 5): 150 idle TCP connections and
one request sent a byte at a time do not keep `/healthz` from answering, and each loses its connection after
the idle or request timeout. Real sockets against a real `aggregator serve` process."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.conftest import PROJECT
from tests.test_serve import SOURCES, fill


@contextmanager
def serve_process(db: Path, workdir: Path, *options: str) -> Iterator[tuple[str, int]]:
    sources = workdir / "sources.toml"
    sources.write_text(SOURCES, "utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("AGGREGATOR_DB", "AGGREGATOR_SOURCES")}
    with open(workdir / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "aggregator.ops.cli", "serve", "--db", str(db), "--sources", str(sources),
             "--host", "127.0.0.1", "--port", "0", *options],
            stdout=subprocess.PIPE, stderr=log, cwd=PROJECT, env=env, text=True)
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line.startswith("Serving http://127.0.0.1:"), (line, (workdir / "serve.log").read_text())
            port = int(line.split()[1].rstrip("/").rsplit(":", 1)[1])
            yield "127.0.0.1", port
        finally:
            process.terminate()
            process.wait(timeout=10)


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
    with serve_process(db, tmp_path, "--idle-timeout", "4", "--request-timeout", "3") as (host, port), \
            ExitStack() as stack:
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
