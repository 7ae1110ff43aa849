"""The offline demo: serve the bundled snapshot of three news sites on loopback, crawl them into a fresh
SQLite database and write a JSON Feed, printing the summary and where the files are."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from aggregator.ops.crawl import crawl_settings, run_crawl
from aggregator.publish.jsonfeed import DEFAULT_BASE_URL, build_feed, dumps
from aggregator.sources import load_registry
from aggregator.store.backends import open_storage
from aggregator.store.runs import open_run_log
from aggregator.testing.snapshot import render_template, serve_snapshot

logger = logging.getLogger(__name__)

# The snapshot server is ours and on loopback: no politeness delays needed.
DEMO_OVERRIDES = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ROBOTSTXT_OBEY": False,
                  "LOG_LEVEL": "WARNING"}


def run_demo(output_dir: Path) -> int:
    """Run the demo into `output_dir` (replacing an earlier demo there); returns the crawl's exit code."""
    demo_root = resources.files("aggregator").joinpath("demo")
    output_dir.mkdir(parents=True, exist_ok=True)
    db = output_dir / "aggregator.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    with resources.as_file(demo_root) as root, serve_snapshot(root / "site") as bases:
        sources = output_dir / "sources.toml"
        sources.write_text(render_template((root / "sources.toml").read_text("utf-8"), bases), "utf-8")
        print("Serving the snapshot sites: %s" % ", ".join("%s=%s" % kv for kv in sorted(bases.items())))
        settings = crawl_settings({"AGGREGATOR_DB": str(db), "AGGREGATOR_SOURCES": str(sources),
                                   **DEMO_OVERRIDES})
        runs = open_run_log(str(db))  # recorded like any crawl, so `aggregator runs`/`stats` show it
        run_id = runs.start(list(load_registry(str(sources))))
        summary = None
        try:
            summary = run_crawl([], settings)
        finally:
            runs.finish(run_id, summary)
            runs.close()
    storage = open_storage(str(db))
    try:
        feed = build_feed(storage, title="News aggregator demo", home_page_url=DEFAULT_BASE_URL)
        counts = storage.counts()
    finally:
        storage.close()
    feed_path = output_dir / "feed.json"
    # Through a temporary file renamed over the old feed: a reader never sees half of one.
    temporary = feed_path.with_name(".feed.json.tmp")
    temporary.write_text(dumps(feed), encoding="utf-8")
    temporary.replace(feed_path)
    print("Demo crawl finished:")
    for line in summary.lines():
        print("  " + line)
    print("  stories: %d, sightings: %d" % (counts["stories"], counts["sightings"]))
    for item in feed["items"]:
        places = item["_aggregator"]["sightings"]
        print("  - %s  [%s]" % (item.get("title"), ", ".join(s["source"] for s in places)))
    print("Database:  %s" % db.resolve())
    print("JSON Feed: %s" % feed_path.resolve())
    return summary.exit_code
