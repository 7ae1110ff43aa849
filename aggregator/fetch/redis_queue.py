"""Distributed crawling on Redis: a shared request queue whose requests are leased, not just popped.

scrapy-redis gives the shared queue and seen-request filter; its queues pop a request for good, so a
worker that dies loses what it had in flight. `LeasedPriorityQueue` pops a request into a lease
(atomically, in Redis) that is given back only when the request is done: its item stored or dropped,
its callback finished without items, or its errback run. A live worker renews its leases (a heartbeat);
leases of dead workers expire and their requests go back to the queue for the others (any worker
requeues expired leases when idle).
`RedisCrawlControl` keeps a worker open while the crawl is still going somewhere, and acks leases.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy_redis.queue import PriorityQueue
from twisted.internet import task

from aggregator.redis_client import redis_client

logger = logging.getLogger(__name__)

request_done = object()  # signal: (request) finished on this worker, whatever the outcome

# KEYS: queue, leases (zset lease id -> deadline), payloads (hash lease id -> data); ARGV: now + lease seconds
_POP = """
local top = redis.call('ZRANGE', KEYS[1], 0, 0)
if #top == 0 then return nil end
redis.call('ZREM', KEYS[1], top[1])
local id = redis.sha1hex(top[1])
redis.call('ZADD', KEYS[2], ARGV[1], id)
redis.call('HSET', KEYS[3], id, top[1])
return top[1]
"""
# KEYS: queue, leases, payloads; ARGV: now. Expired leases go back to the queue (priority kept in data).
_REQUEUE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(expired) do
  local data = redis.call('HGET', KEYS[3], id)
  if data then redis.call('ZADD', KEYS[1], ARGV[2], data) end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
return #expired
"""


class LeasedPriorityQueue(PriorityQueue):
    """scrapy-redis's priority queue, with leases (`SCHEDULER_QUEUE_CLASS`)."""

    lease_seconds = 120.0

    def __init__(self, server: Any, spider: Any, key: str, serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer)
        self.leases_key = self.key + ":leases"
        self.payloads_key = self.key + ":payloads"
        settings = getattr(getattr(spider, "crawler", None), "settings", None)
        if settings is not None:
            self.lease_seconds = settings.getfloat("AGGREGATOR_REDIS_LEASE_SECONDS", self.lease_seconds)
        self.held: set[str] = set()  # leases this worker holds: renewed while it lives
        self._pop = server.register_script(_POP)
        self._requeue = server.register_script(_REQUEUE)
        spider.crawler.signals.connect(self.ack, signal=request_done)
        spider.crawler.signals.connect(self._item_done, signal=signals.item_scraped)
        spider.crawler.signals.connect(self._item_done, signal=signals.item_dropped)
        spider.crawler.signals.connect(self._item_done, signal=signals.item_error)

    def push(self, request: Request) -> None:
        """Queue a request. One made from a leased request (a retry, a redirect) carries its parent's lease
        in its meta: the parent's work now lives on in the queue, so that lease ends once this is queued
        (otherwise it would be renewed forever and no worker would ever see the crawl finish)."""
        parent = request.meta.pop("lease", None)
        super().push(request)
        if parent:
            self._release(parent)

    def pop(self, timeout: int = 0) -> Request | None:
        data = self._pop(keys=[self.key, self.leases_key, self.payloads_key],
                         args=[time.time() + self.lease_seconds])
        if not data:
            return None
        request = self._decode_request(data)
        lease = hashlib.sha1(data if isinstance(data, bytes) else data.encode()).hexdigest()
        request.meta["lease"] = lease
        self.held.add(lease)
        return request

    def ack(self, request: Request) -> None:
        lease = request.meta.get("lease")
        if lease:
            self._release(lease)

    def _release(self, lease: str) -> None:
        self.held.discard(lease)
        self.server.zrem(self.leases_key, lease)
        self.server.hdel(self.payloads_key, lease)

    def renew(self) -> None:
        """Push back the deadline of every lease this worker holds: only a dead worker's leases expire."""
        if self.held:
            deadline = time.time() + self.lease_seconds
            self.server.zadd(self.leases_key, {lease: deadline for lease in self.held}, xx=True)

    def _item_done(self, item: Any, response: Any = None, **kwargs: Any) -> None:
        if response is not None and response.request is not None:
            self.ack(response.request)

    def in_flight(self) -> int:
        return int(self.server.zcard(self.leases_key))

    def requeue_expired(self) -> int:
        """Give the requests of expired leases (dead workers) back to the queue."""
        count = int(self._requeue(keys=[self.key, self.leases_key, self.payloads_key], args=[time.time(), 0]))
        if count:
            logger.warning("Requeued %d requests whose worker stopped answering", count)
        return count

    def clear(self) -> None:
        self.server.delete(self.key, self.leases_key, self.payloads_key)


class RedisCrawlControl:
    """Ack leases of requests that yield no item, requeue expired leases, and keep a worker open while
    requests are queued or leased elsewhere; close after AGGREGATOR_REDIS_IDLE_SECONDS of a crawl
    with nothing queued or in flight anywhere (0: never, a long-running worker)."""

    def __init__(self, crawler: Any, idle_seconds: float) -> None:
        self.crawler = crawler
        self.idle_seconds = idle_seconds
        self.idle_since: float | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> RedisCrawlControl:
        if not crawler.settings.get("REDIS_URL"):
            raise NotConfigured  # not in distributed mode (an exception without a message is not logged)
        control = cls(crawler, crawler.settings.getfloat("AGGREGATOR_REDIS_IDLE_SECONDS", 10.0))
        crawler.signals.connect(control.on_idle, signal=signals.spider_idle)
        crawler.signals.connect(control.on_opened, signal=signals.spider_opened)
        crawler.signals.connect(control.on_closed, signal=signals.spider_closed)
        return control

    def on_opened(self) -> None:
        lease = self.crawler.settings.getfloat("AGGREGATOR_REDIS_LEASE_SECONDS", 120.0)
        self.heartbeat = task.LoopingCall(self.renew)
        self.heartbeat.start(max(lease / 4, 0.5), now=False)

    def on_closed(self) -> None:
        heartbeat = getattr(self, "heartbeat", None)
        if heartbeat is not None and heartbeat.running:
            heartbeat.stop()

    def renew(self) -> None:
        queue = self.queue()
        if queue is not None:
            queue.renew()

    def queue(self) -> LeasedPriorityQueue | None:
        scheduler = getattr(getattr(self.crawler.engine, "_slot", None), "scheduler", None)
        queue = getattr(scheduler, "queue", None)
        return queue if isinstance(queue, LeasedPriorityQueue) else None

    def on_idle(self) -> None:
        queue = self.queue()
        if queue is None:
            return
        queue.requeue_expired()
        if len(queue) or queue.in_flight():
            self.idle_since = None
            raise DontCloseSpider  # the crawl goes on elsewhere, or our queue will refill
        now = time.monotonic()
        self.idle_since = self.idle_since or now
        if self.idle_seconds <= 0 or now - self.idle_since < self.idle_seconds:
            raise DontCloseSpider
        logger.info("Nothing queued or in flight for %.0f s: this worker stops", now - self.idle_since)


class LeaseAckMiddleware:
    """Spider middleware: a response whose callback yielded no item is done when its output is."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> LeaseAckMiddleware:
        if not crawler.settings.get("REDIS_URL"):
            raise NotConfigured  # not in distributed mode (an exception without a message is not logged)
        return cls(crawler)

    async def process_spider_output_async(self, response: Any, result: Any) -> Any:
        produced_item = False
        async for output in result:
            produced_item = produced_item or not isinstance(output, Request)
            yield output
        self._done(response, produced_item)

    def process_spider_output(self, response: Any, result: Any) -> Any:
        produced_item = False
        for output in result:
            produced_item = produced_item or not isinstance(output, Request)
            yield output
        self._done(response, produced_item)

    def _done(self, response: Any, produced_item: bool) -> None:
        """An item's lease ends when the item does (item signals); other responses end here."""
        if not produced_item and response.request is not None:
            self.crawler.signals.send_catch_log(request_done, request=response.request)


def start_distributed_run(redis_url: str, spider_name: str = "news") -> None:
    """A new crawl run: forget which requests the last run saw (feeds must be read again); requests
    still queued or leased are kept."""
    client = redis_client(redis_url)
    try:
        client.delete("aggregator:%s:dupefilter" % spider_name)
    finally:
        client.close()
