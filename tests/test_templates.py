"""Per-source template learning: the model (`aggregator.extract.templates`), its storage on SQLite and PostgreSQL
(`aggregator.store.templates`) and the pipeline that learns and cleans in a crawl (`pipelines.templates`)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from aggregator.dedup.fingerprint import Signer, line_key
from aggregator.extract.templates import TemplateModel, TemplateRules, clean, strip_template
from aggregator.items import Article, ArticleItem
from aggregator.store.backends import open_storage
from aggregator.store.templates import open_template_store
from aggregator.testing import sitegen
from pipelines.resources import crawl_resources
from pipelines.templates import TemplatePipeline
from tests.pgserver import postgres_url  # noqa: F401 (a fixture)
from tests.test_pipelines import crawler_for

NEWSLETTER = "Sign up for our morning briefing: the five stories you need, in your inbox before seven."
SHARE = "Share this story on Facebook, X or by email."
APPEAL = ("Our journalism stays free because readers like you support it. Become a supporter from one dollar a "
          "month and keep local reporting alive.")
FURNITURE = (NEWSLETTER, SHARE, APPEAL)


def article(seed: int, extra: tuple[str, ...] = ()) -> str:
    """A body of its own paragraphs with the furniture between and after them."""
    own = sitegen.paragraphs(random.Random(seed), 4)
    return "\n".join([own[0], NEWSLETTER, SHARE, *own[1:], *extra, APPEAL])


def test_furniture_goes_once_the_source_is_seen_enough_and_a_quoted_paragraph_stays() -> None:
    model = TemplateModel()
    quoted = sitegen.paragraphs(random.Random(500), 1)[0]
    for number in range(4):
        text = article(number)
        model.learn(text, "https://news.example/%d" % number)
        assert clean(text, model) is text, "nothing is removed before min_seen pages were learned"
    quoted_page = article(4, extra=(quoted,))
    model.learn(quoted_page, "https://news.example/4")
    assert NEWSLETTER not in clean(quoted_page, model)  # the fifth page: furniture seen on 5 pages goes
    quoting = article(5, extra=(quoted,))  # quotes a paragraph of the page before: two pages carry it
    model.learn(quoting, "https://news.example/5")
    cleaned = clean(quoting, model)
    assert not any(line in cleaned for line in FURNITURE)
    assert quoted in cleaned and cleaned.splitlines() == [line for line in quoting.splitlines()
                                                          if line not in FURNITURE]
    assert model.summary()["template_lines"] == 3


def test_a_page_learned_twice_counts_once() -> None:
    model = TemplateModel(TemplateRules(min_pages=3, min_seen=1))
    text = article(1)
    for _ in range(5):
        model.learn(text, "https://news.example/same")
    assert model.pages == 1 and clean(text, model) is text
    model.learn(article(2), "https://news.example/other-2")
    model.learn(article(3), "https://news.example/other-3")
    assert NEWSLETTER not in clean(article(4), model)


def test_a_mostly_furniture_page_is_kept_whole() -> None:
    model = TemplateModel()
    for number in range(6):
        model.learn(article(number), "https://news.example/%d" % number)
    short = "\n".join([NEWSLETTER, "The ferry leaves at noon.", SHARE, APPEAL])
    assert clean(short, model) is short
    assert strip_template(short, model) == (short, [NEWSLETTER, SHARE, APPEAL])
    assert clean(short, model, min_chars=10) == "The ferry leaves at noon."


def test_the_model_is_bounded_and_keeps_its_furniture() -> None:
    rules = TemplateRules(max_entries=300)
    model = TemplateModel(rules)
    for number in range(400):
        model.learn(article(number), "https://news.example/%d" % number)
        assert len(model) <= rules.max_entries
    assert model.pages == 400 and len(model.recent) == rules.max_recent_pages
    assert clean(article(1000), model).count("\n") == 3  # four own paragraphs, no furniture


def test_furniture_a_redesign_dropped_is_forgotten() -> None:
    model = TemplateModel(TemplateRules(stale_after=20))
    for number in range(10):
        model.learn(article(number), "https://news.example/%d" % number)
    redesigned = [sitegen.paragraphs(random.Random(n), 3) for n in range(100, 125)]
    for number, paragraphs in enumerate(redesigned):
        model.learn("\n".join(paragraphs), "https://news.example/new-%d" % number)
    assert model.summary()["template_lines"] == 0
    assert clean(article(2000), model) == article(2000)


def test_a_share_of_the_pages_is_needed_not_only_three() -> None:
    """A background paragraph a series repeats in 3 of 40 pages stays; furniture on every page goes."""
    model = TemplateModel()
    background = sitegen.paragraphs(random.Random(100_007), 1)[0]
    for number in range(40):
        model.learn(article(number, extra=(background,) if number in (5, 20, 39) else ()),
                    "https://news.example/%d" % number)
    assert background in clean(article(39, extra=(background,)), model)
    assert NEWSLETTER not in clean(article(39, extra=(background,)), model)


def test_the_model_round_trips_through_bytes_without_any_text() -> None:
    model = TemplateModel()
    for number in range(8):
        model.learn(article(number), "https://news.example/%d" % number)
    data = model.to_bytes()
    again = TemplateModel.from_bytes(data)
    assert again.pages == model.pages and again.entries == model.entries and again.recent == model.recent
    assert clean(article(50), again) == clean(article(50), model) != article(50)
    for phrase in ("Sign up", "Facebook", "supporter", "morning"):
        assert phrase.encode() not in data and phrase.lower().encode() not in data
    assert len(data) == model.summary()["bytes"]
    with pytest.raises(ValueError, match="not a template model"):
        TemplateModel.from_bytes(b"NAFP" + data[4:])
    with pytest.raises(ValueError, match="bytes, expected"):
        TemplateModel.from_bytes(data[:-1])


def test_two_processes_learning_one_source_add_up() -> None:
    """Two workers load the same stored model, each learns its own pages, each saves: the second save merges
    into the first's instead of overwriting it."""
    stored = TemplateModel()
    for number in range(2):
        stored.learn(article(number), "https://news.example/%d" % number)
    base = stored.to_bytes()
    first, second = TemplateModel.from_bytes(base), TemplateModel.from_bytes(base)
    for number in (2, 3):
        first.learn(article(number), "https://news.example/%d" % number)
    for number in (4, 5):
        second.learn(article(number), "https://news.example/%d" % number)
    assert not first.acting and not second.acting  # neither alone has seen 5 pages
    first.merge_stored(TemplateModel.from_bytes(base))  # the first save: nobody saved since its base
    assert first.pages == 4 and not first.changed
    second.merge_stored(TemplateModel.from_bytes(first.to_bytes()))
    assert second.pages == 6 and len(second.recent) == 6
    assert NEWSLETTER not in clean(article(6), second)
    counts = sorted(entry[0] for entry in second.entries.values())
    assert counts.count(6) == 3 and set(counts) == {1, 6}  # the furniture on all six pages; own lines once each
    assert max(entry[2] for entry in second.entries.values()) == 6


def test_a_merge_with_its_own_last_save_changes_nothing() -> None:
    model = TemplateModel()
    for number in range(8):
        model.learn(article(number), "https://news.example/%d" % number)
    saved = model.to_bytes()
    model.mark_saved()
    for number in range(8, 12):
        model.learn(article(number), "https://news.example/%d" % number)
    before = (model.pages, {key: list(entry) for key, entry in model.entries.items()}, dict(model.recent))
    model.merge_stored(TemplateModel.from_bytes(saved))
    assert (model.pages, model.entries, model.recent) == before


def test_rules_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="min_pages must be >= 2"):
        TemplateRules(min_pages=1)
    with pytest.raises(ValueError, match="min_share must be in"):
        TemplateRules(min_share=1.5)
    with pytest.raises(ValueError, match="max_entries must be an integer"):
        TemplateRules(max_entries=0)


def test_the_template_lines_of_a_page_kept_whole_are_left_out_of_its_fingerprint() -> None:
    model = TemplateModel()
    for number in range(6):
        model.learn(article(number), "https://news.example/%d" % number)
    signer = Signer()
    own = sitegen.paragraphs(random.Random(77), 1)[0]
    first = "\n".join([own, NEWSLETTER, SHARE, APPEAL])
    kept, found = strip_template(first, model, min_chars=10_000)
    assert kept is first and found == [NEWSLETTER, SHARE, APPEAL]
    # the exact text hash stays the whole text's; the MinHash is the article's alone
    without, alone = signer.fingerprint(first, frozenset(map(line_key, found))), signer.fingerprint(own)
    assert np.array_equal(without.hashvalues, alone.hashvalues) and without.size == alone.size
    assert not np.array_equal(signer.fingerprint(first).hashvalues, alone.hashvalues)


def test_models_are_stored_per_source_on_sqlite(tmp_path: Path) -> None:
    db = str(tmp_path / "t.db")
    store = open_template_store(db)
    assert store.load("harbour") is None
    store.save("harbour", b"one", 1)
    store.save("harbour", b"two", 2)
    store.save("valley", b"three", 3)
    assert store.load("harbour") == b"two" and store.load("valley") == b"three"
    assert [(t.source, t.pages, t.size) for t in store.stored()] == [("harbour", 2, 3), ("valley", 3, 5)]
    assert store.forget("valley") and not store.forget("valley") and store.load("valley") is None
    store.close()
    # beside a crawl's storage, the store writes on the storage's connection (in its open batch)
    storage = open_storage(db, batch_size=100)
    shared = open_template_store(db, storage)
    assert shared.connection is storage.db  # type: ignore[attr-defined]
    storage.begin()
    shared.save("harbour", b"four", 4)
    shared.close()  # not its connection to close
    storage.close()  # commits the batch
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT model FROM source_templates WHERE source = 'harbour'").fetchone() == (b"four",)


def test_models_are_stored_per_source_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    model = TemplateModel()
    for number in range(6):
        model.learn(article(number), "https://news.example/%d" % number)
    store = open_template_store(postgres_url)
    store.save("harbour", model.to_bytes(), model.pages)
    store.close()
    again = open_template_store(postgres_url, open_storage(postgres_url))
    data = again.load("harbour")
    assert data is not None and TemplateModel.from_bytes(data).entries == model.entries
    assert [(t.source, t.pages) for t in again.stored()] == [("harbour", 6)]
    again.close()


def pages(source: str, numbers: range) -> list[ArticleItem]:
    made = []
    for number in numbers:
        item = ArticleItem(url="https://%s.example/story-%d" % (source, number), source=source)
        item.article = Article(text=article(number), title="Story %d" % number)
        item.fingerprint = Signer().fingerprint(item.article.text)  # as the extraction worker signs it
        made.append(item)
    return made


def through(pipeline: TemplatePipeline, items: list[ArticleItem]) -> list[ArticleItem]:
    async def every() -> list[ArticleItem]:
        return [await pipeline.process_item(item) for item in items]

    return asyncio.run(every())


def test_the_pipeline_cleans_re_signs_and_keeps_models_across_crawls(tmp_path: Path) -> None:
    db = str(tmp_path / "crawl.db")
    crawler = crawler_for(db)
    pipeline = TemplatePipeline.from_crawler(crawler)
    first = through(pipeline, pages("harbour", range(8)))
    assert all(NEWSLETTER in item.article.text for item in first[:4])
    for item in first[4:]:
        assert not any(line in item.article.text for line in FURNITURE)
        assert item.fingerprint == Signer().fingerprint(item.article.text)
    assert crawler.stats.get_value("aggregator/templates/cleaned") == 4
    assert crawler.stats.get_value("aggregator/templates/lines_removed") == 12
    pipeline.close_spider()
    crawl_resources(crawler).close()

    crawler = crawler_for(db)  # the next crawl: the model is read back, so its first page is cleaned at once
    pipeline = TemplatePipeline.from_crawler(crawler)
    [item] = through(pipeline, pages("harbour", range(8, 9)))
    assert NEWSLETTER not in item.article.text
    [other] = through(pipeline, pages("valley", range(1)))  # a source of its own
    assert NEWSLETTER in other.article.text
    pipeline.close_spider()
    crawl_resources(crawler).close()
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT source, pages FROM source_templates ORDER BY source").fetchall() == [
            ("harbour", 9), ("valley", 1)]


def test_a_metadata_only_article_is_not_a_page_of_the_template(tmp_path: Path) -> None:
    crawler = crawler_for(str(tmp_path / "crawl.db"))
    pipeline = TemplatePipeline.from_crawler(crawler)
    video = ArticleItem(url="https://harbour.example/video-1", source="harbour")
    video.article = Article(text="", title="A video story")
    through(pipeline, [video, *pages("harbour", range(2))])
    pipeline.close_spider()
    crawl_resources(crawler).close()
    with sqlite3.connect(str(tmp_path / "crawl.db")) as check:
        assert check.execute("SELECT pages FROM source_templates").fetchall() == [(2,)]


def test_the_pipeline_can_be_switched_off(tmp_path: Path) -> None:
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        TemplatePipeline.from_crawler(crawler_for(str(tmp_path / "a.db"), AGGREGATOR_TEMPLATES=False))


def test_the_pipeline_on_postgresql_saves_as_it_goes(postgres_url: str) -> None:  # noqa: F811
    """Off the reactor (PostgreSQL), models load and save in threads, on a connection of their own; every
    AGGREGATOR_TEMPLATE_SAVE_EVERY pages the changed models are saved, before the crawl ends."""
    crawler = crawler_for(postgres_url, AGGREGATOR_TEMPLATE_SAVE_EVERY=3)
    pipeline = TemplatePipeline.from_crawler(crawler)
    assert crawl_resources(crawler).off_reactor
    cleaned = through(pipeline, pages("harbour", range(7)))
    assert NEWSLETTER not in cleaned[-1].article.text
    reader = open_template_store(postgres_url)
    assert [(t.source, t.pages) for t in reader.stored()] == [("harbour", 6)]  # saved at the 3rd and 6th page
    pipeline.close_spider()
    assert [(t.source, t.pages) for t in reader.stored()] == [("harbour", 7)]
    reader.close()
    crawl_resources(crawler).close()


def test_two_crawls_on_one_postgresql_database_add_up_their_learning(postgres_url: str) -> None:  # noqa: F811
    """Two workers of a distributed crawl, each seeing three pages of one source: neither alone may act, their
    saves add up to six pages, and the next crawl cleans at once."""
    pipelines = [TemplatePipeline.from_crawler(crawler_for(postgres_url)) for _ in range(2)]
    firsts = [through(pipeline, pages("harbour", numbers)) for pipeline, numbers in
              zip(pipelines, (range(0, 3), range(3, 6)))]
    assert all(NEWSLETTER in item.article.text for items in firsts for item in items)
    for pipeline in pipelines:
        pipeline.close_spider()
        pipeline.resources.close()
    reader = open_template_store(postgres_url)
    assert [(t.source, t.pages) for t in reader.stored()] == [("harbour", 6)]
    reader.close()
    later = TemplatePipeline.from_crawler(crawler_for(postgres_url))
    [item] = through(later, pages("harbour", range(6, 7)))
    assert NEWSLETTER not in item.article.text
    later.close_spider()
    later.resources.close()
