"""Redis clients come from the whole URL (user, password, database, TLS), and waiting for the distributed dedup
lock never blocks the event loop; against the real test Redis server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from aggregator.dedup.stores import open_band_store
from aggregator.redis_client import redis_client, redis_params
from pipelines.resources import DECISION_LOCK, DecisionGate

REDIS = os.environ.get("AGGREGATOR_TEST_REDIS")
needs_redis = pytest.mark.skipif(not REDIS, reason="needs AGGREGATOR_TEST_REDIS (scripts/services.sh)")


@pytest.fixture()
def redis_user() -> Iterator[tuple[str, str]]:
    """A Redis ACL user with a password of its own on the test server; removed afterwards."""
    assert REDIS is not None
    admin = redis.Redis.from_url(REDIS)
    name, password = "agg-%s" % uuid.uuid4().hex[:8], uuid.uuid4().hex
    admin.acl_setuser(name, enabled=True, passwords=["+" + password], keys=["*"], channels=["*"],
                      commands=["+@all"])
    try:
        yield name, password
    finally:
        admin.acl_deluser(name)
        admin.close()


def _url_for(user: str, password: str, db: int) -> str:
    assert REDIS is not None
    parts = urlsplit(REDIS)
    return "redis://%s:%s@%s:%d/%d" % (user, password, parts.hostname, parts.port or 6379, db)


@needs_redis
def test_a_client_authenticates_as_the_user_and_database_of_its_url(redis_user: tuple[str, str]) -> None:
    user, password = redis_user
    client = redis_client(_url_for(user, password, 2))
    try:
        assert client.acl_whoami() == user
        assert client.connection_pool.connection_kwargs["db"] == 2
    finally:
        client.close()
    wrong = redis_client(_url_for(user, "not-" + password, 2))
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    wrong.close()


@needs_redis
def test_the_dedup_band_store_keeps_the_password_and_database(redis_user: tuple[str, str]) -> None:
    user, password = redis_user
    prefix = "test:%s" % uuid.uuid4().hex[:8]
    store = open_band_store({"type": "redis", "redis": redis_params(_url_for(user, password, 3)),
                             "prefix": prefix}, bands=4)
    try:
        assert store.client.acl_whoami() == user  # type: ignore[attr-defined]
        store.insert("story-1", b"fingerprint", [11, 12, 13, 14], None)
        assert [c.story_id for c in store.query([11, 99, 98, 97])] == ["story-1"]
        admin = redis.Redis.from_url(_url_for(user, password, 3))
        assert admin.exists("%s:story:story-1" % prefix)
        admin.close()
    finally:
        store.remove("story-1", [])
        store.close()
    url_store = open_band_store(_url_for(user, password, 3), bands=4)
    assert url_store.client.acl_whoami() == user  # type: ignore[attr-defined]
    url_store.close()


def test_rediss_urls_speak_tls_and_other_schemes_are_refused() -> None:
    client = redis_client("rediss://someone:secret@cache.example:6380/1")
    assert client.connection_pool.connection_class is redis.SSLConnection
    assert client.connection_pool.connection_kwargs["password"] == "secret"
    with pytest.raises(ValueError, match="not a Redis URL: 'mysql://"):
        redis_client("mysql://localhost/db")
    with pytest.raises(ValueError, match="unsupported dedup index URL"):
        open_band_store("mysql://localhost/db", bands=4)


@needs_redis
def test_waiting_for_the_distributed_lock_leaves_the_event_loop_running() -> None:
    """Another worker holds the dedup lock for 1.5 s: our gate waits for it in a thread while the loop (the
    crawl's downloads) goes on, then gets it."""
    assert REDIS is not None
    holder, ours = redis.Redis.from_url(REDIS), redis.Redis.from_url(REDIS)
    name = "%s:test:%s" % (DECISION_LOCK, uuid.uuid4().hex[:8])
    assert holder.lock(name, timeout=1.5).acquire(blocking=False)
    gate = DecisionGate(ours.lock(name, timeout=30, blocking_timeout=10, thread_local=False))

    async def scenario() -> tuple[int, float]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        started = asyncio.get_running_loop().time()
        await gate.acquire()
        waited = asyncio.get_running_loop().time() - started
        stop.set()
        await task
        await gate.release()
        return ticks, waited

    ticks, waited = asyncio.run(scenario())
    assert waited >= 1.0  # it did wait for the other worker's lock to expire
    assert ticks >= 50  # and the loop ticked all along (a blocking wait would leave it at 1)
    assert not ours.exists(name)  # released
    holder.close()
    ours.close()
