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
