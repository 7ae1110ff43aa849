"""Which stories a run announces as new: its window of whole seconds, on each backend."""

from __future__ import annotations

from aggregator.store.outbox import Outbox
from aggregator.store.sql import SQLStorage
from tests.store_backends import Backend, article, backend_fixture, save  # noqa: F401


def test_a_run_starting_in_the_second_the_last_one_finished_announces_only_its_own_stories(
        backend: Backend) -> None:
    storage = backend.open()
    try:
        assert isinstance(storage, SQLStorage)
        save(storage, "old", "https://a.example/1", "a", article("Stored by run 1"), text_hash="h1")
        save(storage, "new", "https://a.example/2", "a", article("Stored by run 2"), text_hash="h2")
        backend.query("UPDATE stories SET first_seen = '2026-11-20T10:00:05+00:00' WHERE id = 'old'")
        backend.query("UPDATE stories SET first_seen = '2026-11-20T10:00:06+00:00' WHERE id = 'new'")
        backend.query("INSERT INTO runs (id, sources, started, finished) VALUES"
                      " (1, 'a', '2026-11-20T10:00:01+00:00', '2026-11-20T10:00:05+00:00'),"
                      " (2, 'a', '2026-11-20T10:00:05+00:00', '2026-11-20T10:00:09+00:00')")
        outbox = Outbox(storage)
        window = outbox.run_window(2)
        assert window is not None
        assert [story.id for story in outbox.stories_first_seen(*window)] == ["new"]
        first = outbox.run_window(1)
        assert first is not None and [story.id for story in outbox.stories_first_seen(*first)] == ["old"]
    finally:
        storage.close()


def test_two_runs_in_one_second_each_announce_exactly_the_stories_they_saw_first(backend: Backend) -> None:
    from aggregator.notify import Notifier
    from aggregator.ops.notify import notify_after_run
    from aggregator.store.runs import open_run_log
    from tests.test_notify import receiving

    log = open_run_log(backend.db)
    storage = backend.open()
    try:
        first = log.start(["a"])
        save(storage, "old", "https://a.example/1", "a", article("Stored by run 1"), text_hash="h1")
        log.finish(first, None)
        second = log.start(["a", "b"])
        save(storage, "new", "https://a.example/2", "a", article("Stored by run 2"), text_hash="h2")
        # run 1's story seen again on another source: a sighting of run 2, not a new story of it
        save(storage, "old", "https://b.example/1", "b", article("Stored by run 1, again"), text_hash="h3",
             similarity=0.9, rule="near_jaccard")
        log.finish(second, None)
    finally:
        storage.close()
        log.close()
    second_of_both = "2026-11-20T10:00:05+00:00"  # whole seconds: both runs and all their rows in one
    backend.script(["UPDATE stories SET first_seen = '%s', updated = '%s'" % (second_of_both, second_of_both),
                    "UPDATE sightings SET first_seen = '%s', last_seen = '%s'" % (second_of_both, second_of_both),
                    "UPDATE runs SET started = '%s', finished = '%s'" % (second_of_both, second_of_both)])
    with receiving() as receiver:
        team = {"team": Notifier("team", receiver.url)}
        reports = [notify_after_run(backend.db, team, run_id, ["a"], budget=10) for run_id in (first, second)]
    assert [(report.queued, report.delivered) for report in reports if report is not None] == [(1, 1), (1, 1)]
    sent = {request.headers["X-Aggregator-Delivery"]: [item["id"] for item in request.feed()["items"]]
            for request in receiver.requests}
    assert sent == {"run-%d-new_story-0" % first: ["old"], "run-%d-new_story-0" % second: ["new"]}
