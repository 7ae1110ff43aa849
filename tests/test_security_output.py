"""What leaves the aggregator is clean even when what is stored is not: rows written by older versions (which
did not clean text on the way in) with a lone surrogate, NUL, terminal escapes or bidi overrides break no
feed, no export and no terminal (issue 18, items 1 output half, 13 and 14)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import feedparser
import pytest

from aggregator.store.sqlite import SQLiteStorage
from tests.conftest import run_cli
from tests.store_backends import Backend, article, backend_fixture, save
from tests.test_serve import serving

__all__ = ["backend_fixture"]

ESCAPE = "\x1b]0;owned\x07\x1b[2J\x1b[31m"  # set the window title, clear the screen, red
CSI = "\x9b31m"  # the one-byte C1 form of ESC [
DIRTY_TITLE = "Headline %s with \x00 NUL, %s and \u202ebidi" % (ESCAPE, CSI)
# As an older version stored them: the authors and tags JSON carries escaped lone surrogates.
DIRTY_AUTHORS = json.dumps(["Evil \udfff Author", "\ud800"])
DIRTY_TAGS = json.dumps(["tag \udbff", "\x1b[5m"])


def dirty_database(path: Path) -> None:
    """A database whose story rows hold what older versions stored unclean, written past the storage class."""
    storage = SQLiteStorage(path)
    save(storage, "s1", "https://example.org/a", "evil", article("clean for now"), text_hash="h1")
    save(storage, "s1", "https://example.org/a", "evil", article("clean for now 2", text="Other text. " * 30),
         text_hash="h2")  # an earlier version, so explain lists one
    storage.close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE stories SET title = ?, authors = ?, tags = ?, text = ?, source = ?",
                   (DIRTY_TITLE, DIRTY_AUTHORS, DIRTY_TAGS, "Body \x1b[2J text. " * 30, "evil\x1b[1m"))
        db.execute("UPDATE sightings SET title = ?, url = ?", (DIRTY_TITLE, "https://example.org/a\x1b[0m"))
        db.execute("UPDATE story_versions SET title = ?", (DIRTY_TITLE,))
        db.execute("INSERT INTO runs (sources, started, finished, exit_status, reason) VALUES (?, ?, ?, ?, ?)",
                   ("evil\x1b[2J", "2026-11-20T00:00:00+00:00", "2026-11-20T00:01:00+00:00", 0, "fin\x1b[8mished"))
    db.close()


def assert_clean(text: str) -> None:
    bad = [char for char in text if ord(char) < 32 and char not in "\t\n" or 0x7F <= ord(char) <= 0x9F
           or 0xD800 <= ord(char) <= 0xDFFF or char == "\u202e"]
    assert not bad, (bad, text[:500])


def test_exports_of_unclean_stored_text_work_and_are_clean(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    dirty_database(db)
    out = tmp_path / "published.json"
    out.write_text("the previous export\n", "utf-8")
    for fmt in ("jsonfeed", "jsonl", "atom"):
        result = run_cli("export", "--db", str(db), "--format", fmt)
        assert result.returncode == 0, result.stderr[-3000:]
        assert_clean(result.stdout)
        written = run_cli("export", "--db", str(db), "--format", fmt, "-o", str(out))
        assert written.returncode == 0, written.stderr[-3000:]
        assert out.read_text("utf-8") == result.stdout
    (item,) = json.loads(run_cli("export", "--db", str(db)).stdout)["items"]
    assert item["authors"] == [{"name": "Evil  Author"}]
    assert item["tags"] == ["tag", "[5m"]
    assert item["title"].startswith("Headline ]0;owned[2J[31m with  NUL")


def test_served_feeds_and_page_of_unclean_stored_text(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    dirty_database(db)
    with serving(db, tmp_path) as server:
        for path in ("/feed.json", "/feed.atom", "/", "/feed.json?source=evil"):
            reply = server.get(path)
            assert reply.status == 200, (path, reply.body[:500])
            assert_clean(reply.body.decode("utf-8"))
        assert json.loads(server.get("/feed.json").body)["items"][0]["authors"] == [{"name": "Evil  Author"}]
        atom = feedparser.parse(server.get("/feed.atom").body)
        assert not atom.bozo, atom.bozo_exception
        # item 14: a limit of 5,000 digits is a bad request, not a server error
        reply = server.get("/feed.json?limit=" + "9" * 5000)
        assert reply.status == 400, reply.body[:300]
        assert server.get("/feed.json?limit=" + "0" * 4998 + "10").status == 200
        assert server.get("/healthz").status == 200


def test_terminal_escapes_never_reach_the_terminal(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    dirty_database(db)
    sources = tmp_path / "sources.toml"
    sources.write_text('[sources.evil]\nname = "Evil"\nfeed = "https://example.org/feed"\n', "utf-8")
    for args in (("explain", "s1"), ("runs",), ("stats",), ("sources", "--sources", str(sources))):
        result = run_cli(*args, *(("--db", str(db)) if args[0] != "sources" else ()))
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert_clean(result.stdout)
        assert_clean(result.stderr)
    explained = run_cli("explain", "s1", "--db", str(db)).stdout
    assert "Headline ]0;owned" in explained and "Earlier versions (1)" in explained
    assert "evil[2J" in run_cli("runs", "--db", str(db)).stdout


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_takes_nul_in_any_text(backend: Backend) -> None:
    """NUL in a URL, a source key, a validator or a title (what clean_text did not see) makes PostgreSQL
    refuse the whole save ("cannot contain NUL"); the store drops it."""
    storage = backend.open()
    try:
        dirty = article("Title \x00 NUL", text="Body \x00 text. " * 30, description="d\x00")
        assert save(storage, "n\x001", "https://example.org/\x00nul", "src\x00", dirty,
                    text_hash="h\x00", canonical_claim="https://example.org/c\x00", source_updated="2026\x00") == "new"
        storage.save_validators({"https://example.org/feed\x00": ('"etag\x00"', "Mon\x00")})
        assert storage.validators("https://example.org/feed") == ('"etag"', "Mon")
        (story,) = storage.stories()
        assert story.id == "n1" and story.url == "https://example.org/nul" and story.title == "Title  NUL"
    finally:
        storage.close()
