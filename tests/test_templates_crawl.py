"""Template learning in real crawls (the CLI, worker processes, SQLite): two loopback sites whose articles carry
their own furniture (`tests/template_sites.py`). A first crawl learns from six stories per site; the second
crawl's new stories lose their furniture, a paragraph one article quotes from another stays, the models persist
and grow across the runs, and one wire story on the two sites, each copy in its own furniture, is signed as one
text and stored as one story (without learning, the furniture dominates the two copies' fingerprints). Once a
source is learned, its pages are stripped and signed in the extraction workers alone, and stored exactly as the
template pipeline stripping them itself stores them."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aggregator.dedup.fingerprint import Fingerprint
from aggregator.testing.snapshot import ServedSites, render_template, serve_snapshot
from tests.conftest import FAST, run_cli
from tests.template_reference import REFERENCE_PIPELINES
from tests.template_sites import FURNITURE, QUOTED, QUOTER, SOURCES, STORIES_PER_SITE, WIRE, stories, write_sites

FIRST_RUN = 6  # stories per site the first crawl sees (the model acts from the fifth page of a source)


@pytest.fixture()
def sites(tmp_path: Path) -> Iterator[tuple[ServedSites, Path]]:
    root = tmp_path / "sites"
    write_sites(root, FIRST_RUN)
    with serve_snapshot(root) as served:
        yield served, root


_STAT = re.compile(r"'(aggregator/templates/[^']+)': (\d+)")


def crawl_twice(sites: tuple[ServedSites, Path], tmp_path: Path, *options: str) -> Path:
    return crawl_runs(sites, tmp_path, *options)[0]


def crawl_runs(sites: tuple[ServedSites, Path], tmp_path: Path, *options: str) -> tuple[Path, list[dict[str, int]]]:
    """The database of two crawls, the first seeing `FIRST_RUN` stories per site, and each run's template stats."""
    served, root = sites
    tmp_path.mkdir(exist_ok=True)
    registry = tmp_path / "sources.toml"
    registry.write_text(render_template(SOURCES, served), "utf-8")
    db = tmp_path / "crawl.db"
    stats = []
    for published in (FIRST_RUN, STORIES_PER_SITE):
        write_sites(root, published)
        result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST, *options,
                         env={"AGGREGATOR_WORKERS": "2"})
        assert result.returncode == 0, result.stdout + result.stderr
        dump = result.stderr[result.stderr.rindex("Dumping Scrapy stats"):]
        stats.append({name: int(value) for name, value in _STAT.findall(dump)})
    return db, stats


def bodies(db: Path) -> dict[str, str]:
    """{url path's slug: stored text} of every sighting's story."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT g.url, s.text FROM sightings g JOIN stories s ON s.id = g.story_id").fetchall()
    return {url.rsplit("/", 1)[-1].removesuffix(".html"): text for url, text in rows}


def stored(db: Path) -> tuple[dict[str, tuple[str, bytes]], set[frozenset[str]]]:
    """{URL: (its story's text, its fingerprint)} and the URLs grouped by story: the dedup outcome."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT g.url, s.text, g.fingerprint, g.story_id FROM sightings g"
                           " JOIN stories s ON s.id = g.story_id").fetchall()
    stories: dict[str, set[str]] = {}
    for url, _text, _fingerprint, story_id in rows:
        stories.setdefault(story_id, set()).add(url)
    return {url: (text, fingerprint) for url, text, fingerprint, _ in rows}, {frozenset(v) for v in stories.values()}


def wire_story_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as con:
        return {row[0] for row in con.execute("SELECT story_id FROM sightings WHERE url LIKE '%wire-ferry-fares%'")}


def wire_similarity(db: Path) -> float:
    """The Jaccard estimate between the stored fingerprints of the two copies of the wire story: what the
    dedup index sees of them, whatever it then decides."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT fingerprint FROM sightings WHERE url LIKE '%wire-ferry-fares%'").fetchall()
    first, second = (Fingerprint.from_bytes(row[0]) for row in rows)
    return float(np.mean(first.hashvalues == second.hashvalues))


def test_learned_furniture_leaves_new_bodies_and_copies_collapse(sites: tuple[ServedSites, Path],
                                                                 tmp_path: Path) -> None:
    db = crawl_twice(sites, tmp_path)
    stored = bodies(db)
    assert len(stored) == 2 * STORIES_PER_SITE
    for site, furniture in FURNITURE.items():
        lines = furniture["after_first"] + furniture["end"]
        for number, (slug, _title, paragraphs) in enumerate(stories(site)):
            if number < FIRST_RUN or number == WIRE:
                continue  # learned from before the model acted; the wire story is the other site's text
            text = stored[slug]
            assert not [line for line in lines if line in text], slug
            assert all(paragraph in text for paragraph in paragraphs), slug
    quoted = stories("harbourpost")[QUOTED][2][2]
    assert quoted in stored["harbourpost-story-%d" % QUOTER] and quoted in stored["harbourpost-story-%d" % QUOTED]
    # the two copies of the wire story, each in its own furniture, are signed as the same text: one story
    assert wire_similarity(db) == 1.0 and len(wire_story_ids(db)) == 1
    with sqlite3.connect(db) as con:
        models = con.execute("SELECT source, pages FROM source_templates ORDER BY source").fetchall()
    assert models == [("harbourpost", STORIES_PER_SITE), ("valleytimes", STORIES_PER_SITE)]  # across both runs


def test_without_learning_the_furniture_stays_in_bodies_and_fingerprints(sites: tuple[ServedSites, Path],
                                                                             tmp_path: Path) -> None:
    db = crawl_twice(sites, tmp_path, "--set", "AGGREGATOR_TEMPLATES=false")
    stored = bodies(db)
    assert FURNITURE["valleytimes"]["end"][1] in stored["valleytimes-story-%d" % (STORIES_PER_SITE - 2)]
    assert wire_similarity(db) < 0.7  # the furniture dominates the copies' fingerprints
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM source_templates").fetchone() == (0,)


def test_a_learned_source_is_stripped_in_the_workers_as_the_template_pipeline_alone_strips_it(
        sites: tuple[ServedSites, Path], tmp_path: Path) -> None:
    db, runs = crawl_runs(sites, tmp_path / "workers")
    reference, reference_runs = crawl_runs(sites, tmp_path / "reference", "--set",
                                           "ITEM_PIPELINES=" + REFERENCE_PIPELINES)
    first, second = runs
    # the first run: the pages extracted before a source's model acted are stripped and signed again
    assert first["aggregator/templates/cleaned"] == 4 and first.get("aggregator/templates/resigned", 0) <= 4
    # the second: the model is loaded before the first page is extracted; every page is stripped and signed
    # once, in its extraction worker
    assert second["aggregator/templates/cleaned"] == second["aggregator/templates/stripped_in_worker"] == 12
    assert "aggregator/templates/resigned" not in second
    assert [run["aggregator/templates/cleaned"] for run in reference_runs] == [4, 12]
    assert not any("aggregator/templates/stripped_in_worker" in run for run in reference_runs)

    pages, outcome = stored(db)
    expected_pages, expected_outcome = stored(reference)
    assert outcome == expected_outcome and len(outcome) == 2 * STORIES_PER_SITE - 1  # the wire copies are one
    for site in FURNITURE:
        for number, (slug, _title, _paragraphs) in enumerate(stories(site)[FIRST_RUN:], start=FIRST_RUN):
            [url] = [url for url in pages if url.endswith("/%s.html" % slug)]
            text, fingerprint = pages[url]
            expected_text, expected_fingerprint = expected_pages[url]
            assert fingerprint == expected_fingerprint, url
            if number != WIRE:  # which copy of the wire story is its story's text is the order's choice
                assert text == expected_text, url
