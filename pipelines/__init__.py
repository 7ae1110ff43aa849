"""Scrapy item pipelines of the aggregator, in order: extract, canonicalize, dedup, store; and the crawl-wide
resources they share with the spider (`pipelines.resources.CrawlResources`, a Scrapy extension)."""
