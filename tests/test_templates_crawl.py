"""Template learning in real crawls (the CLI, worker processes, SQLite): two loopback sites whose articles carry
their own furniture (`tests/template_sites.py`). A first crawl learns from six stories per site; the second
crawl's new stories lose their furniture, a paragraph one article quotes from another stays, the models persist
and grow across the runs, and one wire story on the two sites, each copy in its own furniture, is signed as one
text and stored as one story (without learning, the furniture dominates the two copies' fingerprints)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aggregator.dedup.fingerprint import Fingerprint
from aggregator.testing.snapshot import ServedSites, render_template, serve_snapshot
from tests.conftest import FAST, run_cli
from tests.template_sites import FURNITURE, QUOTED, QUOTER, SOURCES, STORIES_PER_SITE, WIRE, stories, write_sites

FIRST_RUN = 6  # stories per site the first crawl sees (the model acts from the fifth page of a source)


@pytest.fixture()
def sites(tmp_path: Path) -> Iterator[tuple[ServedSites, Path]]:
    root = tmp_path / "sites"
    write_sites(root, FIRST_RUN)
    with serve_snapshot(root) as served:
        yield served, root


def crawl_twice(sites: tuple[ServedSites, Path], tmp_path: Path, *options: str) -> Path:
    served, root = sites
    registry = tmp_path / "sources.toml"
    registry.write_text(render_template(SOURCES, served), "utf-8")
    db = tmp_path / "crawl.db"
    for published in (FIRST_RUN, STORIES_PER_SITE):
        write_sites(root, published)
        result = run_cli("crawl", "--all", "--sources", str(registry), "--db", str(db), *FAST, *options)
        assert result.returncode == 0, result.stdout + result.stderr
    return db


def bodies(db: Path) -> dict[str, str]:
    """{url path's slug: stored text} of every sighting's story."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT g.url, s.text FROM sightings g JOIN stories s ON s.id = g.story_id").fetchall()
    return {url.rsplit("/", 1)[-1].removesuffix(".html"): text for url, text in rows}


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
