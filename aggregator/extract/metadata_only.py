"""Metadata-only articles: pages that declare themselves articles (og:type article, JSON-LD NewsArticle) and
carry a story's metadata but no readable body, such as a video story. Owns the rule that keeps one (a title
plus a publication date or a description) and the text it is fingerprinted on; plain data, so the crawler
process imports it without the extractor. Must not know sites, settings or storage.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from aggregator.items import Article

logger = logging.getLogger(__name__)

__all__ = ["Extraction", "as_metadata_only", "keeps_metadata", "metadata_text"]


@dataclass(frozen=True)
class Extraction:
    """What the extractor read from one page: the article (None: no body and no article declared) and whether
    the page declares itself an article."""

    article: Article | None
    declares_article: bool = False


def keeps_metadata(article: Article, declares_article: bool) -> bool:
    """Whether `article`, read from a page that does (or does not) declare itself an article, is a story
    without its body: a declared article with a title and a publication date or a description. A tag page, a
    404 page or a login wall declares no article, or lacks the rest."""
    return declares_article and bool(article.title) and bool(article.date_published or article.description)


def metadata_text(article: Article) -> str:
    """The text a metadata-only article is fingerprinted on: its title and description on one line, so that
    neither is taken for a headline line or a reprinted passage on its own: a description that several
    stories of one outlet share only counts beside each story's own title."""
    return " ".join(part.strip() for part in (article.title, article.description) if part and part.strip())


def as_metadata_only(article: Article) -> Article:
    """`article` without the stub of a body it had (a caption, a "watch the video" line): readers get its
    description in place of a text."""
    return article if not article.text else dataclasses.replace(article, text="")
