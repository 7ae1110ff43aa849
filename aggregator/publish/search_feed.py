"""Search results as a JSON Feed 1.1 document (what `/search` serves and `aggregator search --format jsonl`
prints): the hits best first, each a feed item as in `feed.json` plus a `_search` extension with its rank,
score and snippet. Reads storage; never writes it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urljoin

from aggregator.publish.atom import feed_updated
from aggregator.publish.jsonfeed import VERSION, rfc3339, story_item
from aggregator.store.model import Sighting, StoryStorage
from aggregator.store.search import Hit, search
from aggregator.text import clean_text

logger = logging.getLogger(__name__)

__all__ = ["build_search_feed", "search_document", "search_item"]


def search_item(hit: Hit, sightings: list[Sighting], rank: int) -> dict[str, Any]:
    """The feed item of one hit. `_search.snippet` is plain text; `_search.highlights` are the [start, end)
    character offsets (code points) of the matches in it; `score` ranks hits within one search only."""
    item = story_item(hit.story, sightings)
    item["_search"] = {"rank": rank, "score": round(hit.score, 6), "snippet": hit.snippet.text,
                       "highlights": [list(span) for span in hit.snippet.highlights]}
    return item


def build_search_feed(storage: StoryStorage, hits: list[Hit], *, title: str, home_page_url: str | None = None,
                      feed_url: str | None = None) -> dict[str, Any]:
    """The JSON Feed document of `hits`, in their order (best first), each with its sightings."""
    sightings = storage.sightings([hit.story.id for hit in hits])
    feed: dict[str, Any] = {"version": VERSION, "title": title}
    if home_page_url:
        feed["home_page_url"] = home_page_url
    if feed_url:
        feed["feed_url"] = feed_url
    feed["items"] = [search_item(hit, sightings[hit.story.id], rank) for rank, hit in enumerate(hits, 1)]
    return feed


def search_document(storage: StoryStorage, text: str, *, limit: int, since: datetime | None, source: str | None,
                    title: str, base_url: str, filters: str = "") -> tuple[dict[str, Any], datetime | None]:
    """The JSON Feed of the stories matching `text` and when what it shows last changed (None: nothing found),
    for `serve`: its feed URL is `BASE/search?q=TEXT` and `filters` (the other query parameters, as a query
    string). Raises SearchQueryError for a query with nothing to search for."""
    hits = search(storage, text, limit=limit, since=since, source=source)
    feed_url = urljoin(base_url, "search") + "?" + urlencode([("q", text)]) + ("&" + filters if filters else "")
    # the query as the search read it (`parse_query` cleans it too): no control or bidi override in a title
    shown = " ".join(clean_text(text).split())
    document = build_search_feed(storage, hits, title="%s: %s" % (title, shown), home_page_url=base_url,
                                 feed_url=feed_url)
    # As for the feeds: each story's last change, which the document does not show, and its newest date.
    changed = [datetime.fromisoformat(date) for date in (rfc3339(hit.story.updated) for hit in hits) if date]
    if hits:
        changed.append(feed_updated(document))
    return document, max(changed, default=None)
