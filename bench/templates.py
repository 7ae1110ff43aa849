"""Template learning benchmark: real page templates around many article bodies, body F1 with and without
`aggregator.extract.templates` learning each template (each template a source), side by side.

Usage: python bench/templates.py [DATA_DIR] [--split dev|heldout|all] [--bodies N] [--show K]

DATA_DIR has the layout of the scrapinghub article-extraction-benchmark (`html/<id>.html.gz`,
`ground-truth.json`); it defaults to `../shared/bench/extraction` when that folder exists. A template is cut
from a real page by finding the elements that hold its gold body and putting another page's gold body in their
place (one new paragraph per old one, in order: what the page has between or around them, share rows, boxes,
captions, stays where it was); its JSON-LD `articleBody` is emptied. Each template then renders `--bodies`
other gold bodies, crawled in order as one source: without learning, the extractor's body is scored as it is;
with learning, the source's model learns from each page, then cleans it (`clean` after `learn`, as the crawl
pipeline does). Templates are split by page id: the even positions were used while developing (`dev`), the odd
ones never were (`heldout`, the default). The metric is `bench/extraction.py`'s (4-token shingles).

The dedup part renders one body on two templates of the split (pairs of sources) after each source has learned
from its pages, and asks the real `StoryIndex` whether the two copies are one story, with and without the
learned furniture removed; it also counts different bodies on one template that are taken for copies.

Caveat: what the real page carries of its own article outside the gold body (headline, standfirst, captions,
the titles in a "related" list) is the same in every rendering of its template, so it is learned here, where on
a real site it would change with every article; the gain on such lines is an upper bound.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import trafilatura

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from aggregator.dedup.fingerprint import Signer, normalize_text  # noqa: E402
from aggregator.dedup.index import StoryIndex  # noqa: E402
from aggregator.extract.extractor import extract_article  # noqa: E402
from aggregator.extract.templates import TemplateModel, clean  # noqa: E402
from bench.extraction import PageScore, f1_score, load_pages, precision_recall, score_page  # noqa: E402

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "bench" / "extraction"
BLOCK_TAGS = frozenset({"p", "h2", "h3", "h4", "h5", "h6", "li", "pre", "blockquote", "td", "div", "dd", "dt"})
MIN_COVERAGE = 0.6  # of the gold body's words found in the page's elements, or the page makes no template
MIN_MATCH_WORDS = 3
MIN_TEXT_NODE_CHARS = 10  # characters, not words: CJK text has no spaces
DESCRIPTIONS = frozenset({"description", "og:description", "twitter:description"})


@dataclass(frozen=True)
class Template:
    """A real page with a slot where its article's paragraphs were: `render(paragraphs)` gives a page."""

    page_id: str
    url: str
    html: str

    def render(self, paragraphs: list[str]) -> str:
        summary = " ".join(" ".join(paragraphs).split()[:25]) if paragraphs else ""
        page = self.html.replace(DESCRIPTION_SLOT, _escape(summary).replace('"', "&quot;"))
        return page.replace(SLOT, "".join("<p>%s</p>" % _escape(text) for text in paragraphs), 1)


SLOT = "<!--BENCH-BODY-SLOT-->"
DESCRIPTION_SLOT = "BENCH-DESCRIPTION-SLOT"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _words(text: str) -> int:
    return len(normalize_text(text).split())


def cut_template(page_id: str, html: str, url: str | None, gold: str) -> Template | None:
    """The page with its gold body's elements replaced by one slot (at the first), or None when less than
    MIN_COVERAGE of the gold body is found in whole elements of the page."""
    root = lxml.html.document_fromstring(html)
    gold_norm = " %s " % normalize_text(gold)
    matched = []
    for element in root.iter(*BLOCK_TAGS):
        text = normalize_text(element.text_content())
        if len(text.split()) >= MIN_MATCH_WORDS and " %s " % text in gold_norm:
            matched.append(element)
    chosen = set(matched)
    # the outermost matching element of each nest, so a <blockquote><p> is replaced once
    outer = [el for el in matched if not any(parent in chosen for parent in el.iterancestors())]
    covered = sum(_words(el.text_content()) for el in outer)
    if not outer or covered < MIN_COVERAGE * _words(gold):
        return None
    first = outer[0]
    slot = lxml.html.fromstring("<span>x</span>")
    first.addprevious(slot)
    for element in outer:
        element.drop_tree()  # its tail text stays
    _blank_gold_text(root, gold_norm)
    # The page's summary is the old article's, and extractors may take it as a standfirst: each rendering
    # gets its own body's first sentence there, as a real page would.
    summaries = set()
    for meta in root.iter("meta"):
        if (meta.get("name") or meta.get("property") or "").lower() in DESCRIPTIONS:
            summaries.add(normalize_text(meta.get("content") or ""))
            meta.set("content", DESCRIPTION_SLOT)
    summaries.discard("")
    for element in root.iter(*BLOCK_TAGS):  # a visible standfirst repeating the summary
        if len(element) == 0 and normalize_text(element.text_content()) in summaries:
            element.text = DESCRIPTION_SLOT
    for script in root.iter("script"):
        if (script.get("type") or "").lower() == "application/ld+json" and script.text:
            script.text = _without_article_body(script.text)
    rendered = lxml.html.tostring(root, encoding="unicode", doctype="<!DOCTYPE html>")
    rendered = rendered.replace("<span>x</span>", SLOT, 1)
    if SLOT not in rendered:
        return None
    return Template(page_id, url or "https://example.com/%s" % page_id, rendered)


def _blank_gold_text(root: lxml.html.HtmlElement, gold_norm: str) -> None:
    """Blank the old article's text left outside whole elements (paragraphs split by <br> in one element), so
    that no template carries its own article into every rendering."""
    for element in root.iter():
        if element.tag in ("script", "style"):
            continue
        for attribute in ("text", "tail"):
            value = getattr(element, attribute)
            if not value or not isinstance(element.tag, str):
                continue
            norm = normalize_text(value)
            if len(norm) >= MIN_TEXT_NODE_CHARS and " %s " % norm in gold_norm:
                setattr(element, attribute, None)


def _without_article_body(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return re.sub(r'"articleBody"\s*:\s*"(?:[^"\\]|\\.)*"', '"articleBody": ""', text)

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {key: "" if key == "articleBody" else strip(item) for key, item in value.items()}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return json.dumps(strip(data))


def split_of(index: int) -> str:
    return "dev" if index % 2 == 0 else "heldout"


@dataclass
class SourceRun:
    """One template crawled as a source: per rendered page, the gold body and both extracted texts."""

    template: Template
    golds: list[str]
    plain: list[str | None]
    learned: list[str | None]
    model: TemplateModel


def ours(html: str, url: str) -> str | None:
    article = extract_article(html, url=url)
    return article.text if article is not None else None


def plain_trafilatura(html: str, url: str) -> str | None:
    """trafilatura's defaults, which leave more of a page's furniture in the body than ours."""
    return trafilatura.extract(html, url=url)


EXTRACTORS: dict[str, Callable[[str, str], str | None]] = {"aggregator": ours, "trafilatura": plain_trafilatura}


def paragraphs_of(body: str, max_words: int | None = None) -> list[str]:
    """The body's paragraphs; with `max_words`, only the first ones, up to that many words (a news brief)."""
    paragraphs = [line.strip() for line in body.splitlines() if line.strip()]
    if max_words is None:
        return paragraphs
    kept: list[str] = []
    for paragraph in paragraphs:
        if kept and sum(len(p.split()) for p in kept) + len(paragraph.split()) > max_words:
            break
        kept.append(paragraph)
    return kept


def crawl_source(template: Template, bodies: list[str], extract: Callable[[str, str], str | None]) -> SourceRun:
    """Render every body on the template and extract it, in order; the source's model learns from each
    page, then cleans it (as `pipelines.templates` does)."""
    model = TemplateModel()
    plain: list[str | None] = []
    learned: list[str | None] = []
    base = template.url.rstrip("/")
    for number, body in enumerate(bodies):
        url = "%s/story-%d" % (base, number)
        text = extract(template.render(paragraphs_of(body)), url)
        plain.append(text)
        if text is None:
            learned.append(None)
            continue
        model.learn(text, url)
        learned.append(clean(text, model))
    return SourceRun(template, bodies, plain, learned, model)


def scores(runs: list[SourceRun], which: str, skip: int = 0) -> list[PageScore]:
    return [score_page(gold, getattr(run, which)[i]) for run in runs for i, gold in enumerate(run.golds)
            if i >= skip]


def dedup_effect(runs: list[SourceRun], pool: list[str], extract: Callable[[str, str], str | None],
                 seed: int, max_words: int) -> dict[str, tuple[int, int]]:
    """Short copies (the first `max_words` words of a body) on two templates, each source's model as learned:
    {"plain"/"learned": (copies found as one story, pairs of different short bodies on one template taken for
    copies)}, through the real `StoryIndex`."""
    signer = Signer()
    rng = random.Random(seed)
    pairs = [(first, second, rng.sample(pool, 3)) for first, second in zip(runs, runs[1:] + runs[:1])]
    results = {}
    for which in ("plain", "learned"):
        found = false = 0
        for first, second, (body, other, third) in pairs:
            def text(run: SourceRun, body: str, page: str, learned: bool = which == "learned") -> str:
                extracted = extract(run.template.render(paragraphs_of(body, max_words)), run.template.url + page)
                return clean(extracted or "", run.model) if learned else extracted or ""

            index = StoryIndex()
            index.insert("copy", signer.fingerprint(text(first, body, "/copy")))
            found += index.match(signer.fingerprint(text(second, body, "/copy"))) is not None
            index = StoryIndex()
            index.insert("other", signer.fingerprint(text(first, other, "/other")))
            false += index.match(signer.fingerprint(text(first, third, "/third"))) is not None
        results[which] = (found, false)
    return results


def report(name: str, runs: list[SourceRun]) -> list[tuple[float, SourceRun]]:
    skip = runs[0].model.rules.min_seen - 1 if runs else 0
    print("\n%s (%d sources)%s %20s   %20s" % (name, len(runs), " " * (30 - len(name)), "without learning",
                                               "with learning"))
    print("%-44s %6s %6s %6s   %6s %6s %6s" % ("", "P", "R", "F1", "P", "R", "F1"))
    for label, start in (("every page", 0), ("pages after the first %d of a source" % skip, skip)):
        plain = precision_recall(scores(runs, "plain", start))
        learned = precision_recall(scores(runs, "learned", start))
        print("%-44s %6.3f %6.3f %6.3f   %6.3f %6.3f %6.3f"
              % (label, *plain, f1_score(*plain), *learned, f1_score(*learned)))
    per_source = [(f1_score(*precision_recall(scores([run], "learned"))) - f1_score(*precision_recall(
        scores([run], "plain"))), run) for run in runs]
    gains = [gain for gain, _ in per_source]
    if gains:
        print("per source F1 change: mean %+.3f, best %+.3f, worst %+.3f; sources better %d, worse %d"
              % (statistics.mean(gains), max(gains), min(gains), sum(g > 0.0005 for g in gains),
                 sum(g < -0.0005 for g in gains)))
    return per_source


def show(per_source: list[tuple[float, SourceRun]], count: int) -> None:
    """The last page of the `count` sources that gained most, its removed lines marked with -."""
    for gain, run in sorted(per_source, key=lambda item: -item[0])[:count]:
        print("\n%s %+.3f %s" % (run.template.page_id[:12], gain, run.model.summary()))
        kept = set((run.learned[-1] or "").splitlines())
        for line in (run.plain[-1] or "").splitlines():
            print("  %s %s" % (" " if line in kept else "-", line[:100]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=None)
    parser.add_argument("--split", choices=("dev", "heldout", "all"), default="heldout")
    parser.add_argument("--bodies", type=int, default=20, help="article bodies rendered per template")
    parser.add_argument("--extractor", choices=(*EXTRACTORS, "both"), default="both")
    parser.add_argument("--brief-words", type=int, default=80, help="length of the copies in the dedup part")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=0, metavar="K", help="print K sources' template lines")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or DEFAULT_DATA_DIR
    if not (data_dir / "ground-truth.json").is_file():
        print("Error: no ground-truth.json in %s" % data_dir, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # "discarding data" on pages it finds empty
    pages = load_pages(data_dir)
    chosen = [page for index, page in enumerate(pages) if args.split == "all" or split_of(index) == args.split]
    templates = [t for t in (cut_template(*page) for page in chosen) if t is not None]
    golds = [gold for _p, _h, _u, gold in pages if gold.strip()]
    print("%s split: %d of %d pages made templates; %d bodies rendered on each (from the other pages' gold)"
          % (args.split, len(templates), len(chosen), args.bodies))
    names = list(EXTRACTORS) if args.extractor == "both" else [args.extractor]
    for name in names:
        started = time.perf_counter()
        rng = random.Random(args.seed)
        runs = []
        for template in templates:
            pool = [gold for page_id, _html, _url, gold in pages if page_id != template.page_id and gold.strip()]
            runs.append(crawl_source(template, rng.sample(pool, min(args.bodies, len(pool))), EXTRACTORS[name]))
        per_source = report(name, runs)
        effect = dedup_effect(runs, golds, EXTRACTORS[name], args.seed, args.brief_words)
        for which, (found, false) in effect.items():
            print("dedup, %s: copies of a %d-word brief on two templates found %d/%d; different briefs on one"
                  " template merged %d/%d" % ("with learning" if which == "learned" else "without learning",
                                              args.brief_words, found, len(runs), false, len(runs)))
        print("(%.0f s)" % (time.perf_counter() - started))
        show(per_source, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
