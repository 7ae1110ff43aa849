"""The extractor's public name, `aggregator.extraction.extract_article(html, url=..., hints=...)`, kept stable for
scorers and users outside the project (the real-world benchmark's `evaluate.py` imports it). Nothing inside the
aggregator imports this module: its own code uses `aggregator.extract.extractor`."""

from __future__ import annotations

from aggregator.extract.extractor import extract_article
from aggregator.items import Article

__all__ = ["Article", "extract_article"]
