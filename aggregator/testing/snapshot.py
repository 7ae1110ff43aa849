"""Serve snapshot news sites from a folder over loopback HTTP, for the offline demo and the tests.

A snapshot folder holds one sub-folder per site. Each site gets its own server on its own loopback
address (127.0.0.2, 127.0.0.3, ...), so that "same site" means "same host" exactly as on the web.
Files are looked up by URL path (the query string is ignored, so `?utm_source=x` links resolve);
a directory serves its `index.html`, and `/a/b` also finds `a/b.html`. In text files the marker
`{{BASE}}` becomes the site's own base URL and `{{BASE:other}}` the base URL of site `other`.
Responses carry `ETag` and `Last-Modified` and honour conditional GETs with `304`, as real sites do.
This module owns no crawling logic and never touches the network beyond loopback.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
TEXT_SUFFIXES = frozenset(CONTENT_TYPES)


def _resolve(site_dir: Path, url_path: str) -> Path | None:
    """Map a URL path onto a file inside `site_dir` (an absolute, resolved path), refusing anything that
    escapes it: `..` segments are normalised away first, and a symlink is followed only if it stays inside."""
    root = str(site_dir)
    candidate = os.path.normpath(os.path.join(root, unquote(url_path).lstrip("/")))
    if candidate != root and not candidate.startswith(root + os.sep):
        return None
    path = Path(candidate)
    if path.is_symlink() or any(parent.is_symlink() for parent in path.parents if len(str(parent)) > len(root)):
        resolved = path.resolve()
        if site_dir not in (resolved, *resolved.parents):
            return None
    if path.is_dir():
        path = path / "index.html"
    if not path.is_file() and path.with_name(path.name + ".html").is_file():
        path = path.with_name(path.name + ".html")
    return path if path.is_file() else None


class _SiteHandler(BaseHTTPRequestHandler):
    server: _SiteServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites serve

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.server.hits.append(self.path)
        found = self.server.lookup(urlsplit(self.path).path)
        if found is None:
            self.send_error(404)
            return
        path, etag, modified = found
        content_type = CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        if self.headers.get("If-None-Match") == etag or (
                not self.headers.get("If-None-Match") and self.headers.get("If-Modified-Since") == modified):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        body = self.server.body(path)
        self.send_response(200)
        self.send_header("Content-Type", content_type or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.server.base_url, format % args)


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site_dir: Path, host: str, bases: dict[str, str]) -> None:
        super().__init__((host, 0), _SiteHandler)
        self.site_dir = site_dir
        self._root = site_dir.resolve()
        self.bases = bases
        self.base_url = "http://%s:%d" % (host, self.server_address[1])
        self.hits: list[str] = []
        self._paths: dict[str, Path] = {}  # URL path -> file, for files found (a miss is looked up again)

    def lookup(self, url_path: str) -> tuple[Path, str, str] | None:
        """(file, ETag, Last-Modified) served at a URL path, or None (404). The ETag stands for the file's
        version and the base URLs filled in, as a web server's stands for a file's modification time and
        size, so a conditional request is answered without reading the file."""
        path = self._paths.get(url_path)
        if path is not None:
            try:
                return (path, *self._version(path))
            except FileNotFoundError:  # deleted since: look it up again
                del self._paths[url_path]
        path = _resolve(self._root, url_path)
        if path is None:
            return None
        self._paths[url_path] = path
        return (path, *self._version(path))

    def _version(self, path: Path) -> tuple[str, str]:
        stat = path.stat()
        version = "%d-%d-%d-%s-%s" % (stat.st_ino, stat.st_mtime_ns, stat.st_size, self.base_url,
                                      sorted(self.bases.items()))
        etag = '"%s"' % hashlib.blake2b(version.encode(), digest_size=8).hexdigest()
        return etag, formatdate(int(stat.st_mtime), usegmt=True)

    def body(self, path: Path) -> bytes:
        """The served body of a file: text files get the `{{BASE}}` markers filled in."""
        body = path.read_bytes()
        if path.suffix in TEXT_SUFFIXES and b"{{BASE" in body:
            for name, base in self.bases.items():
                body = body.replace(b"{{BASE:%s}}" % name.encode(), base.encode())
            body = body.replace(b"{{BASE}}", self.base_url.encode())
        return body


class ServedSites(dict[str, str]):
    """{site name: base URL} of running snapshot servers; `hits[site]` lists the paths requested."""

    def __init__(self) -> None:
        super().__init__()
        self.hits: dict[str, list[str]] = {}

    def reset_hits(self) -> None:
        for paths in self.hits.values():
            paths.clear()


@contextmanager
def serve_snapshot(root: Path, first_host: int = 2) -> Iterator[ServedSites]:
    """Serve every site folder under `root`; yields {site name: base URL} while the servers run."""
    sites = sorted(p for p in Path(root).iterdir() if p.is_dir())
    bases = ServedSites()
    servers: list[_SiteServer] = []
    try:
        for offset, site_dir in enumerate(sites):
            server = _SiteServer(site_dir, "127.0.0.%d" % (first_host + offset), bases)
            bases[site_dir.name] = server.base_url
            bases.hits[site_dir.name] = server.hits
            servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()
        yield bases
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def render_template(text: str, bases: dict[str, str]) -> str:
    """Fill `{{BASE:site}}` markers in a text (a sources file, say) with the served base URLs."""
    for name, base in bases.items():
        text = text.replace("{{BASE:%s}}" % name, base)
    return text
