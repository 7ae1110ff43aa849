"""Scale-out benchmark: articles/s of a distributed crawl (PostgreSQL + Redis) with 1 and 2 worker processes.

Builds the same loopback site as bench/throughput.py (N articles over two sources, 10% planted copies),
then for each worker count crawls it into a fresh PostgreSQL database through one shared Redis queue:
one seeding `aggregator crawl --all --redis ...` plus (count - 1) `aggregator worker`s, timed from start to
the last process's exit (each process stops after 3 s with nothing queued or in flight, included in the
time). Needs the servers of `scripts/services.sh start` (reads .services/env, or AGGREGATOR_TEST_PG and
AGGREGATOR_TEST_REDIS).

    bash scripts/services.sh start && python bench/scale.py [--pages 1000] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(PROJECT_ROOT / "bench"))

import throughput  # noqa: E402

from aggregator.testing.snapshot import render_template, serve_snapshot  # noqa: E402

IDLE_SECONDS = 3


def services() -> tuple[str, str]:
    env_file = PROJECT_ROOT / ".services" / "env"
    values = dict(os.environ)
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            values.setdefault(name.strip(), value.strip())
    if not values.get("AGGREGATOR_TEST_PG") or not values.get("AGGREGATOR_TEST_REDIS"):
        sys.exit("start the servers first: bash scripts/services.sh start")
    return values["AGGREGATOR_TEST_PG"], values["AGGREGATOR_TEST_REDIS"]


def fresh_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        connection.execute("CREATE DATABASE %s" % name)
    return admin_url.rsplit("/", 1)[0] + "/" + name


def run(registry: Path, db: str, redis_url: str, workers: int) -> tuple[float, int]:
    import psycopg
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    common = ["--sources", str(registry), "--db", db, "--log-level", "WARNING",
              "--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=false",
              "--set", "AGGREGATOR_REDIS_IDLE_SECONDS=%d" % IDLE_SECONDS, "--set", "AGGREGATOR_WORKERS=1"]
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-m", "aggregator.ops.cli", "crawl", "--all", "--redis", redis_url,
                                   *common], cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
    processes += [subprocess.Popen([sys.executable, "-m", "aggregator.ops.cli", "worker", "--redis", redis_url,
                                    "--exit-when-idle", str(IDLE_SECONDS), *common], cwd=PROJECT_ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                  for _ in range(workers - 1)]
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            sys.exit("a crawl process failed (%d): %s" % (process.returncode, err.decode()[-2000:]))
    seconds = time.perf_counter() - started
    with psycopg.connect(db) as connection:
        sightings = connection.execute("SELECT count(*) FROM sightings").fetchone()[0]
    return seconds, sightings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker process counts")
    args = parser.parse_args()
    admin_url, redis_url = services()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sites"
        files, copies = throughput.build_sites(root, args.pages)
        with serve_snapshot(root) as bases:
            registry = Path(tmp) / "sources.toml"
            registry.write_text(render_template(throughput.SOURCES, bases), "utf-8")
            print("%d pages, %d planted copies; each process extracts in 1 pool worker" % (len(files), copies))
            print("%-8s %9s %12s %10s" % ("workers", "seconds", "articles/s", "sightings"))
            for count in (int(n) for n in args.workers.split(",")):
                db = fresh_database(admin_url, "scale_bench_%d" % count)
                seconds, sightings = run(registry, db, redis_url, count)
                print("%-8d %9.1f %12.1f %10d" % (count, seconds, len(files) / seconds, sightings))


if __name__ == "__main__":
    main()
