"""Re-crawl benchmark: what an unchanged and a slightly changed site cost on the second and third crawl.

Builds a loopback site of N articles (default 1,000) announced by a feed (newest 50), a sitemap (all) and a
paginated listing (20 per page), then runs `aggregator crawl` three times into one SQLite database:
1. the first crawl; 2. the site unchanged; 3. after 10 new articles and 5 updated ones.
For each run it prints the requests the server saw (index = feed/sitemap/listing/robots, articles) and the
seconds, then checks the targets: run 2 makes at most one request per index page and none for articles;
run 3 fetches exactly the 15 changed articles, and the 5 updates replace their stories' text without new items.

    python bench/recrawl.py [--articles 1000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.testing.sitegen import SiteSpec, generate_stories, make_story, paragraphs, write_site  # noqa: E402
from aggregator.testing.snapshot import ServedSites, render_template, serve_snapshot  # noqa: E402

SOURCES = """
[sources.site]
name = "Recrawl Gazette"
feed = "{{BASE:site}}/feed.rss"
sitemap = "{{BASE:site}}/sitemap.xml"
listing = "{{BASE:site}}/news/"
article_links = "a.article-link"
max_pages = %d
"""
FAST = ["--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=false", "--set", "CONCURRENT_REQUESTS=32",
        "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=32", "--log-level", "WARNING"]


def crawl(registry: Path, db: Path, sites: ServedSites) -> dict[str, float]:
    sites.reset_hits()
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "aggregator.ops.cli", "crawl", "--all", "--sources", str(registry),
                             "--db", str(db), *FAST], capture_output=True, text=True, cwd=PROJECT_ROOT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit("crawl failed (%d):\n%s\n%s" % (result.returncode, result.stdout, result.stderr[-3000:]))
    hits = sites.hits["site"]
    articles = [p for p in hits if p.startswith("/news/") and not p.startswith("/news/page/") and p != "/news/"]
    summary = {line.split(":")[0].strip(): line.split(":")[1].split()[0]
               for line in result.stdout.splitlines()[1:] if ":" in line}
    return {"requests": len(hits), "index": len(hits) - len(articles), "articles": len(articles),
            "seconds": seconds, "stored": int(summary.get("articles stored", 0)),
            "updated": int(summary.get("stories updated", 0)), "article_paths": articles}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    per_page = 20
    pages = -(-(args.articles + 10) // per_page)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sites"
        site = SiteSpec(name="site", stories=generate_stories(args.articles, seed=3), listing_per_page=per_page)
        write_site(root, site)
        db = Path(tmp) / "recrawl.db"
        with serve_snapshot(root) as sites:
            registry = Path(tmp) / "sources.toml"
            registry.write_text(render_template(SOURCES % pages, sites), "utf-8")
            runs = {"1 first crawl": crawl(registry, db, sites)}
            runs["2 unchanged"] = crawl(registry, db, sites)
            rng = random.Random(11)
            latest = max(s.last_change for s in site.stories)
            new = [make_story(rng, args.articles + i, latest + timedelta(minutes=10 + i)) for i in range(10)]
            updated = rng.sample(site.stories[:-50], 5)  # older stories, so the feed only shows them once updated
            for story in updated:
                story.paragraphs = paragraphs(rng)
                story.updated = latest + timedelta(minutes=30)
            site.stories.extend(new)
            write_site(root, site)
            runs["3 +10 new, 5 updated"] = crawl(registry, db, sites)
        stories = sqlite3.connect(db).execute("SELECT count(*) FROM stories").fetchone()[0]
    print("%-22s %9s %7s %9s %8s %7s %8s" % ("run", "requests", "index", "articles", "seconds", "stored",
                                            "updated"))
    for name, run in runs.items():
        print("%-22s %9d %7d %9d %8.2f %7d %8d" % (name, run["requests"], run["index"], run["articles"],
                                                  run["seconds"], run["stored"], run["updated"]))
    index_pages = 1 + 1 + pages + 1  # feed, sitemap, listing pages, robots.txt
    second, third = runs["2 unchanged"], runs["3 +10 new, 5 updated"]
    changed = {"/news/%s" % s.slug for s in new + updated}
    checks = {
        "run 2: no article request": second["articles"] == 0,
        "run 2: at most one request per index page (%d)" % index_pages: second["index"] <= index_pages,
        "run 3: exactly the 15 changed articles fetched": set(third["article_paths"]) == changed
        and len(third["article_paths"]) == 15,
        "run 3: 10 new stories, 5 updated": third["stored"] == 10 and third["updated"] == 5,
        "stories in the database = articles + 10": stories == args.articles + 10,
    }
    for name, ok in checks.items():
        print("%-4s %s" % ("ok" if ok else "FAIL", name))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
