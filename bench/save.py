"""Storage write benchmark: what one `save` costs on SQLite in a crawl's batches, with its search row, rules and
(with --index) its dedup index rows, on synthetic stories.

Usage: python bench/save.py [--stories 1500] [--words 600] [--batch 100] [--index]

Prints milliseconds per save and the search hits of one word, so two trees can be compared side by side (run
each alternately, three times: these machines are noisy).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.dedup.fingerprint import Signer  # noqa: E402
from aggregator.items import Article  # noqa: E402
from aggregator.rules import RuleSet  # noqa: E402
from aggregator.store.search import search  # noqa: E402
from aggregator.store.sqlite import SQLiteStorage  # noqa: E402

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1500)
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--index", action="store_true", help="write the dedup index rows too (SQLite bands)")
    args = parser.parse_args(argv)
    rng = random.Random(1)
    vocabulary = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    signer = Signer()
    stories = []
    for n in range(args.stories):
        text = "\n".join(" ".join(rng.choice(vocabulary) for _ in range(60)) + "."
                         for _ in range(max(1, args.words // 60)))
        stories.append(("s%06d" % n, "https://site%d.example/news/%d" % (n % 3, n),
                        Article(text=text, title="Title %d" % n), signer.fingerprint(text)))
    with tempfile.TemporaryDirectory(prefix="bench-save-") as folder:
        storage = SQLiteStorage(Path(folder) / "save.db", batch_size=args.batch, batch_seconds=3600)
        index = None
        if args.index:
            from aggregator.dedup.index import StoryIndex
            from aggregator.dedup.sqlite_bands import SQLiteBandStore

            index = StoryIndex(store=SQLiteBandStore(storage.db, cache_mb=None))
        rules = RuleSet()
        started = time.perf_counter()
        for story_id, url, article, fingerprint in stories:
            then = None
            if index is not None:
                def then(story_id: str = story_id, fingerprint: object = fingerprint) -> None:
                    index.insert(story_id, fingerprint, when="2026-11-30T10:00:00+00:00")  # type: ignore[arg-type]
            storage.save(story_id=story_id, url=url, source="src", article=article, text_hash=fingerprint.text_hash,
                         similarity=None, rule="first", fingerprint=fingerprint.to_bytes(), rules=rules, then=then)
        storage.commit()
        elapsed = time.perf_counter() - started
        hits = len(search(storage, vocabulary[0], limit=1000))
        storage.close()
    print("%d saves of %d-word stories, batches of %d%s: %.3f ms a save; search hits for one word: %d"
          % (args.stories, args.words, args.batch, ", with dedup index rows" if args.index else "",
             elapsed / args.stories * 1000, hits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
