"""Scrapy spiders of the aggregator (`scrapy list` shows them)."""
