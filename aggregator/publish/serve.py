"""The HTTP side: a small WSGI app serving the feeds, the reader page and a health check, run by waitress.

Routes: `/` (reader page), `/feed.json` (JSON Feed 1.1), `/feed.atom` (Atom 1.0), `/search?q=` (a JSON Feed
of the stories found, best first), `/health` (each source's health, JSON), `/healthz`. The feeds and the page
take `?source=`, `?limit=`, `?since=` (the page also `?q=`: search results) and answer conditional requests
(ETag, Last-Modified, 304). Storage is opened through the factory it is given, once per worker thread (a SQLite
connection must stay on its thread); it is only ever read here. The source names may be live
(`aggregator.publish.registry_names`): asked once a request, so a source added while serving shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin

import waitress
from waitress.server import BaseWSGIServer, MultiSocketServer

from aggregator.publish.atom import build_atom, feed_id, feed_updated
from aggregator.publish.health import failing_sources, health_document
from aggregator.publish.jsonfeed import DEFAULT_BASE_URL, build_feed, dumps, rfc3339
from aggregator.publish.reader import CONTENT_SECURITY_POLICY, render_page
from aggregator.publish.requests import BadRequest, Query, not_modified, parse_query, search_text
from aggregator.publish.search_feed import search_document
from aggregator.store.backends import database_errors
from aggregator.store.model import StoryStorage
from aggregator.store.search_query import SearchQueryError
from aggregator.text import clean_text

logger = logging.getLogger(__name__)

__all__ = ["FeedApp", "listening_urls", "make_server"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
STATUS = {200: "200 OK", 304: "304 Not Modified", 400: "400 Bad Request", 404: "404 Not Found",
          405: "405 Method Not Allowed", 503: "503 Service Unavailable"}
# Headers a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5).
KEPT_ON_304 = {"etag", "last-modified", "cache-control", "vary", "content-location"}
# What the storage layer raises when the database is missing, locked for too long or not a database.
STORAGE_ERRORS = database_errors()


@dataclass(frozen=True)
class Feed:
    """A JSON Feed document and when what it shows last changed (None: nothing to show)."""

    document: dict[str, Any]
    last_modified: datetime | None


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]]


class FeedApp:
    """The WSGI application. `storage_factory` opens a storage backend (called once per worker thread).

    `source_names` is {key: display name}, or a callable giving them as they are now (`RegistryNames`), called once
    at the start of each request. `base_url` is where the feeds say they live (links, the Atom feed's `<id>`),
    never taken from a request.
    `database_identity`, when given, names the database file as it is now (e.g. its device and inode): when
    it changes (a new demo run replaced the file), each thread re-opens storage instead of reading the old,
    deleted one; when it raises (no file), requests get a 503."""

    def __init__(self, storage_factory: Callable[[], StoryStorage], *, title: str = "News aggregator",
                 source_names: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
                 default_limit: int = 50,
                 max_limit: int = 1000, max_age: int = 60, base_url: str = DEFAULT_BASE_URL,
                 database_identity: Callable[[], object] | None = None) -> None:
        if not 1 <= default_limit <= max_limit:
            raise ValueError("default_limit must be from 1 to max_limit (%d), got %r" % (max_limit, default_limit))
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.database_identity = database_identity
        self.storage_factory = storage_factory
        self.title = title
        if callable(source_names):
            self._names_now: Callable[[], Mapping[str, str]] = source_names
        else:
            fixed = dict(source_names or {})
            self._names_now = lambda: fixed
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.cache_control = "public, max-age=%d" % max_age
        self._local = threading.local()
        self.routes: dict[str, Callable[[dict[str, Any]], Response]] = {
            "/": self.reader_page, "/feed.json": self.json_feed, "/feed.atom": self.atom_feed,
            "/healthz": self.healthz, "/search": self.search_feed,
            "/health": lambda environ: _json(200, health_document(self.storage(), self.source_names)),
        }

    @property
    def source_names(self) -> Mapping[str, str]:
        """The source names of the request this thread serves (the same all through it)."""
        names: Mapping[str, str] | None = getattr(self._local, "names", None)
        return self._names_now() if names is None else names

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        self._local.names = self._names_now()
        try:
            return self._respond(environ, start_response)
        finally:
            self._local.names = None

    def _respond(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        route = self.routes.get(environ.get("PATH_INFO") or "/")
        if route is None:
            response = _text(404, "not found: try /, /feed.json, /feed.atom, /search?q= or /healthz")
        elif method not in ("GET", "HEAD"):
            response = _text(405, "method not allowed")
            response.headers.append(("Allow", "GET, HEAD"))
        else:
            try:
                response = route(environ)
            except BadRequest as exc:
                response = _text(400, "bad request: %s" % exc)
            except STORAGE_ERRORS:
                logger.exception("cannot read the database for %s", environ.get("PATH_INFO"))
                self._drop_storage()
                response = _text(503, "database unavailable")
        headers = response.headers + [("Content-Length", str(len(response.body)))]
        start_response(STATUS[response.status], headers)
        return [b""] if method == "HEAD" else [response.body]

    # Storage, one per worker thread.

    def storage(self) -> StoryStorage:
        identity = self.database_identity() if self.database_identity is not None else None
        storage = getattr(self._local, "storage", None)
        if storage is not None and identity != getattr(self._local, "identity", None):
            logger.info("the database was replaced: re-opening it")
            self._drop_storage()
            storage = None
        if storage is None:
            storage = self._local.storage = self.storage_factory()
            self._local.identity = identity
        return storage

    def _drop_storage(self) -> None:
        storage = getattr(self._local, "storage", None)
        self._local.storage = None
        if storage is not None:
            try:
                storage.close()
            except STORAGE_ERRORS:
                logger.debug("closing a broken storage failed", exc_info=True)

    # Routes.

    def _feed(self, environ: dict[str, Any]) -> tuple[Query, Feed]:
        query = parse_query(environ.get("QUERY_STRING", ""), self.default_limit, self.max_limit)
        storage = self.storage()
        self._check_source(storage, query.source)
        # When each story's stored text last changed is not in the feed document; reading it *before*
        # the feed means a change racing this request can only make Last-Modified too old (a client
        # fetches again), never newer than the content it labels.
        updated = [_parse_date(story.updated) for story in
                   storage.stories(limit=query.limit, since=query.since, source=query.source)]
        path = (environ.get("PATH_INFO") or "/").lstrip("/")
        query_string = query.canonical(self.default_limit)
        document = build_feed(storage, title=self.title, home_page_url=self.base_url,
                              feed_url=urljoin(self.base_url, path) + ("?" + query_string if query_string else ""),
                              limit=query.limit, since=query.since, source=query.source)
        changed = [date for date in updated if date is not None]
        if document["items"]:
            changed.append(feed_updated(document))
        return query, Feed(document, max(changed, default=None))

    def _check_source(self, storage: StoryStorage, source: str | None) -> None:
        if source and source not in self.source_names:
            stored = storage.known_sources()  # a source no longer configured still has its stories
            if source not in stored:
                raise BadRequest("unknown source %r; known sources: %s"
                                 % (source, ", ".join(sorted(set(self.source_names) | stored)) or "none"))

    def _search(self, environ: dict[str, Any], text: str) -> tuple[Query, Feed]:
        """The stories matching `text` (`?q=`), best first, as a JSON Feed (see `_feed` for Last-Modified)."""
        query = parse_query(environ.get("QUERY_STRING", ""), self.default_limit, self.max_limit)
        storage = self.storage()
        self._check_source(storage, query.source)
        filters = query.canonical(self.default_limit)
        try:
            document, changed = search_document(storage, text, limit=query.limit, since=query.since,
                                                source=query.source, title=self.title, base_url=self.base_url,
                                                filters=filters)
        except SearchQueryError as exc:
            raise BadRequest(str(exc)) from None
        return query, Feed(document, changed)

    def search_feed(self, environ: dict[str, Any]) -> Response:
        text = search_text(environ.get("QUERY_STRING", ""))
        if text is None:
            raise BadRequest("give q, what to search for (words, \"a phrase\", prefix*)")
        _, feed = self._search(environ, text)
        return self._conditional(environ, feed.last_modified, dumps(feed.document), JSON_FEED_TYPE)

    def json_feed(self, environ: dict[str, Any]) -> Response:
        _, feed = self._feed(environ)
        return self._conditional(environ, feed.last_modified, dumps(feed.document), JSON_FEED_TYPE)

    def atom_feed(self, environ: dict[str, Any]) -> Response:
        query, feed = self._feed(environ)
        atom = build_atom(feed.document, feed_id=feed_id(self.base_url, query.source))
        return self._conditional(environ, feed.last_modified, atom, ATOM_TYPE)

    def reader_page(self, environ: dict[str, Any]) -> Response:
        text = search_text(environ.get("QUERY_STRING", ""))
        if text is not None and not text.strip():
            text = None  # the box sent empty: the front page
        query, feed = self._feed(environ) if text is None else self._search(environ, text)
        subtitle = None
        if query.source:
            subtitle = "seen on %s" % self.source_names.get(query.source, query.source)
        shown = None if text is None else " ".join(clean_text(text).split())  # no NUL, escape or bidi override
        page = render_page(feed.document, self.source_names, subtitle, search=shown,
                           failing=failing_sources(self.storage(), self.source_names),
                           filters=parse_qsl(query.canonical(self.default_limit)))
        response = self._conditional(environ, feed.last_modified, page, HTML_TYPE)
        response.headers += [("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                             ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")]
        return response

    def healthz(self, environ: dict[str, Any]) -> Response:
        try:
            counts = self.storage().counts()
        except STORAGE_ERRORS as exc:
            logger.warning("health check: cannot read the database: %s", exc)
            self._drop_storage()
            return _json(503, {"status": "unavailable", "error": "database cannot be read"})
        return _json(200, {"status": "ok", "stories": counts["stories"], "sightings": counts["sightings"]})

    def _conditional(self, environ: dict[str, Any], last_modified: datetime | None, text: str,
                     content_type: str) -> Response:
        """A 200 with validators for `text`, or a 304 when the client's copy is current."""
        body = text.encode("utf-8")
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
        headers = [("Content-Type", content_type), ("ETag", etag), ("Cache-Control", self.cache_control)]
        if last_modified is not None:
            # Never later than now (RFC 9110 §8.8.2.1), even if a source dates a story in the future.
            last_modified = min(last_modified, datetime.now(UTC))
            headers.append(("Last-Modified", format_datetime(last_modified.astimezone(UTC), usegmt=True)))
        if not_modified(environ, etag, last_modified):
            return Response(304, b"", [(name, value) for name, value in headers if name.lower() in KEPT_ON_304])
        return Response(200, body, headers)


def _parse_date(value: str | None) -> datetime | None:
    parsed = rfc3339(value)
    return datetime.fromisoformat(parsed) if parsed else None


def _text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode("utf-8"),
                    [("Content-Type", TEXT_TYPE), ("Cache-Control", "no-store")])


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(status, (json.dumps(document) + "\n").encode("utf-8"),
                    [("Content-Type", JSON_TYPE), ("Cache-Control", "no-store")])


# Per-connection bounds (see README, Serving): a client that holds a connection without finishing its request
# costs one socket, never a worker thread, and loses it after these many seconds.
IDLE_TIMEOUT = 30  # no byte received and no request in progress (waitress's channel_timeout)
REQUEST_TIMEOUT = 15  # from the first byte of a request to its end, however slowly it trickles in
CONNECTION_LIMIT = 1000  # open connections at once (waitress's default of 100 fell to 100 idle sockets)


class RequestDeadline:
    """Waitress's maintenance for one listening server, plus a deadline per request: waitress closes only
    connections that have been *silent* for `channel_timeout`, so one byte every few seconds held a
    connection (and a place under `connection_limit`) for ever. A request still incomplete `timeout` seconds
    after it was first seen being received is cut off."""

    def __init__(self, server: BaseWSGIServer, timeout: float) -> None:
        self.idle = server.maintenance  # waitress's own: closes connections idle past channel_timeout
        self.server = server
        self.timeout = timeout
        self.receiving: dict[int, tuple[object, float]] = {}  # channel fd -> (its partial request, first seen)

    def __call__(self, now: float) -> None:
        self.idle(now)
        receiving: dict[int, tuple[object, float]] = {}
        for fd, channel in list(self.server.active_channels.items()):
            request = getattr(channel, "request", None)
            if request is None:
                continue
            seen, since = self.receiving.get(fd, (None, now))
            since = since if seen is request else now
            if now - since >= self.timeout:
                logger.info("closing a connection whose request took over %d s to arrive", self.timeout)
                channel.will_close = True
            else:
                receiving[fd] = (request, since)
        self.receiving = receiving


def make_server(app: FeedApp, host: str = "127.0.0.1", port: int = 8080, threads: int = 4, *,
                idle_timeout: int = IDLE_TIMEOUT, request_timeout: int = REQUEST_TIMEOUT,
                connection_limit: int = CONNECTION_LIMIT) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for `app`, bound and ready to `run()`; port 0 picks a free port.

    Idle connections are closed after `idle_timeout` seconds, requests not received whole within
    `request_timeout` seconds are cut off (checked every second), and at most `connection_limit` connections
    are open at once (poll(), not select(), so past 1,024 descriptors too)."""
    server = waitress.create_server(app, host=host, port=port, threads=threads, ident="news-aggregator",
                                    channel_timeout=idle_timeout, connection_limit=connection_limit,
                                    cleanup_interval=1, asyncore_use_poll=True)
    listeners = [server] if isinstance(server, BaseWSGIServer) else [
        dispatcher for dispatcher in server.map.values() if isinstance(dispatcher, BaseWSGIServer)]
    for listener in listeners:
        listener.maintenance = RequestDeadline(listener, request_timeout)
    return server


def listening_urls(server: BaseWSGIServer | MultiSocketServer) -> list[str]:
    """The http:// base URL of every socket `server` listens on (with the real port when 0 was asked)."""
    listen = getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]
    return ["http://%s:%s/" % ("[%s]" % host if ":" in str(host) else host, port) for host, port in listen]
