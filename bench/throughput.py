"""Throughput benchmark: the whole `aggregator crawl` against a single-process trafilatura loop, side by side.

Builds a loopback site of N realistic article pages (default 2,000: four page layouts of ~100 KB, two
sources whose feeds list every page, 10% of the pages planted copies of the other source's stories), then
measures in one run:
1. the baseline: one process calling plain `trafilatura.extract` on the same N pages read from disk;
2. `aggregator crawl --all` of the site into a fresh SQLite database: articles/s, wall time, and the peak
   memory of the crawl's whole process tree: PSS (pages the forked workers share with the forkserver
   split between them: the real total) and RSS summed over the processes (those pages counted in each);
and prints the ratio (2)/(1) last. It also checks that every planted copy was collapsed into its story, and
prints the template pipeline's counters (pages cleaned, and how many of them the extraction workers stripped
and signed alone or were signed again after them).

    python bench/throughput.py [--pages 2000] [--workers N] [--furniture]

`--furniture`: every article body also carries its site's furniture (a newsletter box and a share row after
the first paragraph, a donation appeal and a reprint notice at the end), which the extractor keeps and the
template pipeline learns and removes, as on many real sites; without it the bodies have none.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.testing.sitegen import SiteSpec, Story, generate_stories, render_heavy_article, render_rss  # noqa: E402
from aggregator.testing.snapshot import render_template, serve_snapshot  # noqa: E402

SOURCES = """
[sources.alpha]
name = "Alpha Times"
feed = "{{BASE:alpha}}/feed.rss"
[sources.beta]
name = "Beta Herald"
feed = "{{BASE:beta}}/feed.rss"
"""


# Lines a site puts inside every article body (`--furniture`): before and after the rest of the body.
FURNITURE = {
    "alpha": (["Sign up for the Alpha Times morning briefing: the five stories you need to start your day, in your"
               " inbox before seven.", "Share this article with your friends on the social networks you use, by"
               " email, or print it for later reading."],
              ["The Alpha Times is an independent, reader-funded newsroom. Become a supporter today from one dollar"
               " a month and help keep our reporting free for everyone.", "This article may be republished free"
               " of charge under our creative commons licence, credited to the Alpha Times with a link back."]),
    "beta": (["Get the Beta Herald evening edition: the headlines from across the region, every weekday, free of"
              " charge.", "Tell your friends about this story: Facebook, X, WhatsApp, LinkedIn, email or copy the"
              " link."],
             ["Independent local news needs you. Make a one-off gift or a monthly donation to the Beta Herald"
              " community fund and keep our reporters in the courts.", "Have a tip about a story? Our reporters"
              " read every message sent to the newsroom tip line, and we protect our sources."]),
}


def furnished(story: Story, site: str) -> Story:
    """`story` as `site` prints it with its furniture (`--furniture`)."""
    after_first, end = FURNITURE[site]
    return Story(slug=story.slug, title=story.title, paragraphs=[story.paragraphs[0], *after_first,
                                                                 *story.paragraphs[1:], *end],
                 published=story.published, author=story.author)


def edited_copy(story: Story, rng: random.Random, slug: str) -> Story:
    """A wire copy as another outlet runs it: a dateline, a few words changed, a credit line."""
    paragraphs = []
    for paragraph in story.paragraphs:
        words = paragraph.split()
        for _ in range(max(1, len(words) // 40)):
            words[rng.randrange(len(words))] = rng.choice(["reportedly", "officially", "recently", "also"])
        paragraphs.append(" ".join(words))
    paragraphs[0] = "ALMATY (Wire) — " + paragraphs[0]
    paragraphs.append("This story was first published by our partners and is republished with permission.")
    return Story(slug=slug, title=story.title, paragraphs=paragraphs, published=story.published,
                 author=story.author)


def build_sites(root: Path, pages: int, furniture: bool = False) -> tuple[list[Path], int]:
    """Write both sites; returns the article files and the number of planted copies."""
    rng = random.Random(5)
    copies = pages // 10
    originals = generate_stories(pages - copies, seed=17)
    half = len(originals) // 2
    sites = {"alpha": (SiteSpec(name="alpha", template=0), originals[:half]),
             "beta": (SiteSpec(name="beta", template=1), originals[half:])}
    planted = [edited_copy(s, rng, "copy-" + s.slug) for s in rng.sample(originals, copies)]
    for n, story in enumerate(planted):
        sites["beta" if n % 2 else "alpha"][1].append(story)
    files = []
    for name, (site, stories) in sites.items():
        (root / name / "news").mkdir(parents=True, exist_ok=True)
        for n, story in enumerate(stories):
            site.template = n % 4  # varied layouts within each site
            path = root / name / "news" / (story.slug + ".html")
            printed = furnished(story, name) if furniture else story
            path.write_text(render_heavy_article(site, printed, stories[n + 1:n + 4], seed=n), "utf-8")
            files.append(path)
        (root / name / "feed.rss").write_text(render_rss(site, stories), "utf-8")
    return files, copies


def baseline(files: list[Path]) -> float:
    import trafilatura

    started = time.perf_counter()
    for path in files:
        trafilatura.extract(path.read_text("utf-8"), url="http://127.0.0.1/" + path.name)
    return len(files) / (time.perf_counter() - started)


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants, from /proc."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for task in Path("/proc/%d/task" % current).iterdir():
                stack += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def proc_total(pids: list[int], file: str, field: str) -> int:
    """The sum over the processes of one kB field of a /proc file, in bytes."""
    total = 0
    for pid in pids:
        try:
            for line in Path("/proc/%d/%s" % (pid, file)).read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            continue
    return total


def tree_rss(pids: list[int]) -> int:
    """RSS of the processes, summed (pages the forked workers share are counted once per process)."""
    return proc_total(pids, "status", "VmRSS")


def tree_pss(pids: list[int]) -> int:
    """PSS of the processes: pages shared by the forked workers split between the processes sharing them (the
    real total). Reading it costs the kernel ~1 ms a process, so it is sampled less often."""
    return proc_total(pids, "smaps_rollup", "Pss")


def cpu_seconds(pids: list[int], seen: dict[int, tuple[str, float]]) -> None:
    """Each process's CPU time so far (user + system, from /proc/PID/stat) and its role, into `seen`."""
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
            command = Path("/proc/%d/cmdline" % pid).read_bytes()
        except (OSError, IndexError):
            continue
        # the role from the first sighting: an exiting process shows an empty command line
        role = seen[pid][0] if pid in seen else (
            "crawler" if b"aggregator.ops.cli" in command else
            "resource tracker" if b"resource_tracker" in command else "forkserver and workers (pages, feeds)")
        seen[pid] = (role, (int(fields[11]) + int(fields[12])) / ticks)


def template_stats(log: str) -> dict[str, int]:
    """The aggregator/templates/* counters of the crawl's closing stats dump."""
    dump = log[log.rindex("Dumping Scrapy stats"):] if "Dumping Scrapy stats" in log else ""
    return {name: int(value) for name, value in re.findall(r"'aggregator/templates/([^']+)': (\d+)", dump)}


def crawl(registry: Path, db: Path, workers: int | None) -> tuple[float, int, int, dict[int, tuple[str, float]], str]:
    # INFO for the closing stats dump: a few hundred lines in a crawl (Scrapy logs each page at DEBUG)
    command = [sys.executable, "-m", "aggregator.ops.cli", "crawl", "--all", "--sources", str(registry),
               "--db", str(db), "--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=false",
               "--set", "CONCURRENT_REQUESTS=32", "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "--log-level", "INFO"]
    env = dict(os.environ)
    if workers is not None:
        env["AGGREGATOR_WORKERS"] = str(workers)
    peak_rss = peak_pss = polls = 0
    cpu: dict[int, tuple[str, float]] = {}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
                               env=env)
    output: dict[str, str] = {}
    reader = threading.Thread(target=lambda: output.update(zip(("out", "err"), process.communicate())))
    reader.start()
    while reader.is_alive():
        pids = tree_pids(process.pid)
        peak_rss = max(peak_rss, tree_rss(pids))
        cpu_seconds(pids, cpu)
        if polls % 5 == 0:
            peak_pss = max(peak_pss, tree_pss(pids))
        polls += 1
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit("crawl failed (%d):\n%s\n%s" % (process.returncode, output.get("out"), output.get("err", "")[-3000:]))
    return seconds, peak_rss, peak_pss, cpu, output.get("err", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=None, help="AGGREGATOR_WORKERS for the crawl")
    parser.add_argument("--furniture", action="store_true", help="every body carries its site's furniture")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sites"
        files, copies = build_sites(root, args.pages, args.furniture)
        size = sum(f.stat().st_size for f in files) / len(files) / 1024
        print("%d pages (%.0f KB on average), %d planted copies" % (len(files), size, copies))
        base = baseline(files)
        print("1. baseline: plain trafilatura.extract, one process, from disk: %.1f pages/s" % base)
        with serve_snapshot(root) as bases:
            registry = Path(tmp) / "sources.toml"
            registry.write_text(render_template(SOURCES, bases), "utf-8")
            db = Path(tmp) / "throughput.db"
            server_started = os.times()
            seconds, peak_rss, peak_pss, cpu, log = crawl(registry, db, args.workers)
            server = os.times()
            server_cpu = server.user + server.system - server_started.user - server_started.system
        con = sqlite3.connect(db)
        stories = con.execute("SELECT count(*) FROM stories").fetchone()[0]
        sightings = con.execute("SELECT count(*) FROM sightings").fetchone()[0]
        collapsed = con.execute("SELECT count(*) FROM sightings WHERE url LIKE '%/copy-%' AND story_id IN "
                                "(SELECT story_id FROM sightings GROUP BY story_id HAVING count(*) = 2)").fetchone()[0]
    rate = len(files) / seconds
    print("2. aggregator crawl: %d articles in %.1f s = %.1f articles/s, peak memory of the process tree:"
          " PSS %.0f MB (sampled twice a second), RSS summed over the processes %.0f MB (ten times a second)"
          % (len(files), seconds, rate, peak_pss / 2**20, peak_rss / 2**20))
    print("   stories %d, sightings %d; planted copies collapsed into their story: %d of %d"
          % (stories, sightings, collapsed, copies))
    roles: dict[str, float] = {}
    for role, used in cpu.values():
        roles[role] = roles.get(role, 0.0) + used
    print("   CPU seconds (sampled ten times a second, so a short-lived process may be missed): %s; the loopback"
          " site server and this sampling %.1f" % (", ".join("%s %.1f" % item for item in sorted(roles.items())),
                                                 server_cpu))
    templates = template_stats(log)
    print("   templates: %d pages cleaned (%d lines), %d kept whole; stripped and signed in the extraction workers"
          " alone %d, signed again after them %d" % tuple(templates.get(name, 0) for name in (
              "cleaned", "lines_removed", "kept_whole", "stripped_in_worker", "resigned")))
    print("ratio crawl/baseline: %.2f" % (rate / base))


if __name__ == "__main__":
    main()
