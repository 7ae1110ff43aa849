"""Scrapy item pipelines of the aggregator, in order: extract, canonicalize, dedup, store."""
