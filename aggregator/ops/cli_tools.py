"""The commands that need no database of their own: `demo` (the offline demo), `dedup` (group a JSONL corpus
into stories) and `extract` (the article of one HTML file). Each imports its stage when it runs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import click

logger = logging.getLogger(__name__)


@click.command()
@click.option("--output-dir", type=click.Path(file_okay=False), default="demo-output", show_default=True)
def demo(output_dir: str) -> None:
    """Offline demo: serve the bundled snapshot sites on loopback, crawl them, write feed.json."""
    from aggregator.ops.demo import run_demo

    sys.exit(run_demo(Path(output_dir)))


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--threshold", type=float, default=None, help="MinHashLSH candidate threshold.")
def dedup(file: TextIO, threshold: float | None) -> None:
    """Group the documents of a JSONL FILE ({"id", "text"} lines) into stories: prints {"id", "story"}."""
    from aggregator.dedup.index import StoryIndex, dedup_corpus

    def documents() -> Iterator[dict[str, Any]]:
        for number, line in enumerate(file, 1):
            if line.strip():
                try:
                    doc = json.loads(line)
                except ValueError as exc:
                    raise click.ClickException("line %d: not JSON: %s" % (number, exc)) from None
                if not isinstance(doc, dict) or "id" not in doc or not isinstance(doc.get("text"), str):
                    raise click.ClickException('line %d: expected {"id", "text"}' % number)
                yield doc

    index = StoryIndex(threshold=threshold) if threshold is not None else None
    for doc_id, story in dedup_corpus(documents(), index=index):
        click.echo(json.dumps({"id": doc_id, "story": story}, ensure_ascii=False))


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option("--url", default=None, help="The URL the page was fetched from.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def extract(file: BinaryIO, url: str | None, fmt: str) -> None:
    """Extract the article from an HTML FILE (or - for standard input)."""
    from dataclasses import asdict

    from aggregator.extract.extractor import extract_article

    raw = file.read()
    html = raw.decode("utf-8", errors="replace")
    article = extract_article(html, url=url)
    if article is None:
        raise click.ClickException("no article body found")
    if fmt == "text":
        click.echo(article.text)
    else:
        click.echo(json.dumps(asdict(article), ensure_ascii=False, indent=2))
