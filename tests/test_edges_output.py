"""What the commands print and write at the edges: valid Atom, a stable feed id, `--since` as instants, no
invented dates, the crawl's decoding in `extract`, empty texts kept apart, whole output files, unknown
sources refused, runs recorded per source, and a server that follows a re-created database."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import feedparser
from lxml import etree

from aggregator.items import Article
from aggregator.publish.atom import ATOM_NS
from aggregator.store.backends import open_storage
from tests.conftest import FAST, PROJECT, run_cli
from tests.test_cli import invoke
from tests.test_serve import serving

A = "{%s}" % ATOM_NS


def article(title: str, published: str | None = None, authors: tuple[str, ...] = ()) -> Article:
    words = " ".join("%s sentence %d about the %s." % (title, n, title.lower()) for n in range(25))
    return Article(text=words, title=title, date_published=published, authors=authors)


def fill(path: Path, stories: dict[str, tuple[str | None, tuple[str, ...]]], source: str = "timesca") -> None:
    storage = open_storage(str(path))
    for number, (key, (published, authors)) in enumerate(stories.items()):
        storage.save(story_id=key, url="https://%s.example/%s" % (source, key), source=source,
                     article=article(key.title(), published, authors), text_hash="h%d" % number, similarity=None,
                     rule=None, fingerprint=None)
    storage.close()


def test_atom_without_authors_still_has_an_author_for_every_entry(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fill(db, {"anon": ("2026-11-20T10:00:00+00:00", ()), "signed": ("2026-11-21T10:00:00+00:00", ("Aida",))})
    result = invoke("export", "--db", str(db), "--format", "atom", "--title", "Steppe news")
    root = etree.fromstring(result.stdout.encode("utf-8"))
    # RFC 4287 §4.1.1: an entry without an author is valid only when the feed has one.
    assert root.findtext("%sauthor/%sname" % (A, A)) == "Steppe news"
    entries = {entry.findtext(A + "title"): entry for entry in root.iter(A + "entry")}
    assert entries["Anon"].find(A + "author") is None
    assert entries["Signed"].findtext("%sauthor/%sname" % (A, A)) == "Aida"
    parsed = feedparser.parse(result.stdout.encode("utf-8"))
    assert not parsed.bozo and parsed.feed.author == "Steppe news"


def test_atom_feed_id_is_the_same_exported_and_served_on_any_port(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    fill(db, {"rail": ("2026-11-20T10:00:00+00:00", ())})

    def exported(*args: str) -> str:
        return str(feedparser.parse(invoke("export", "--db", str(db), "--format", "atom", *args).stdout).feed.id)

    assert exported() == "http://127.0.0.1:8080/feed.atom"
    assert exported("--source", "timesca") == "http://127.0.0.1:8080/feed.atom?source=timesca"
    assert exported("--base-url", "https://news.example/agg") == "https://news.example/agg/feed.atom"
    served = []
    for run in ("one", "two"):  # two servers, two ports (the port used to be part of the id)
        workdir = tmp_path / run
        workdir.mkdir()
        with serving(db, workdir) as server:
            feed = feedparser.parse(server.get("/feed.atom", headers={"Host": "evil.example"}).body).feed
            filtered = feedparser.parse(server.get("/feed.atom?source=timesca&limit=5").body).feed
            served.append((server.port, feed.id, filtered.id))
    assert served[0][0] != served[1][0]
    assert [ids[1:] for ids in served] == [(exported(), exported("--source", "timesca"))] * 2


def test_since_compares_instants_not_spellings(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    # 06:00 UTC written with a +05:00 offset, and a story one minute before it written in UTC
    fill(db, {"at": ("2026-11-25T11:00:00+05:00", ()), "before": ("2026-11-25T05:59:00+00:00", ()),
              "week": ("2026-11-17T08:00:00+00:00", ()), "old": ("2026-11-10T08:00:00+00:00", ())})

    def ids(since: str) -> list[str]:
        result = invoke("export", "--db", str(db), "--format", "jsonl", "--since", since)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    assert ids("2026-11-25T06:00:00Z") == ids("2026-11-25T11:00:00+05:00") == ["at"]
    assert ids("2026-11-25T05:59:00Z") == ["at", "before"]
    assert ids("20261120") == ids("2026-11-20") == ["at", "before"]  # basic form: an instant too
    assert ids("2026-W47") == ["at", "before", "week"]  # week 47 starts on Monday 16 November
    with serving(db, tmp_path) as server:
        served = json.loads(server.get("/feed.json?since=2026-11-25T11:00:00%2B05:00").body)
        assert [item["id"] for item in served["items"]] == ["at"]
        assert served["feed_url"] == "http://127.0.0.1:8080/feed.json?since=2026-11-25T11%3A00%3A00%2B05%3A00"


def test_a_story_without_a_date_has_no_date_published_and_sorts_by_first_seen(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    fill(db, {"dated": ("2000-01-01T00:00:00+00:00", ()), "undated": (None, ())})
    feed = json.loads(invoke("export", "--db", str(db)).stdout)
    items = {item["id"]: item for item in feed["items"]}
    assert "date_published" not in items["undated"]  # it used to be the crawl's time
    assert items["undated"]["_aggregator"]["first_seen"]
    assert [item["id"] for item in feed["items"]] == ["undated", "dated"]  # first seen today, after 2000
    atom = etree.fromstring(invoke("export", "--db", str(db), "--format", "atom").stdout.encode("utf-8"))
    undated = next(e for e in atom.iter(A + "entry") if e.findtext(A + "title") == "Undated")
    assert undated.find(A + "published") is None
    assert undated.findtext(A + "updated") == items["undated"]["_aggregator"]["first_seen"]


def test_extract_decodes_a_page_as_the_crawl_does(tmp_path: Path) -> None:
    body = "".join("<p>Le café du marché de Tachkent a rouvert, paragraphe %d, après les travaux.</p>" % n
                   for n in range(12))
    page = tmp_path / "latin1.html"
    page.write_bytes(("<html><head><meta charset='iso-8859-1'><title>Café</title></head><body><article>"
                      "<h1>Le café rouvre</h1>%s</article></body></html>" % body).encode("latin-1"))
    result = invoke("extract", str(page), "--format", "text")
    assert result.exit_code == 0, result.output
    assert "Le café du marché" in result.stdout and "\ufffd" not in result.stdout


def test_dedup_keeps_empty_texts_apart() -> None:
    lines = [{"id": "a", "text": ""}, {"id": "b", "text": ""}, {"id": "c", "text": "  — … "},
             {"id": "d", "text": "Tram line approved. " * 20}, {"id": "e", "text": "Tram line approved. " * 20}]
    result = invoke("dedup", "-", stdin="".join(json.dumps(line) + "\n" for line in lines))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["story"] for line in result.stdout.splitlines()] == ["a", "b", "c", "d", "d"]


def test_export_replaces_the_output_file_whole_or_not_at_all(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    fill(db, {"story%02d" % n: ("2026-11-%02dT08:00:00+00:00" % (n % 28 + 1), ()) for n in range(100)})
    out = tmp_path / "feed.json"
    out.write_text('{"an": "earlier feed"}\n', "utf-8")
    os.chmod(out, 0o640)
    before = os.stat(out)
    ok = invoke("export", "--db", str(db), "-o", str(out))
    assert ok.exit_code == 0 and len(json.loads(out.read_text("utf-8"))["items"]) == 100
    after = os.stat(out)
    assert after.st_ino != before.st_ino and after.st_mode & 0o777 == 0o640  # renamed into place, mode kept
    assert [path.name for path in tmp_path.iterdir() if not path.name.startswith("big.db")] == ["feed.json"]
    # A write that fails part way (here: the file size limit, as a full disk would) leaves the old file whole.
    out.write_text('{"an": "earlier feed"}\n', "utf-8")
    limit = 65536  # above the database's 32 KB shared-memory file, below the feed
    assert len(json.dumps(json.loads(invoke("export", "--db", str(db)).stdout))) > 2 * limit

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    failed = subprocess.run([sys.executable, "-m", "aggregator.ops.cli", "export", "--db", str(db), "-o", str(out)],
                            capture_output=True, text=True, cwd=PROJECT, preexec_fn=small_files, timeout=60)
    assert failed.returncode == 1, failed.stderr
    assert "Error: Could not open file" in failed.stderr and "File too large" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert out.read_text("utf-8") == '{"an": "earlier feed"}\n'
    assert [path.name for path in tmp_path.iterdir() if not path.name.startswith("big.db")] == ["feed.json"]


def test_serve_follows_a_database_re_created_under_it(tmp_path: Path) -> None:
    db = tmp_path / "news.db"
    fill(db, {"first": ("2026-11-20T10:00:00+00:00", ())})
    with serving(db, tmp_path) as server:
        assert [item["id"] for item in json.loads(server.get("/feed.json").body)["items"]] == ["first"]
        for path in (db, Path(str(db) + "-wal"), Path(str(db) + "-shm")):  # as a new demo run does
            path.unlink(missing_ok=True)
        assert server.get("/healthz").status == 503  # no database: not an empty one created in its place
        assert not db.exists()
        fill(db, {"second": ("2026-11-21T10:00:00+00:00", ())})
        assert [item["id"] for item in json.loads(server.get("/feed.json").body)["items"]] == ["second"]
        assert json.loads(server.get("/healthz").body)["stories"] == 1


def test_crawl_all_is_recorded_under_each_source(seed_registry: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    result = run_cli("crawl", "--all", "--sources", str(seed_registry), "--db", str(db), *FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = sqlite3.connect(db).execute("SELECT sources FROM runs").fetchall()
    assert rows == [("astanatimes,commonspace,timesca",)]  # used to be the pseudo-source "all"
    for source in ("astanatimes", "timesca"):
        listed = invoke("runs", "--db", str(db), "--source", source)
        assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["1"]
    stats = {line.split()[0]: line.split() for line in invoke("stats", "--db", str(db)).stdout.splitlines()[1:]}
    assert sorted(stats) == ["astanatimes", "commonspace", "timesca"]
    assert all(row[4] == "1" for row in stats.values())  # RUNS: the one run, once for each source
