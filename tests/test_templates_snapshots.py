"""Template lines stripped in the extraction worker (`aggregator.extract.templates.strip`,
`pipelines.template_snapshots`): the shared stripping rule is the one the template pipeline applied before, and
the extraction and template pipelines, the worker given its source's snapshot, store what the template
pipeline alone stores, falling back to stripping and signing again when the snapshot was stale."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured

from aggregator.dedup.fingerprint import line_key
from aggregator.extract.pool import signer_for
from aggregator.extract.templates import TemplateModel, TemplateRules, line_keys, strip, strip_template
from aggregator.items import ArticleItem
from aggregator.testing import sitegen
from pipelines.extract import ExtractPipeline
from pipelines.resources import crawl_resources
from pipelines.template_snapshots import TemplateSnapshots
from pipelines.templates import TemplatePipeline
from tests.template_sites import FURNITURE, WIRE, render, stories
from tests.test_pipelines import crawler_for

NEWSLETTER = "Sign up for our morning briefing: the five stories you need, in your inbox before seven."
SHARE = "Share this story on Facebook, X or by email."
COMMENTS = "Comments (12)"


def old_strip_template(text: str, model: TemplateModel, min_chars: int = 200) -> tuple[str, list[str]]:
    """`strip_template` as the template pipeline had it before the rule was shared with the workers: the oracle."""
    if not model.acting:
        return text, []
    keep: list[str] = []
    found: list[str] = []
    for line, key in zip(text.splitlines(), line_keys(text)):
        (found if model.is_template(key) else keep).append(line)
    if not found:
        return text, []
    cleaned = "\n".join(keep).strip()
    if len(cleaned) < min_chars:
        return text, found
    return cleaned, found


def body(rng: random.Random) -> str:
    """A body of its own paragraphs, furniture (some with numbers that change), blank and padded lines."""
    lines = sitegen.paragraphs(rng, rng.randint(1, 4))
    for extra in (NEWSLETTER, SHARE, COMMENTS.replace("12", str(rng.randint(0, 99))), "", "   ", "  " + SHARE):
        if rng.random() < 0.6:
            lines.insert(rng.randint(0, len(lines)), extra)
    return "\n".join(lines)


def test_the_shared_stripping_rule_is_the_rule_before_for_a_model_and_for_its_snapshot() -> None:
    rng = random.Random(3)
    model = TemplateModel(TemplateRules(min_pages=2, min_seen=3))
    compared = kept_whole = cleaned = 0
    for page in range(40):
        text = body(rng)
        for min_chars in (0, 60, 200, 400, 10_000):
            before = old_strip_template(text, model, min_chars)
            now = strip_template(text, model, min_chars)
            assert now == before and (now[0] is text) == (before[0] is text)
            snapshot = model.template_keys()  # what a worker strips with
            stripped = strip(text, snapshot, min_chars, line_keys(text))
            assert stripped.text == before[0] and (stripped.text is text) == (before[0] is text)
            assert [text.splitlines()[index] for index in stripped.found] == before[1]
            # kept whole: its template lines are still left out of the fingerprint
            expected = frozenset(map(line_key, before[1])) if before[0] is text else frozenset()
            assert stripped.furniture == expected
            compared += 1
            kept_whole += bool(before[1]) and before[0] is text
            cleaned += before[0] is not text
        model.learn(text, "https://news.example/%d" % page)
    assert compared == 200 and kept_whole > 10 and cleaned > 10  # every branch of the rule was compared


def test_a_snapshot_is_taken_again_when_the_model_starts_acting_then_every_n_pages() -> None:
    snapshots = TemplateSnapshots(refresh_every=4)
    model = TemplateModel()
    snapshots.refresh("harbour", model)
    taken = []
    for page in range(14):
        model.learn("\n".join([NEWSLETTER, "Story number %d" % page]), "https://news.example/%d" % page)
        before = snapshots._snapshots["harbour"]
        snapshots.learned("harbour", model)
        if snapshots._snapshots["harbour"] is not before:
            taken.append(model.pages)
    assert taken == [4, 5, 9, 13]  # every fourth page, and at the fifth, when the model starts acting
    assert asyncio.run(snapshots.for_source("harbour")) is None  # off until the template pipeline enables it


class Crawl:
    """The extraction and template pipelines of one crawl (extraction inline, `workers=0`): `worker_strips`
    False is the template pipeline alone, as before (the worker gets no snapshot)."""

    def __init__(self, db: Path, worker_strips: bool = True) -> None:
        crawler = crawler_for(str(db))
        self.stats = crawler.stats
        self.resources = crawl_resources(crawler)
        self.snapshots = self.resources.templates
        self.extract = ExtractPipeline(crawler.stats, self.resources.pool,
                                       templates=self.snapshots if worker_strips else None)
        self.templates = TemplatePipeline.from_crawler(crawler)

    def run(self, *items: ArticleItem) -> list[ArticleItem]:
        async def each() -> list[ArticleItem]:
            return [await self.templates.process_item(await self.extract.process_item(item)) for item in items]

        return asyncio.run(each())

    def stat(self, name: str) -> int | None:
        value: int | None = self.stats.get_value("aggregator/templates/" + name)
        return value

    def close(self) -> None:
        self.templates.close_spider()
        self.resources.close()


def page_item(number: int) -> ArticleItem:
    slug, title, paragraphs = stories("harbourpost")[number]
    html = render("harbourpost", number, slug, title, paragraphs).replace("{{BASE}}", "https://harbour.example")
    return ArticleItem(url="https://harbour.example/news/%s.html" % slug, source="harbourpost",
                       body=html.encode("utf-8"), content_type="text/html; charset=utf-8")


def test_pages_stripped_in_the_worker_are_what_the_template_pipeline_alone_makes(tmp_path: Path) -> None:
    crawl, reference = Crawl(tmp_path / "a.db"), Crawl(tmp_path / "b.db", worker_strips=False)
    numbers = [number for number in range(10) if number != WIRE]
    got = [item for number in numbers for item in crawl.run(page_item(number))]  # one at a time: a known order
    expected = [item for number in numbers for item in reference.run(page_item(number))]
    assert [item.article.text for item in got] == [item.article.text for item in expected]
    assert [item.fingerprint for item in got] == [item.fingerprint for item in expected]
    assert not any(line in got[-1].article.text for line in FURNITURE["harbourpost"]["after_first"])
    assert crawl.stat("cleaned") == reference.stat("cleaned") == 6
    # the fifth page was extracted before the model acted (an empty snapshot): stripped and signed again; the
    # snapshot taken when it started acting strips the next ones in the worker, signed once
    assert crawl.stat("resigned") == 1 and crawl.stat("stripped_in_worker") == 5
    assert reference.stat("resigned") is None and reference.stat("stripped_in_worker") is None

    # a stale snapshot that holds lines the model does not: the worker strips too much, the pipeline sees it
    # and strips and signs again from the body as extracted
    wrong = TemplateModel(TemplateRules(min_pages=2, min_seen=1))
    own = stories("harbourpost")[10][2]
    for copy in range(2):
        wrong.learn("\n".join([*own, *FURNITURE["harbourpost"]["end"]]), "https://other.example/%d" % copy)
    crawl.snapshots.refresh("harbourpost", wrong)
    [item], [same] = crawl.run(page_item(10)), reference.run(page_item(10))
    assert item.article.text == same.article.text and item.fingerprint == same.fingerprint
    assert all(paragraph in item.article.text for paragraph in own)
    assert crawl.stat("resigned") == 2
    crawl.close()
    reference.close()


def test_with_templates_off_the_worker_strips_nothing(tmp_path: Path) -> None:
    crawler = crawler_for(str(tmp_path / "off.db"), AGGREGATOR_TEMPLATES=False)
    resources = crawl_resources(crawler)
    with pytest.raises(NotConfigured, match="AGGREGATOR_TEMPLATES is off"):
        TemplatePipeline.from_crawler(crawler)
    extract = ExtractPipeline.from_crawler(crawler)
    items = [asyncio.run(extract.process_item(page_item(number))) for number in range(8)]
    assert not resources.templates.enabled and all(item.template_page is None for item in items)
    signer = signer_for(resources.index_options)
    for item in items:
        assert all(line in item.article.text for line in FURNITURE["harbourpost"]["after_first"])
        assert item.fingerprint == signer.fingerprint(item.article.text)
