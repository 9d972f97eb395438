"""The coordinator across pods: Redis (``redis.asyncio``).

Keys, all under one prefix (``mm`` by default)::

    <prefix>:token              INCR counter: every lease gets the next fencing token
    <prefix>:lease:<id>         the lease: {"token", "node", "url"}, SET NX PX <ttl>
    <prefix>:fill:<id>          the leader's FillRecord (temp file, bytes written, upstream metadata);
                                outlives the lease so a successor can adopt the partial temp file
    <prefix>:ev:<id>            pub-sub channel of the key's FillEvents
    <prefix>:mem:<digest hex>   hash node id -> advertise URL of pods holding the blob in memory
    <prefix>:node:<node id>     the node's status summary (JSON), SET PX: expires with the node
    <prefix>:use:<node id>      set of blob digests the node is reading now (eviction skips them), PX

``<id>`` is ``key_id(key)``. Redis is never the source of truth: losing every key costs some
coalescing, never data. While Redis cannot be reached, calls fail fast with
CoordinationUnavailable and are retried with exponential backoff (0.25 s up to 5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from proxy.cluster.events import EventHub, Subscription
from proxy.cluster.port import Coordinator, FillEvent, FillRecord, Lease, LeaseState, Node, key_id
from proxy.digest import Digest
from proxy.errors import CoordinationUnavailable
from proxy.tasks import OwnedTasks

log = logging.getLogger(__name__)
T = TypeVar("T")

RECORD_TTL = 3600.0
"""Seconds a fill record outlives its last renewal (a successor may adopt its temp file)."""

# KEYS[1] lease key, KEYS[2] fill record key
# ARGV[1] fencing token, ARGV[2] lease ttl (ms), ARGV[3] record JSON or "", ARGV[4] record ttl (ms)
# Extends the lease and stores the record only while ARGV[1] is the lease's current token.
_RENEW = """
local v = redis.call('GET', KEYS[1])
if not v or cjson.decode(v)['token'] ~= tonumber(ARGV[1]) then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
return 1
"""

# KEYS[1] lease key, KEYS[2] fill record key
# ARGV[1] fencing token, ARGV[2] "1" to keep the fill record (a handover), "0" to delete it
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if not v or cjson.decode(v)['token'] ~= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == '0' then redis.call('DEL', KEYS[2]) end
return 1
"""


class RedisCoordinator:
    shared = True

    def __init__(self, url: str, node: Node, prefix: str = "mm") -> None:
        self.node = node
        self._prefix = prefix
        options: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": 1.0,
                                   "retry": Retry(NoBackoff(), 0)}
        self._client = aioredis.Redis.from_url(url, socket_timeout=2.0, **options)
        self._listen_client = aioredis.Redis.from_url(url, socket_timeout=None, **options)
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)
        self._hub = EventHub()
        self._tasks = OwnedTasks("redis coordinator")
        self._down_until = 0.0
        self._backoff = 0.0

    # -- connection health --------------------------------------------------------------------

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call; while Redis is known to be down, fail fast until the next retry."""
        if time.monotonic() < self._down_until:
            raise CoordinationUnavailable("redis is down (waiting to retry)")
        try:
            result = await fn()
        except (RedisError, OSError) as exc:
            self._backoff = min(5.0, self._backoff * 2 or 0.25)
            self._down_until = time.monotonic() + self._backoff
            log.warning("redis unavailable", extra={"error": repr(exc), "retry_in": self._backoff})
            raise CoordinationUnavailable(str(exc)) from exc
        if self._backoff:
            log.info("redis reachable again")
        self._backoff = 0.0
        self._down_until = 0.0
        return result

    async def check(self) -> bool:
        """Ping Redis now, even inside a backoff window; a success ends the window."""
        self._down_until = 0.0
        try:
            await self._call(self._client.ping)
        except CoordinationUnavailable:
            return False
        return True

    def _k(self, kind: str, name: str) -> str:
        return f"{self._prefix}:{kind}:{name}"

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.start(self._listen(), name="redis events")

    async def close(self) -> None:
        await self._tasks.close()
        await self._client.aclose()
        await self._listen_client.aclose()

    async def _listen(self) -> None:
        """Deliver every fill event to local subscribers; reconnect with backoff when Redis goes."""
        pattern = self._k("ev", "*")
        backoff = 0.25
        while True:
            pubsub = self._listen_client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(pattern)
                backoff = 0.25
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._deliver(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                log.warning("redis event listener disconnected", extra={"error": repr(exc), "retry_in": backoff})
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(backoff)
            backoff = min(5.0, backoff * 2)

    def _deliver(self, channel: str, data: str) -> None:
        try:
            event = FillEvent.decode(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed fill event", extra={"channel": channel})
            return
        self._hub.deliver(channel.rsplit(":", 1)[-1], event)

    # -- leases -------------------------------------------------------------------------------

    async def try_lead(self, key: str, ttl: float) -> Lease | None:
        async def acquire() -> Lease | None:
            lease_key = self._k("lease", key_id(key))
            if await self._client.exists(lease_key):
                return None
            token = int(await self._client.incr(self._k("token", "counter")))
            value = json.dumps({"token": token, "node": self.node.node_id, "url": self.node.url})
            if not await self._client.set(lease_key, value, nx=True, px=int(ttl * 1000)):
                return None
            return Lease(key, token, self.node, ttl)

        return await self._call(acquire)

    async def renew(self, lease: Lease, record: FillRecord | None = None) -> bool:
        kid = key_id(lease.key)
        body = json.dumps(record.to_json(), separators=(",", ":")) if record is not None else ""
        args: list[str | int] = [lease.token, int(lease.ttl * 1000), body, int(RECORD_TTL * 1000)]
        result = await self._call(lambda: self._renew(keys=[self._k("lease", kid), self._k("fill", kid)], args=args))
        return bool(result)

    async def release(self, lease: Lease, *, keep_record: bool) -> None:
        kid = key_id(lease.key)
        args: list[str | int] = [lease.token, "1" if keep_record else "0"]
        await self._call(lambda: self._release(keys=[self._k("lease", kid), self._k("fill", kid)], args=args))

    async def state(self, key: str) -> LeaseState:
        kid = key_id(key)
        lease, record = await self._call(lambda: self._client.mget([self._k("lease", kid), self._k("fill", kid)]))
        return LeaseState(lease is not None, FillRecord.from_json(json.loads(record)) if record else None)

    # -- events -------------------------------------------------------------------------------

    async def publish(self, key: str, event: FillEvent) -> None:
        await self._call(lambda: self._client.publish(self._k("ev", key_id(key)), event.encode()))

    def subscribe(self, key: str) -> Subscription:
        return self._hub.subscribe(key_id(key))

    # -- memory tier registry -----------------------------------------------------------------

    async def hold(self, digest: Digest, ttl: float) -> None:
        name = self._k("mem", digest.hex)

        async def put() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(name, self.node.node_id, self.node.url)
                pipe.pexpire(name, int(ttl * 1000))
                await pipe.execute()

        await self._call(put)

    async def drop(self, digest: Digest) -> None:
        await self._call(lambda: self._client.hdel(self._k("mem", digest.hex), self.node.node_id))

    async def holders(self, digest: Digest) -> list[Node]:
        found = await self._call(lambda: self._client.hgetall(self._k("mem", digest.hex)))
        # not this node, nor another worker of its port (``--workers``): a hop would land on any of them
        nodes = [Node(str(n), str(u)) for n, u in found.items() if n != self.node.node_id and u != self.node.url]
        return sorted(nodes, key=lambda n: n.node_id)

    # -- blobs in use (eviction) ---------------------------------------------------------------

    async def announce_in_use(self, digests: set[Digest], ttl: float) -> None:
        name = self._k("use", self.node.node_id)

        async def put() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(name)
                if digests:
                    pipe.sadd(name, *sorted(d.hex for d in digests))
                    pipe.pexpire(name, int(ttl * 1000))
                await pipe.execute()

        await self._call(put)

    async def in_use_elsewhere(self) -> set[Digest]:
        async def union() -> set[str]:
            mine = self._k("use", self.node.node_id)
            names = [str(n) async for n in self._client.scan_iter(match=self._k("use", "*"), count=100)]
            names = [n for n in names if n != mine]
            return {str(m) for m in await self._client.sunion(names)} if names else set()

        found: set[Digest] = set()
        for text in await self._call(union):
            with contextlib.suppress(ValueError):
                found.add(Digest.parse(text))
        return found

    # -- member list --------------------------------------------------------------------------

    async def announce(self, summary: dict[str, Any], ttl: float) -> None:
        text = json.dumps(summary, separators=(",", ":"))
        await self._call(lambda: self._client.set(self._k("node", self.node.node_id), text, px=int(ttl * 1000)))

    async def members(self) -> list[dict[str, Any]]:
        async def scan() -> list[str]:
            names = [str(name) async for name in self._client.scan_iter(match=self._k("node", "*"), count=100)]
            mine = self._k("node", self.node.node_id)
            names = sorted(n for n in names if n != mine)
            return [str(v) for v in await self._client.mget(names) if v is not None] if names else []

        found: list[dict[str, Any]] = []
        for text in await self._call(scan):
            with contextlib.suppress(ValueError):
                found.append(json.loads(text))
        return found


if TYPE_CHECKING:
    _: type[Coordinator] = RedisCoordinator
