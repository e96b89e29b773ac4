"""Output test fixtures: real Redis under a key prefix of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.fixtures_services import delete_redis_prefix, redis_prefix, redis_url


@pytest.fixture
def prefix() -> str:
    """A key/channel prefix no other test or user shares (instead of ``md``)."""
    return redis_prefix()


@pytest.fixture
async def redis_client(prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A client on REDIS_URL; the test's keys are deleted afterwards."""
    client = aioredis.Redis.from_url(redis_url())
    try:
        yield client
    finally:
        await delete_redis_prefix(client, prefix)
        await client.aclose()
