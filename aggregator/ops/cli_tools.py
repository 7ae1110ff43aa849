"""The commands that need no database of their own: `demo` (the offline demo), `dedup` (group a JSONL corpus
into stories) and `extract` (the article of one HTML file). Each imports its stage when it runs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

logger = logging.getLogger(__name__)


@click.command()
@click.option("--output-dir", type=click.Path(file_okay=False), default="demo-output", show_default=True)
def demo(output_dir: str) -> None:
    """Offline demo: serve the bundled snapshot sites on loopback, crawl them, write feed.json."""
    from aggregator.ops.demo import run_demo

    sys.exit(run_demo(Path(output_dir)))


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="MinHashLSH candidate threshold, in (0, 1].")
def dedup(file: BinaryIO, threshold: float | None) -> None:
    """Group the documents of a JSONL FILE ({"id", "text"} lines, UTF-8) into stories: prints {"id", "story"}
    per document, in the file's order; a story is named by its smallest document id. A document with no words
    in its text is a story of its own: nothing says two empty texts are one story."""
    from aggregator.dedup.index import StoryIndex, dedup_corpus

    documents = list(_documents(file))
    worded = [{"id": doc_id, "text": text} for doc_id, text in documents if any(char.isalnum() for char in text)]
    index = StoryIndex(threshold=threshold) if threshold is not None else None
    stories = dict(dedup_corpus(worded, index=index))
    for doc_id, _ in documents:
        click.echo(json.dumps({"id": doc_id, "story": stories.get(doc_id, doc_id)}, ensure_ascii=False))


def _documents(file: BinaryIO) -> Iterator[tuple[str, str]]:
    """(id, text) of each document; a line that is not one is an `Error:` naming the line."""
    seen: dict[str, int] = {}
    for number, raw in enumerate(file, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.ClickException("line %d: not UTF-8 (byte %d)" % (number, exc.start + 1)) from None
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise click.ClickException("line %d: not JSON: %s" % (number, exc)) from None
        if not isinstance(doc, dict) or "id" not in doc or not isinstance(doc.get("text"), str):
            raise click.ClickException('line %d: expected {"id", "text"}' % number)
        if not isinstance(doc["id"], str) or not doc["id"]:
            raise click.ClickException('line %d: "id" must be a non-empty string, got %s'
                                       % (number, json.dumps(doc["id"])))
        if doc["id"] in seen:
            raise click.ClickException("line %d: id %s is already the id of line %d"
                                       % (number, json.dumps(doc["id"]), seen[doc["id"]]))
        seen[doc["id"]] = number
        yield doc["id"], doc["text"]


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option("--url", default=None, help="The URL the page was fetched from.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def extract(file: BinaryIO, url: str | None, fmt: str) -> None:
    """Extract the article from an HTML FILE (or - for standard input)."""
    from dataclasses import asdict

    from aggregator.extract.encoding import decode_page
    from aggregator.extract.extractor import extract_article

    # Decoded as a crawl decodes a fetched page: BOM, then <meta charset>, then detection.
    page = decode_page(file.read())
    if page.problem:
        logger.warning("%s: %s", file.name, page.problem)
    article = extract_article(page.text, url=url)
    if article is None:
        raise click.ClickException("no article body found")
    if fmt == "text":
        click.echo(article.text)
    else:
        click.echo(json.dumps(asdict(article), ensure_ascii=False, indent=2))
