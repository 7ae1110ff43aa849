"""Storage at the edges users reach through it, once per backend (SQLite and the test PostgreSQL server):
`since` as an instant, newest first by instant, known sources, and runs recorded per source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from aggregator.ops.crawl import CrawlSummary
from aggregator.store.model import StoryStorage
from aggregator.store.runs import open_run_log
from tests.pgserver import postgres_url  # noqa: F401 (a fixture)
from tests.store_backends import Backend, article, backend_fixture, save, storage_fixture  # noqa: F401 (fixtures)


def test_since_and_order_compare_instants_whatever_the_offset(storage: StoryStorage) -> None:
    save(storage, "east", "https://a.example/east", "a", article("East", "2026-11-25T11:00:00+05:00"))  # 06:00Z
    save(storage, "west", "https://a.example/west", "b", article("West", "2026-11-25T05:30:00+00:00"))
    save(storage, "late", "https://a.example/late", "a", article("Late", "2026-11-25T02:00:00-05:00"))  # 07:00Z
    save(storage, "day", "https://a.example/day", "a", article("Day", "2026-11-24"))
    # As text, "2026-11-25T11:00:00+05:00" sorts after "...T02:00:00-05:00"; as instants it is an hour before.
    assert [s.id for s in storage.stories()][:4] == ["late", "east", "west", "day"]
    six_utc = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert [s.id for s in storage.stories(since=six_utc)] == ["late", "east"]
    same = six_utc.astimezone(timezone(timedelta(hours=5)))
    assert [s.id for s in storage.stories(since=same)] == ["late", "east"]
    assert [s.id for s in storage.stories(since=datetime(2026, 11, 24), source="a")] == ["late", "east", "day"]
    assert storage.known_sources() == {"a", "b"}


def test_runs_are_recorded_and_counted_per_source(backend: Backend) -> None:
    log = open_run_log(backend.db)
    try:
        done = CrawlSummary.from_stats({"finish_reason": "finished", "downloader/response_count": 4,
                                        "aggregator/errors/http_404": 1})
        log.finish(log.start(["a", "b"]), done)
        log.finish(log.start(["b"]), done)
        assert [run.sources for run in log.recent(source="a")] == ["a,b"]
        assert [run.sources for run in log.recent(source="b")] == ["b", "a,b"]
        assert [run.sources for run in log.recent(1, source="b")] == ["b"]
        assert log.recent(source="a_") == []  # a key is a name, not a pattern
        totals = {row["sources"]: row for row in log.totals()}
        assert sorted(totals) == ["a", "b"]
        assert (totals["a"]["runs"], totals["a"]["failed"], totals["a"]["pages"]) == (1, 1, 4)
        assert (totals["b"]["runs"], totals["b"]["failed"], totals["b"]["errors"]) == (2, 2, 2)
    finally:
        log.close()
