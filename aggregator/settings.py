"""Scrapy settings for the aggregator, and every AGGREGATOR_* setting with its default (one line each).

`scrapy.cfg` points Scrapy here, so `scrapy crawl news` and `aggregator crawl` run with the same values.
Environment variables of the same name override some of them (`aggregator.ops.crawl.ENV_SETTINGS`).
"""

from __future__ import annotations

BOT_NAME = "news-aggregator"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

# --- our settings -------------------------------------------------------------------------------
AGGREGATOR_DB = "aggregator.db"  # SQLite file path (or sqlite:///path) where stories are stored
AGGREGATOR_SOURCES = ""  # registry TOML file; empty = the registry shipped in the package
AGGREGATOR_CRAWL_SOURCES = ""  # comma-separated source ids to crawl; empty or "all" = every source
AGGREGATOR_REFRESH = False  # re-fetch stored articles and ignore feed/sitemap/listing validators
AGGREGATOR_DEDUP_THRESHOLD = ""  # MinHashLSH Jaccard threshold picking bands x rows; "" = the tuned 64 x 4 layout
AGGREGATOR_DEDUP_INDEX = ""  # where the dedup index lives: "" = beside the stories (SQLite), Redis when distributed
AGGREGATOR_DEDUP_WINDOW_DAYS = 0  # compare new items only with stories seen in the last N days (0 = all)
AGGREGATOR_DEDUP_NUM_PERM = 256  # MinHash permutations per signature
AGGREGATOR_WORKERS = -1  # extraction worker processes; -1 = one per core, 0 = extract in the crawler itself
AGGREGATOR_STORE_BATCH_SIZE = 100  # SQLite: items saved per transaction (1 = commit every item)
AGGREGATOR_STORE_BATCH_SECONDS = 1.0  # SQLite: a batch commits once this old, however few items it holds
AGGREGATOR_MIN_TEXT_CHARS = 200  # shorter bodies are "no article", not stored (a declared article with metadata is)
AGGREGATOR_TEMPLATES = True  # learn each source's page template and remove its lines from new bodies
AGGREGATOR_TEMPLATE_MIN_PAGES = 3  # a line is template once seen on this many of a source's pages (and 10 %)
AGGREGATOR_TEMPLATE_MIN_SEEN = 5  # pages of a source learned before any template line is removed
AGGREGATOR_TEMPLATE_SAVE_EVERY = 200  # learned pages between saves of the changed templates (and at the end)
AGGREGATOR_SCHEDULE_EVERY = "1h"  # `aggregator schedule`: interval or cron expression for sources without `every`
AGGREGATOR_CONTACT_URL = "https://github.com/news-aggregator"  # shown in the User-Agent
AGGREGATOR_RECORD_RUN = True  # record `scrapy crawl` runs in the run history (the aggregator commands record their own)
AGGREGATOR_SSRF_GUARD = True  # refuse discovered links into private networks (hosts the registry names are trusted)
AGGREGATOR_RETRY_AFTER_MAX = 60.0  # a 429/503's Retry-After pauses its host this long at most (0 = ignore Retry-After)
AGGREGATOR_VALIDATOR_STORE = "pipelines.resources.validator_store"  # factory(crawler) of validators; "" = no 304s

# --- Scrapy -------------------------------------------------------------------------------------
USER_AGENT = "news-aggregator/0.1 (+%s)" % AGGREGATOR_CONTACT_URL
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # bodies over 10 MB (also after decompression) are dropped
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
# Scrapy starts this many tasks for *every* callback's output; ours yield one item or a list of requests,
# and 100 (the default) costs ~100 asyncio tasks per article page.
CONCURRENT_ITEMS = 8
# Scrapy's consoles run Python sent to them inside the crawler: off unless asked for (`--set NAME=true`).
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # Scrapy >= 2.19's HTTP /execute server, on by default there
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

DOWNLOAD_HANDLERS = {"file": None, "s3": None, "ftp": None, "data": None}  # only http(s) is ever fetched
DOWNLOADER_MIDDLEWARES = {
    "aggregator.fetch.ssrf.SSRFGuardMiddleware": 50,  # before robots.txt (100): no request at all
    # Scrapy's, without decoding every page in the reactor to look for a refresh
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "aggregator.fetch.metarefresh.MetaRefreshMiddleware": 580,
    # After robots.txt (100): no validator lookup for a request it drops. Before retry (550), redirects (580,
    # 600) and the HTTP cache (900): it sees only the response the callback gets (the cache turns a revalidated
    # 304 into its cached 200), and each retry or redirect hop comes back through it with its own URL.
    "aggregator.fetch.conditional.ConditionalGetMiddleware": 540,
    # Before retry (550) on the way back: a 429/503's Retry-After pauses its host before the retry is queued.
    "aggregator.fetch.retryafter.RetryAfterMiddleware": 560,
}

# Distributed mode (`--redis URL`, see aggregator/fetch/redis_queue.py); its components switch off without REDIS_URL.
AGGREGATOR_REDIS_SEED = False  # this crawl puts the sources' start requests into the shared queue
AGGREGATOR_REDIS_LEASE_SECONDS = 120.0  # a request leased by a worker that stops answering goes back after this
AGGREGATOR_REDIS_IDLE_SECONDS = 10.0  # a worker stops after this long with nothing queued or in flight (0: never)
EXTENSIONS = {
    "pipelines.resources.CrawlResources": 0,  # the crawl-wide storage, extraction pool and dedup index
    "aggregator.fetch.redis_queue.RedisCrawlControl": 500,
    "aggregator.ops.run_history.RunHistory": 600,  # `scrapy crawl` runs in the run history (see AGGREGATOR_RECORD_RUN)
}
SPIDER_MIDDLEWARES = {"aggregator.fetch.redis_queue.LeaseAckMiddleware": 950}

ITEM_PIPELINES = {
    "pipelines.extract.ExtractPipeline": 100,
    "pipelines.templates.TemplatePipeline": 150,  # off with AGGREGATOR_TEMPLATES = False
    "pipelines.canonicalize.CanonicalizePipeline": 200,
    "pipelines.dedup.DedupPipeline": 300,
    "pipelines.store.StorePipeline": 400,
}
